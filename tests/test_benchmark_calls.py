"""The latency benchmark's requests still fit the app: each is answered by the test server, through
gradio_client and through the benchmark's own HTTP client (a benchmark that no longer runs would
leave a stale table in the README)."""

import sys
from pathlib import Path

import pytest
from gradio_client import Client

from explorer import runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import latency  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

pytestmark = pytest.mark.skipif(
    not all(runtime.checkpoint_path(n).exists() for n in ("denoiser", "cluster_ae")),
    reason="needs the denoiser and cluster_ae checkpoints",
)


def test_every_latency_call_is_answered(server_url, tmp_path):
    client = Client(server_url, verbose=False, download_files=False)
    stream = latency.StreamClient(server_url)
    for name, (args, api) in latency.calls(tmp_path).items():  # a refused request raises
        assert client.predict(*args, api_name=api) is not None, name
        assert stream.predict(*args, api_name=api) is not None, name
