"""The committed `autoencoder` checkpoint (the explorer's 6-d code): its header, its figure
recomputed on the whole test set, and the 24-byte code of a digit decoded back."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from explorer import runtime
from training.checkpoint import load_checkpoint, read_metadata
from training.data import load_mnist
from training.evaluate import evaluate_reconstruction

CKPT = runtime.checkpoint_path("autoencoder")
pytestmark = pytest.mark.skipif(not CKPT.exists(), reason="no committed autoencoder checkpoint")


def test_header_and_reevaluation():
    meta = read_metadata(CKPT)
    assert meta["command"].startswith("python -m training autoencoder") and "--smoke" not in meta["command"]
    metrics = json.loads(meta["metrics"])
    assert metrics["n_images"] == 10000 and metrics["latent_dim"] == 6
    again = evaluate_reconstruction(load_checkpoint(CKPT), load_mnist().test.images)
    assert abs(again["mse"] - metrics["mse"]) < 1e-4  # the whole test set again: the same figure


def test_reaches_the_target():
    assert json.loads(read_metadata(CKPT)["metrics"])["mse"] <= 0.018  # the explorer's target


def test_24_byte_code_round_trip():
    model = load_checkpoint(CKPT)
    x = load_mnist().test.images[:1].float().div(255).unsqueeze(1)
    with torch.no_grad():
        code = model.encode(x)[0].numpy().astype(np.float32)
        raw = code.tobytes()
        assert len(raw) == 24
        back = model.decode(torch.from_numpy(np.frombuffer(raw, np.float32).copy())[None])
    assert back.shape == (1, 1, 28, 28)
    assert torch.nn.functional.mse_loss(back, x).item() < 0.05


LC = runtime.checkpoint_path("latent_classifier")


@pytest.mark.skipif(not LC.exists(), reason="no committed latent_classifier checkpoint")
def test_latent_classifier_reads_the_committed_code():
    meta = read_metadata(LC)
    assert json.loads(meta["parent"])["command"].startswith("python -m training autoencoder")
    clf, ae = load_checkpoint(LC), load_checkpoint(CKPT)
    for (k, a), (_, b) in zip(clf.encoder.state_dict().items(), ae.encoder.state_dict().items()):
        assert torch.equal(a, b), k  # the same frozen encoder as the served autoencoder
    # the evaluate command on the whole test set: the header's figure again
    proc = subprocess.run(
        [sys.executable, "-m", "training.evaluate", str(LC)],
        cwd=CKPT.parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    again = json.loads(proc.stdout)
    assert again["acc"] == json.loads(meta["metrics"])["acc"] and again["latent_dim"] == 6
