"""Regenerate the benchmark tables in docs/benchmarks.md: run each benchmark script with the flags
below and put what it prints, from its table on, between that benchmark's markers
(<!-- bench:NAME:start --> ... <!-- bench:NAME:end -->), with the command, the date and the machine.
Prose outside the markers is left alone; the file is written after each benchmark.

    .venv/bin/python benchmarks/report.py              # every benchmark, in the order below
    .venv/bin/python benchmarks/report.py latency load # only these
    .venv/bin/python benchmarks/report.py --check      # every marker pair is in docs/benchmarks.md
"""

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time

import torch
from common import ENV, ROOT

DOC = ROOT / "docs" / "benchmarks.md"
BENCHMARKS = {  # name -> flags; the fast ones first
    "throughput": [],
    "vae_decoder": [],
    "pca_baseline": [],
    "training_speed": [],
    "startup": ["--runs", "5"],
    "server_time": ["--calls", "20"],
    "latency": ["--calls", "30"],
    "load": ["--clients", "16", "--requests", "50"],
    "handwriting": [],
    "explorer_browser": [],
    "soak": ["--clients", "16", "--minutes", "30"],
}
SCRIPTS = {"soak": "load"}  # a table whose script is another's, run with other flags


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def run(name: str) -> str:
    """Run one benchmark; its output from the first table line on, under a line naming the run."""
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else "python"
    cmd = [python, f"benchmarks/{SCRIPTS.get(name, name)}.py", *BENCHMARKS[name]]
    load = os.getloadavg()[0]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    lines = proc.stdout.splitlines()
    table = [i for i, line in enumerate(lines) if line.startswith("|")]
    if proc.returncode or not table:
        raise RuntimeError(f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, {gpu}; load average {load:.1f} at the start"
    )
    body = "\n".join(lines[table[0] :]).strip()
    return f"`{shlex.join(cmd)}` (started {when}; {machine}; took {seconds:.0f} s)\n\n{body}"


def splice(text: str, name: str, block: str) -> str:
    """Replace what lies between NAME's markers with block; the markers must be there once each."""
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SystemExit(f"{DOC.relative_to(ROOT)}: needs one {start} ... {end} pair")
    return text[: text.index(start) + len(start)] + "\n" + block + "\n" + text[text.index(end) :]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="name", help="any of: " + ", ".join(BENCHMARKS))
    p.add_argument("--check", action="store_true", help="only check that every marker pair is there")
    args = p.parse_args()
    if unknown := set(args.names) - set(BENCHMARKS):
        p.error(f"unknown benchmark {', '.join(sorted(unknown))}")
    text = DOC.read_text()
    for name in BENCHMARKS:
        splice(text, name, "")  # fails on a missing or doubled marker before anything runs
    if args.check:
        return print(f"{DOC.relative_to(ROOT)}: all {len(BENCHMARKS)} marker pairs present")
    failed = []
    for name in args.names or BENCHMARKS:
        print(f"{name} ...", flush=True)
        try:
            block = run(name)
        except RuntimeError as e:
            print(e, file=sys.stderr)
            failed.append(name)
            continue
        DOC.write_text(splice(DOC.read_text(), name, block))
        print(block.splitlines()[0], flush=True)
    if failed:
        sys.exit(f"failed: {' '.join(failed)} (rerun: benchmarks/report.py {' '.join(failed)})")


if __name__ == "__main__":
    main()
