"""Concurrency: many gradio_client clients send mixed requests to one `python app.py`; counts
errors, checks every answer against the same request made alone, and tracks the server's
resident memory.

    .venv/bin/python benchmarks/load.py [--clients 16 --requests 50]

Targets: 0 errors, every answer correct, resident memory growth <= 100 MB.
"""

import argparse
import sys
import tempfile
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

            def client_run(i: int):
                client = Client(url, verbose=False)
                errors, wrong, laps = 0, 0, []
                for j in range(args.requests):
                    name, call_args, api = requests[(i + j) % len(requests)]
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
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(client_run, range(args.clients)))
            wall = time.perf_counter() - t0
            rss1 = rss_mb(proc.pid)
    finally:
        stop(proc)
    laps = [t for _, _, ls in results for t in ls]
    total = args.clients * args.requests
    rows = [
        [
            args.clients,
            total,
            sum(r[0] for r in results),
            sum(r[1] for r in results),
            f"{total / wall:.1f}",
            percentile(laps, 50),
            percentile(laps, 95),
            rss0,
            rss1,
            rss1 - rss0,
        ]
    ]
    print(
        table(
            [
                "clients",
                "requests",
                "errors",
                "wrong",
                "requests / s",
                "p50 ms",
                "p95 ms",
                "RSS before MB",
                "RSS after MB",
                "growth MB",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
