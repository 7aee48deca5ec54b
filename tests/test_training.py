"""Training: one end-to-end smoke run plus evaluation through the CLIs, the schedules of the
recipes, and the resumable training state."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training import registry
from training.__main__ import main as train_main
from training.checkpoint import load_checkpoint, read_metadata
from training.loop import lr_at
from training.models import build_model
from training.recipes.denoise import mse_weight_at
from training.state import load_state, save_state

RECIPES = {n: registry.get(n).recipe for n in ("denoiser", "denoiser_ref")}

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}


def run(args, timeout=300):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def smoke_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "d.safetensors"
    proc = run(["-m", "training", "denoiser", "--smoke", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_smoke_run_writes_a_loadable_checkpoint(smoke_checkpoint):
    model = load_checkpoint(smoke_checkpoint)
    assert not model.training
    meta = read_metadata(smoke_checkpoint)
    assert meta["model"] == "denoiser"
    metrics = json.loads(meta["metrics"])
    for key in ("acc_clean", "acc_noisy", "acc_recon", "psnr_recon_clamp"):
        assert isinstance(metrics[key], (int, float)) and math.isfinite(metrics[key]), key
    for key in ("acc_clean", "acc_noisy", "acc_recon"):
        assert 0 <= metrics[key] <= 100
    assert metrics["n_images"] == 200  # smoke runs score 200 test images
    assert meta["command"].startswith("python -m training denoiser")
    assert "--smoke" in meta["command"].split()
    assert json.loads(meta["recipe"])["smoke"] is True
    # the training state sits beside the checkpoint, for --resume
    state = smoke_checkpoint.with_name("d.state.safetensors")
    assert state.is_file()


def test_evaluate_cli(smoke_checkpoint):
    proc = run(["-m", "training.evaluate", str(smoke_checkpoint), "--limit", "100"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert metrics["n_images"] == 100
    assert metrics["model"] == "denoiser"
    for key in (
        "acc_clean",
        "acc_noisy",
        "acc_recon",
        "acc_noisy_rows_cols",
        "acc_recon_fractional",
        "psnr_recon_clamp",
        "psnr_noisy_rows_cols",
    ):
        assert isinstance(metrics[key], (int, float)) and math.isfinite(metrics[key]), key
    # 100 images per copy: each per-distortion accuracy is a whole number of percent
    assert float(metrics["acc_noisy_rows_cols"]).is_integer()
    # the overall accuracy is the mean of the three copies
    per = [metrics[f"acc_noisy_{d}"] for d in ("rows_cols", "clamp", "fractional")]
    assert metrics["acc_noisy"] == pytest.approx(sum(per) / 3, abs=1e-3)


def test_evaluate_cli_on_the_training_split(smoke_checkpoint):
    from training.checkpoint import load_checkpoint, read_metadata
    from training.data import load_mnist, train_val_split
    from training.evaluate import evaluate_denoiser

    proc = run(["-m", "training.evaluate", str(smoke_checkpoint), "--split", "train", "--limit", "60"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout)
    assert metrics["split"] == "train" and metrics["n_images"] == 60
    # the first digits of the recipe's training split (validation digits left out), not of the raw set
    recipe = json.loads(read_metadata(smoke_checkpoint)["recipe"])
    train, _ = train_val_split(load_mnist().train, recipe["val_size"], seed=recipe["seed"])
    expected = evaluate_denoiser(load_checkpoint(smoke_checkpoint), train.images[:60], train.labels[:60])
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=0.011)  # PSNR is rounded to 0.01


def test_evaluate_write_refuses_partial_figures(smoke_checkpoint):
    # the header holds full test-set figures only; the file stays as it was
    before = smoke_checkpoint.read_bytes()
    for extra in (["--limit", "100"], ["--split", "train"]):
        proc = run(["-m", "training.evaluate", str(smoke_checkpoint), "--write", *extra])
        assert proc.returncode == 2 and "--write" in proc.stderr
    assert smoke_checkpoint.read_bytes() == before


# --- schedules -----------------------------------------------------------------------------------


def test_lr_warmup_then_cosine():
    r, total = RECIPES["denoiser"], 1000
    warm = int(r.warmup_frac * total)
    assert warm > 1
    lrs = [lr_at(s, total, r) for s in range(total)]
    assert all(0 < lr <= r.lr * (1 + 1e-9) for lr in lrs)
    assert lrs[0] < 0.1 * r.lr  # starts small
    assert all(a < b for a, b in zip(lrs[: warm - 1], lrs[1:warm])), "warm-up rises"
    assert lrs[warm - 1] == pytest.approx(r.lr) and lrs[warm] == pytest.approx(r.lr)
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1 :])), "cosine decays"
    assert lrs[-1] < 1e-3 * r.lr  # ends near zero
    assert lr_at((warm + total) // 2, total, r) == pytest.approx(
        r.lr / 2, rel=1e-2
    )  # half way down the cosine


def test_lr_reference_is_constant():
    r = RECIPES["denoiser_ref"]
    assert {lr_at(s, 5000, r) for s in range(0, 5000, 7)} == {1e-4}


@pytest.mark.parametrize(
    "frac, weight", [(0.0, 350), (0.45, 275), (0.65, 125), (0.9, 25), (0.999, 25), (1.0, 25)]
)
def test_mse_weight_reference(frac, weight):
    total = 10000
    assert mse_weight_at(int(frac * total), total, RECIPES["denoiser_ref"]) == weight


def test_mse_weight_never_rises():
    for r in RECIPES.values():
        ws = [mse_weight_at(s, 997, r) for s in range(997)]
        assert all(a >= b for a, b in zip(ws, ws[1:]))


# --- training state ------------------------------------------------------------------------------

TINY = {"widths": [4, 8, 8], "head_hidden": 8}


def one_step(model, opt):
    torch.manual_seed(7)  # the same dropout masks on every call
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out = model(x)
    loss = out.recon.mean() + out.logits.logsumexp(1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_state_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("denoiser", TINY).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    one_step(model, opt)
    gen = torch.Generator().manual_seed(42)
    torch.rand(5, generator=gen)  # move the generator off its seed state
    info = {
        "epoch": 3,
        "step": 120,
        "history": [{"epoch": 1, "acc_clean": 12.5}],
        "recipe": {"mix": ["clamp"]},
    }
    path = tmp_path / "x.state.safetensors"
    save_state(path, model, opt, gen, info)

    torch.manual_seed(1)  # a different init, so that equality below means the load worked
    model2 = build_model("denoiser", TINY).train()
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2, weight_decay=0.01)
    gen2 = torch.Generator().manual_seed(0)
    assert load_state(path, model2, opt2, gen2) == info

    sd, sd2 = model.state_dict(), model2.state_dict()
    assert sd.keys() == sd2.keys()
    for k in sd:
        assert torch.equal(sd[k], sd2[k]), k
    st, st2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert st.keys() == st2.keys() and len(st) == len(list(model.parameters()))
    for i in st:
        assert st[i].keys() == st2[i].keys()
        for k in st[i]:
            assert torch.equal(torch.as_tensor(st[i][k]), torch.as_tensor(st2[i][k])), (i, k)
    assert torch.equal(gen.get_state(), gen2.get_state())
    assert torch.equal(torch.rand(3, generator=gen), torch.rand(3, generator=gen2))

    # continuing from the loaded state is the same as continuing the original run
    one_step(model, opt)
    one_step(model2, opt2)
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("model", ["denoiser", "vae2d"])  # one model of each trainer
def test_budget_stop_then_resume_finishes_the_run(tmp_path, model):
    # --max-minutes 0 stops after the first of two epochs with only the state file written;
    # --resume with the same flags picks it up and writes the checkpoint
    out = tmp_path / "r.safetensors"
    args = ["-m", "training", model, "--smoke", "--epochs", "2", "--out", str(out)]
    first = run([*args, "--max-minutes", "0"])
    assert first.returncode == 0, first.stderr[-3000:]
    assert not out.exists() and out.with_name("r.state.safetensors").is_file()
    second = run([*args, "--resume"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stdout
    meta = read_metadata(out)
    assert meta["model"] == model
    assert [row["epoch"] for row in json.loads(meta["history"])] == [1, 2]


@pytest.mark.parametrize("model", ["neuron_ae", "cluster_ae", "autoencoder"])
def test_unsupervised_training_never_reads_a_label(tmp_path, monkeypatch, model):
    """The training split's labels are removed before the loop starts; the run must not notice.
    (Validation and test labels stay: they only score the code after each epoch.)"""
    from training import loop
    from training.data import Split

    real = loop.prepare_data  # what every trainer's setup() loads its data with

    def without_labels(r):
        data, train_split, val_split, test = real(r)
        return data, Split(train_split.images, None), val_split, test

    monkeypatch.setattr(loop, "prepare_data", without_labels)
    out = tmp_path / "n.safetensors"
    result = train_main([model, "--smoke", "--out", str(out)])
    assert result["finished"] and out.exists()
    meta = read_metadata(out)
    assert json.loads(meta["recipe"])["labels_used_in_training"] is False
    expected = (
        {"mse", "latent_dim"}
        if model == "autoencoder"
        else {"acc_majority", "acc_matched", "nmi", "ari", "mse", "confusion"}
    )
    assert set(json.loads(meta["metrics"])) >= expected


def test_shift_batch_moves_each_image_by_its_own_offset():
    from training.recipes.cluster import shift_batch

    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 14, 14] = 1  # one lit pixel in the middle of every image
    moved = shift_batch(x, 2, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and moved.sum() == 64  # nothing lost, nothing added
    where = moved[:, 0].flatten(1).argmax(1)
    dy, dx = where // 28 - 14, where % 28 - 14
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 10  # offsets differ between images
    assert torch.equal(shift_batch(x, 0, torch.Generator()), x)


def test_mixture_targets_find_separated_blobs():
    from training.clustering import scores
    from training.recipes.cluster import mixture_targets

    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(10), 50)
    points = rng.normal(size=(500, 3)) * 0.1 + rng.normal(size=(10, 3))[truth] * 5  # ten tight, distant blobs
    cluster, posterior = mixture_targets(points, seed=0)
    assert scores(truth, cluster)["acc_matched"] == 100.0
    assert posterior.shape == (500,) and (posterior <= 1).all() and (posterior > 0.5).all()
