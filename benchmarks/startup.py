"""Start-up time: process start to the first HTTP 200 of `python app.py`, against a bare
torch + gradio app with one button, alternated in the same run.

    .venv/bin/python benchmarks/startup.py [--runs 5]

Target: app / bare <= 1.3 (median over runs).
"""

import argparse
import statistics

from common import free_port, start, stop, table, wait_http


def time_start(args: list[str]) -> float:
    port = free_port()
    proc = start(args, port)
    try:
        return wait_http(f"http://127.0.0.1:{port}/", proc)
    finally:
        stop(proc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    runs = p.parse_args().runs
    times = {"bare": [], "app": []}
    time_start(["benchmarks/bare_app.py"])  # warm the OS file cache for both
    time_start(["app.py"])
    for _ in range(runs):
        times["bare"].append(time_start(["benchmarks/bare_app.py"]))
        times["app"].append(time_start(["app.py"]))
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [[k, med[k], min(v), max(v), runs] for k, v in times.items()]
    print(table(["server", "median s", "min s", "max s", "runs"], rows))
    print(f"\nratio app / bare (medians): {med['app'] / med['bare']:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
