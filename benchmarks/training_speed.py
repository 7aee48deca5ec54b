"""Training speed of every training command on this machine, and how long the committed denoiser
took to reach the reference network's accuracy.

    .venv/bin/python benchmarks/training_speed.py [--epochs 6]

Each command runs as `python -m training <model> --smoke --epochs N` (a 512-image subset, so each
"epoch" is a few full-size batches); samples per second is the median over epochs 2..N, as printed
by the trainer itself. Tiny smoke epochs understate a large network's rate (start-up costs weigh
more), so the table also gives the median over the committed checkpoint's own full run, from its
per-epoch header field `history` (those runs may have shared the cores with other work). The time
to the reference accuracy is read from the denoiser checkpoint's validation history.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ENV, ROOT, table

from training import registry
from training.checkpoint import read_metadata, stages

REFERENCE = {"acc_noisy": 97.52, "acc_recon": 96.77}  # the write-up's 2.06 M-parameter network, 25 epochs


def samples_per_s(model: str, epochs: int, folder: Path) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            model,
            "--smoke",
            "--epochs",
            str(epochs),
            "--device",
            "cpu",
            "--out",
            str(folder / f"{model}.safetensors"),
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [
        json.loads(line) for line in out.splitlines() if line.startswith("{") and '"samples_per_s"' in line
    ]
    return statistics.median(r["samples_per_s"] for r in rows[1:] or rows)


def full_run_samples_per_s(path: Path) -> str:
    """Median samples/s of the epochs of a checkpoint's last training stage, from its header."""
    if not path.exists():
        return "no checkpoint"
    meta = read_metadata(path)
    rates = [r["samples_per_s"] for r in json.loads(meta.get("history", "[]")) if "samples_per_s" in r]
    return f"{statistics.median(rates):,.0f} on {meta['device']}" if rates else "not in header"


def time_to_reference(path: Path) -> str:
    if not path.exists():
        return "no checkpoint"
    meta = read_metadata(path)
    history = json.loads(meta.get("history", "[]"))
    runs = stages(meta)
    offset = sum(r["wall_time_s"] for r in runs[:-1])  # a warm-started run inherits its ancestors' time
    for row in history:
        if all(row.get(k, 0) >= v for k, v in REFERENCE.items()):
            if "wall_time_s" in row:
                return f"{(offset + row['wall_time_s']) / 60:.0f} min (validation, epoch {row['epoch']})"
            return f"epoch {row['epoch']} (no per-epoch times in this header)"
    best = max(history, key=lambda r: r.get("acc_noisy", 0), default={})
    devices = " and ".join(sorted({r["device"] for r in runs}))
    return (
        f"not reached in {float(meta['wall_time_s']) / 60 + offset / 60:.0f} min (on {devices}); "
        f"best validation noisy {best.get('acc_noisy')} / recon {best.get('acc_recon')} % (last stage)"
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=6)
    epochs = p.parse_args().epochs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in registry.names():
            rows.append(
                [
                    f"python -m training {model}",
                    f"{samples_per_s(model, epochs, Path(tmp)):,.0f}",
                    full_run_samples_per_s(ROOT / "checkpoints" / f"{model}.safetensors"),
                ]
            )
    print(
        table(
            [
                "command (CPU)",
                "samples / s (smoke)",
                "samples / s (committed run, header: median epoch, device)",
            ],
            rows,
        )
    )
    print(
        f"\ndenoiser, time to the reference accuracy (noisy >= {REFERENCE['acc_noisy']}, reconstructed >= "
        f"{REFERENCE['acc_recon']} %): {time_to_reference(ROOT / 'checkpoints' / 'denoiser.safetensors')}"
    )


if __name__ == "__main__":
    main()
