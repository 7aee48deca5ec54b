"""Concurrency, the quick version of benchmarks/load.py: several clients at once, no errors,
every answer equal to the same request made alone, bounded memory growth."""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client
from loadmix import answer_key, mixed_requests, rss_mb

from explorer import runtime

pytestmark = pytest.mark.skipif(
    not runtime.checkpoint_path("denoiser").exists(), reason="no denoiser checkpoint"
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
def test_concurrent_clients(server_url, tmp_path):
    requests = mixed_requests(tmp_path)
    key = answer_key(Client(server_url, verbose=False), requests)
    rss0 = rss_mb(os.getpid())

    def one_client(i):
        client = Client(server_url, verbose=False)
        wrong = []
        for j in range(12):
            name, args, api = requests[(i + j) % len(requests)]
            got = key.normalise(name, client.predict(*args, api_name=api))  # any error fails the test
            if got != key.answers[name]:
                wrong.append(name)
        return wrong

    t0 = time.perf_counter()
    with ThreadPoolExecutor(6) as pool:
        wrong = [w for ws in pool.map(one_client, range(6)) for w in ws]
    assert not wrong, f"answers changed under load: {wrong}"
    assert time.perf_counter() - t0 < 300
    # the server runs in this process; the clients too, so this bound is loose on purpose
    assert rss_mb(os.getpid()) - rss0 < 300
