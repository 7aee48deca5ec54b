"""Latency of every endpoint through gradio_client against a running `python app.py`, beside the
app's trivial `/ping` endpoint in the same run (calls interleaved, so load noise hits all alike).

    .venv/bin/python benchmarks/latency.py [--calls 40]

Three clients: "answer" is the round trip until the answer arrives (download_files=False: image
outputs come back as URLs, which a browser then fetches in parallel); "answer + files" also
downloads every output image one after another, as gradio_client does by default. Both pass
ssl_verify=False, which changes nothing on this plain-HTTP local server except the client's own
cost: gradio_client opens a fresh httpx client for every call and every file upload, and each one
loads the CA bundle into a new TLS context (about 40-50 ms of client CPU here, so an endpoint with
a file paid it twice). A browser keeps its connections instead. The "default client" column is
gradio_client with its defaults, for comparison.
Target: p50 of every endpoint's answer <= 1.3x the p50 of /ping on the CPU.
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
    out["neurons_view"] = (("cluster_ae", "matched", "counts"), "/neurons_view")
    out["neurons_cell"] = (("cluster_ae", 3, 0), "/neurons_cell")
    out["neurons_drawing"] = (("cluster_ae", drawing), "/neurons_drawing")
    out["neurons_upload"] = (("cluster_ae", handle_file(str(upload))), "/neurons_upload")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=40)
    n = p.parse_args().calls
    port = free_port()
    proc = start(["app.py"], port)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        url = f"http://127.0.0.1:{port}/"
        clients = {"answer": Client(url, verbose=False, download_files=False, ssl_verify=False),
                   "files": Client(url, verbose=False, ssl_verify=False),
                   "default": Client(url, verbose=False, download_files=False)}
        with tempfile.TemporaryDirectory() as tmp:
            todo = calls(Path(tmp))
            times = {(k, c): [] for k in todo for c in clients}
            for k, (args, api) in todo.items():  # warm-up: first-call costs are not latency
                for client in clients.values():
                    for _ in range(3):
                        client.predict(*args, api_name=api)
            for _ in range(n):
                for k, (args, api) in todo.items():
                    for c, client in clients.items():
                        t0 = time.perf_counter()
                        client.predict(*args, api_name=api)
                        times[k, c].append(1000 * (time.perf_counter() - t0))
    finally:
        stop(proc)
    base = percentile(times["ping (trivial)", "answer"], 50)
    base_default = percentile(times["ping (trivial)", "default"], 50)
    rows = []
    for k in todo:
        a, f, d = times[k, "answer"], times[k, "files"], times[k, "default"]
        rows.append([k, percentile(a, 50), percentile(a, 95), percentile(a, 50) / base, percentile(f, 50), percentile(f, 95),
                     percentile(d, 50), percentile(d, 50) / base_default])
    print(table(["endpoint", "answer p50 ms", "answer p95 ms", "p50 / ping p50", "answer + files p50 ms",
                 "answer + files p95 ms", "default client p50 ms", "default client ratio"], rows))
    worst = max(r[3] for r in rows)
    print(f"\n{n} calls per endpoint and client; worst answer p50 ratio {worst:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
