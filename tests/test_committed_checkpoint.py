"""The committed denoiser checkpoint: its header, a re-evaluation on part of the test set, and the
model card generated from it."""

import json
import subprocess
import sys

import pytest

from explorer import runtime
from training.checkpoint import load_checkpoint, read_metadata
from training.data import load_mnist
from training.evaluate import evaluate_denoiser

CKPT = runtime.checkpoint_path("denoiser")
pytestmark = pytest.mark.skipif(not CKPT.exists(), reason="no committed denoiser checkpoint")


def test_header_records_how_it_was_made():
    meta = read_metadata(CKPT)
    assert meta["model"] == "denoiser"
    assert meta["command"].startswith("python -m training denoiser")
    assert "--smoke" not in meta["command"]
    metrics = json.loads(meta["metrics"])
    assert metrics["n_images"] == 10000 and metrics["parameters"] <= 500_000
    assert float(meta["wall_time_s"]) > 0 and meta["device"]


def test_reevaluation_matches_header():
    # every 5th test digit (the test set's two halves come from different writers, so a prefix
    # would be biased): the figures must agree with the header's full-set figures within sampling
    # noise, which a stale or swapped file would not
    metrics = json.loads(read_metadata(CKPT)["metrics"])
    test = load_mnist().test
    sub = evaluate_denoiser(load_checkpoint(CKPT), test.images[::5], test.labels[::5])
    for key in ("acc_clean", "acc_noisy", "acc_recon"):
        assert abs(sub[key] - metrics[key]) < 0.75, key
    assert abs(sub["psnr_recon_clamp"] - metrics["psnr_recon_clamp"]) < 0.5


def test_model_card_is_up_to_date():
    root = CKPT.parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "training.model_card", "--check"], cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
