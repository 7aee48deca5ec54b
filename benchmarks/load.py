"""Concurrency: many gradio_client clients send mixed requests to one `python app.py`; counts
errors, checks every answer against the same request made alone, and tracks the server's
resident memory.

    .venv/bin/python benchmarks/load.py [--clients 16 --requests 50]
    .venv/bin/python benchmarks/load.py --clients 16 --minutes 30   # a soak: requests until then

Targets: 0 errors, every answer correct, resident memory growth <= 100 MB. A soak also reports the
growth from the end of its first minute: what a long-running server keeps gaining, apart from the
caches a first round of requests fills once.
"""

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import free_port, percentile, start, stop, table, wait_http
from gradio_client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from loadmix import answer_key, mixed_requests, rss_mb  # noqa: E402  (shared with tests/test_load.py)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=50, help="per client")
    p.add_argument("--minutes", type=float, help="a soak: every client sends requests until then")
    args = p.parse_args()
    port = free_port()
    proc = start(["app.py"], port)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, proc)
        with tempfile.TemporaryDirectory() as tmp:
            requests = mixed_requests(Path(tmp))
            key = answer_key(Client(url, verbose=False), requests)  # each request alone, also the warm-up
            rss0 = rss_mb(proc.pid)
            deadline = time.monotonic() + 60 * args.minutes if args.minutes else None
            samples = []  # (seconds since the start, resident MB), every 10 s of a soak
            done = threading.Event()

            def sample():
                start = time.monotonic()
                while not done.wait(10):
                    samples.append((time.monotonic() - start, rss_mb(proc.pid)))

            def client_run(i: int):
                client = Client(url, verbose=False)
                errors, wrong, laps = 0, 0, []
                j = 0
                while time.monotonic() < deadline if deadline else j < args.requests:
                    name, call_args, api = requests[(i + j) % len(requests)]
                    j += 1
                    t0 = time.perf_counter()
                    try:
                        got = key.normalise(name, client.predict(*call_args, api_name=api))
                    except Exception:
                        errors += 1
                        continue
                    laps.append(1000 * (time.perf_counter() - t0))
                    wrong += got != key.answers[name]
                return errors, wrong, laps

            t0 = time.perf_counter()
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(client_run, range(args.clients)))
            wall = time.perf_counter() - t0
            done.set()
            rss1 = rss_mb(proc.pid)
    finally:
        stop(proc)
    laps = [t for _, _, ls in results for t in ls]
    total = sum(len(ls) + errors for errors, _, ls in results)
    # a soak's growth counts from its first minute's end: the caches a first round of requests fills
    # (models, maps, compiled kernels) are not a leak
    warm = [mb for t, mb in samples if t >= 60]
    base = warm[0] if args.minutes and warm else rss0
    rows = [
        [
            args.clients,
            f"{wall / 60:.1f}",
            total,
            sum(r[0] for r in results),
            sum(r[1] for r in results),
            f"{total / wall:.1f}",
            percentile(laps, 50),
            percentile(laps, 95),
            rss0,
            max([mb for _, mb in samples] + [rss1]),
            rss1,
            rss1 - rss0,
            rss1 - base,
        ]
    ]
    print(
        table(
            [
                "clients",
                "minutes",
                "requests",
                "errors",
                "wrong",
                "requests / s",
                "p50 ms",
                "p95 ms",
                "RSS before MB",
                "RSS peak MB",
                "RSS after MB",
                "growth MB",
                "growth after minute 1 MB",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
