"""Latency of every endpoint through gradio_client against a running `python app.py`, beside the
app's trivial `/ping` endpoint in the same run (calls interleaved, so load noise hits all alike).

    .venv/bin/python benchmarks/latency.py [--calls 40]

Target: p50 of every endpoint <= 1.3x the p50 of /ping on the CPU.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

from common import free_port, percentile, start, stop, table, wait_http


def calls(folder: Path) -> dict[str, tuple]:
    """(endpoint label) -> (args, api_name); inputs like a visitor's."""
    from training.data import load_mnist

    digit = load_mnist().test.images[0].numpy()
    upload = folder / "upload.png"
    Image.fromarray(255 - digit).resize((200, 200)).convert("RGB").save(upload)
    sketch = np.full((280, 280, 4), 255, np.uint8)
    sketch[np.asarray(Image.fromarray(digit).resize((280, 280))) > 100, :3] = 0
    Image.fromarray(sketch).save(folder / "sketch.png")
    drawing = {"background": None, "layers": [], "composite": handle_file(str(folder / "sketch.png"))}
    out = {"ping (trivial)": ((), "/ping"), "random_index": ((), "/random_index")}
    for d in ("translate", "rows_cols", "clamp", "fractional"):
        out[f"denoise_test_digit {d}"] = ((17, d, 14, 0.5, 0), "/denoise_test_digit")
    out["denoise_drawing"] = ((drawing, "clamp", 14, 0.5, 0), "/denoise_drawing")
    out["denoise_upload"] = ((handle_file(str(upload)), "clamp", 14, 0.5, 0), "/denoise_upload")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=40)
    n = p.parse_args().calls
    port = free_port()
    proc = start(["app.py"], port)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            todo = calls(Path(tmp))
            times = {k: [] for k in todo}
            for k, (args, api) in todo.items():  # warm-up: first-call costs are not latency
                for _ in range(3):
                    client.predict(*args, api_name=api)
            for _ in range(n):
                for k, (args, api) in todo.items():
                    t0 = time.perf_counter()
                    client.predict(*args, api_name=api)
                    times[k].append(1000 * (time.perf_counter() - t0))
    finally:
        stop(proc)
    base = percentile(times["ping (trivial)"], 50)
    rows = [[k, percentile(v, 50), percentile(v, 95), percentile(v, 50) / base] for k, v in times.items()]
    print(table(["endpoint", "p50 ms", "p95 ms", "p50 / ping p50"], rows))
    worst = max(r[3] for r in rows)
    print(f"\n{n} calls per endpoint; worst p50 ratio {worst:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
