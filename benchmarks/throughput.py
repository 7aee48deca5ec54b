"""Forward-pass throughput of every registered model at batch 1 and 256, on the CPU and (when
there is one) the GPU. Weights come from checkpoints/<model>.safetensors when it exists, else
the untrained model of the same architecture (speed does not depend on the weights), as the app
serves it (`training.models.for_serving`: BatchNorm folded into the convolutions, weights in
channels_last). The last columns time the same folded model in PyTorch's default (contiguous)
layout, measured in the same run, so the ratio says what channels_last buys on this machine.

    .venv/bin/python benchmarks/throughput.py [--seconds 2]

Target: batch-1 forward <= 5 ms on the CPU for the app's models.
"""

import argparse
import time

import torch
from common import ROOT, table

from training.checkpoint import load_checkpoint
from training.models import build_model, fold_batchnorm, for_serving
from training.registry import names


def bench(model, batch: int, device: torch.device, seconds: float) -> tuple[float, float]:
    """(ms per forward, images per second), median of timed windows after a warm-up."""
    x = torch.rand(batch, 1, 28, 28, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        sync()
        laps, t_end = [], time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(laps) < 5:
            t0 = time.perf_counter()
            model(x)
            sync()
            laps.append(time.perf_counter() - t0)
    ms = 1000 * sorted(laps)[len(laps) // 2]
    return ms, batch / ms * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per cell")
    seconds = p.parse_args().seconds
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for name in names():
        path = ROOT / "checkpoints" / f"{name}.safetensors"
        model = load_checkpoint(path) if path.exists() else build_model(name).eval()
        params = sum(p.numel() for p in model.parameters())  # as trained, before folding
        served, contiguous = for_serving(model), fold_batchnorm(model)
        for device in devices:
            served, contiguous = served.to(device), contiguous.to(device)
            for batch in (1, 256):
                ms, ips = bench(served, batch, device, seconds)
                ms_c, _ = bench(contiguous, batch, device, seconds)
                rows.append(
                    [
                        name,
                        "checkpoint" if path.exists() else "untrained",
                        params,
                        device.type,
                        batch,
                        ms,
                        f"{ips:,.0f}",
                        ms_c,
                        f"{ms / ms_c:.2f}",
                    ]
                )
    print(
        table(
            [
                "model",
                "weights",
                "parameters",
                "device",
                "batch",
                "ms / forward",
                "images / s",
                "ms, default layout",
                "served / default",
            ],
            rows,
        )
    )
    print(f"\nCPU threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
