"""Latency of every endpoint against a running `python app.py`, beside the app's trivial `/ping`
endpoint in the same run (calls interleaved, so load noise hits all alike).

    .venv/bin/python benchmarks/latency.py [--calls 40]

Four clients:
- "stream": the HTTP API used as a browser tab uses the queue: one kept-alive connection and one
  session for all calls, files uploaded to /gradio_api/upload, the call posted to
  /gradio_api/call/<name> and its server-sent events read as they arrive. This is the server's
  round trip with nothing added by the client. (Without a session of its own, every call would open
  a new one, and Gradio builds a new session's state from the config of every component of the
  app: about 30 ms here, which a browser pays once per page load.)
- "answer": gradio_client with download_files=False (image outputs come back as URLs, which a
  browser fetches in parallel) and ssl_verify=False. gradio_client (2.x) reads the answer from a
  queue that its waiting thread checks every 50 ms (`time.sleep(0.05)` in
  gradio_client.utils.stream_sse_v1plus), so its round trip comes in steps of 50 ms: an answer that
  is ready a millisecond after a check waits for the next one. ssl_verify=False changes nothing on
  this plain-HTTP local server except the client's own cost: gradio_client opens a fresh httpx client
  for every call and every file upload, each loading the CA bundle into a new TLS context (40-50 ms
  of client CPU here).
- "answer + files": the same, also downloading every output image one after another, as
  gradio_client does by default.
- "default": gradio_client with its defaults, for comparison.
Target: p50 of every endpoint's "answer" <= 1.3x the p50 of /ping on the CPU.
"""

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from common import free_port, percentile, start, stop, table, wait_http
from gradio_client import Client, handle_file
from PIL import Image


class StreamClient:
    """The HTTP API on one kept connection; `predict` takes gradio_client's arguments (files as
    handle_file records) and returns the answer's data."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url.rstrip("/") + "/gradio_api", timeout=60)
        self.session = uuid.uuid4().hex

    def _upload(self, value):
        """A handle_file record -> the same record naming the uploaded copy on the server."""
        if isinstance(value, dict) and value.get("meta", {}).get("_type") == "gradio.FileData":
            with open(value["path"], "rb") as f:
                r = self.http.post("/upload", files={"files": (value["orig_name"], f.read())})
            r.raise_for_status()
            return {**value, "path": r.json()[0]}
        if isinstance(value, dict):
            return {k: self._upload(v) for k, v in value.items()}
        return value

    def predict(self, *args, api_name: str):
        r = self.http.post(
            f"/call{api_name}", json={"data": [self._upload(a) for a in args], "session_hash": self.session}
        )
        r.raise_for_status()
        event = None
        with self.http.stream("GET", f"/call{api_name}/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"{api_name} failed: {line}")
                    return json.loads(line.removeprefix("data:"))
        raise RuntimeError(f"{api_name}: the event stream ended without an answer")


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
    settings = (14, 0.5, 0, "denoiser")  # the Denoise endpoints' rows/columns, sigma, seed and network
    for d in ("translate", "rows_cols", "clamp", "fractional"):
        out[f"denoise_test_digit {d}"] = ((17, d, *settings), "/denoise_test_digit")
    out["denoise_drawing"] = ((drawing, "clamp", *settings), "/denoise_drawing")
    out["denoise_upload"] = ((handle_file(str(upload)), "clamp", *settings), "/denoise_upload")
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
        clients = {
            "stream": StreamClient(url),
            "answer": Client(url, verbose=False, download_files=False, ssl_verify=False),
            "files": Client(url, verbose=False, ssl_verify=False),
            "default": Client(url, verbose=False, download_files=False),
        }
        with tempfile.TemporaryDirectory() as tmp:
            todo = calls(Path(tmp))
            times = {(k, c): [] for k in todo for c in clients}
            for args, api in todo.values():  # warm-up: first-call costs are not latency
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
    p50 = {(k, c): percentile(t, 50) for (k, c), t in times.items()}
    base = {c: p50["ping (trivial)", c] for c in clients}
    rows = []
    for k in todo:
        rows.append(
            [
                k,
                p50[k, "stream"],
                p50[k, "stream"] - base["stream"],
                p50[k, "answer"],
                percentile(times[k, "answer"], 95),
                p50[k, "answer"] / base["answer"],
                p50[k, "files"],
                p50[k, "default"],
                p50[k, "default"] / base["default"],
            ]
        )
    print(
        table(
            [
                "endpoint",
                "stream p50 ms",
                "stream p50 - ping ms",
                "answer p50 ms",
                "answer p95 ms",
                "answer p50 / ping p50",
                "answer + files p50 ms",
                "default client p50 ms",
                "default client ratio",
            ],
            rows,
        )
    )
    worst = max(r[5] for r in rows)
    print(f"\n{n} calls per endpoint and client; worst answer p50 ratio {worst:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
