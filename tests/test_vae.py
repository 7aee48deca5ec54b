"""The VAEs: output contract, the objective and the IWAE bound, seeded sampling, binarization, the
KL warm-up, and a smoke run plus evaluation through the CLIs."""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training import registry
from training.checkpoint import load_checkpoint, read_metadata
from training.data import load_mnist, to_float
from training.models import build_model
from training.models.vae import VAEOutput
from training.recipes.vae import kl_weight_at
from training.vae_objective import binarize, elbo_terms, iwae_bound, iwae_nll, log_weights

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}


def run(args, timeout=300):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def digits(n: int = 8, seed: int = 0) -> torch.Tensor:
    """The first n test digits, binarized: (n, 1, 28, 28) of 0/1."""
    return binarize(to_float(load_mnist().test.images[:n]), torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=["vae", "vae2d"])
def vae(request):
    torch.manual_seed(0)
    return build_model(request.param).eval()


def test_latent_sizes_and_leanness():
    assert build_model("vae").config.latent_dim == 32
    assert build_model("vae2d").config.latent_dim == 2
    assert build_model("vae2d", {"latent_dim": 3}).config.latent_dim == 3
    for name in ("vae", "vae2d"):
        assert sum(p.numel() for p in build_model(name).parameters()) <= 1_000_000


def test_shapes_and_finiteness(vae):
    x, d = digits(), vae.config.latent_dim
    with torch.no_grad():
        post = vae.posterior(x)
        out = vae(x)
        z = vae.encode(x)
        probs = vae.decode(z)
    assert post.mu.shape == post.logvar.shape == (8, d)
    assert isinstance(out, VAEOutput)
    assert out.recon_logits.shape == (8, 1, 28, 28)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (8, d)
    assert z.shape == (8, d) and torch.equal(z, post.mu)
    assert probs.shape == (8, 1, 28, 28) and probs.min() >= 0 and probs.max() <= 1
    assert torch.allclose(probs, torch.sigmoid(vae.decode_logits(z)))
    for t in (*post, *out, probs):
        assert torch.isfinite(t).all()
    # z is a sample, not the mean
    assert not torch.allclose(out.z, out.mu)


def test_sampling_is_deterministic_under_a_seeded_generator(vae):
    x = digits()
    with torch.no_grad():
        a = vae(x, torch.Generator().manual_seed(3))
        b = vae(x, torch.Generator().manual_seed(3))
        c = vae(x, torch.Generator().manual_seed(4))
        n1 = iwae_nll(vae, x, 7, torch.Generator().manual_seed(5), chunk=3)
        n2 = iwae_nll(vae, x, 7, torch.Generator().manual_seed(5), chunk=3)
    for f in VAEOutput._fields:
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    assert not torch.equal(a.z, c.z)
    assert torch.equal(n1, n2)


def test_elbo_terms_by_hand():
    torch.manual_seed(0)
    x = digits(4)
    out = VAEOutput(torch.randn(4, 1, 28, 28), torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3))
    recon, kl = elbo_terms(x, out)
    p = torch.sigmoid(out.recon_logits)
    assert torch.allclose(recon, -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3)), rtol=1e-5)
    q = torch.distributions.Normal(out.mu, torch.exp(0.5 * out.logvar))
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, prior).sum(1), rtol=1e-5)


def test_kl_is_non_negative_and_zero_at_the_prior(vae):
    with torch.no_grad():
        _, kl = elbo_terms(digits(), vae(digits()))
    assert (kl >= 0).all() and (kl > 0).any()
    zeros = torch.zeros(2, 4)
    _, kl0 = elbo_terms(digits(2), VAEOutput(torch.zeros(2, 1, 28, 28), zeros, zeros, zeros))
    assert torch.equal(kl0, torch.zeros(2))


def neg_elbo(model, x, draws: int, seed: int) -> float:
    """The negative ELBO averaged over images and several posterior draws (less noise)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return sum(sum(elbo_terms(x, model(x, g))).mean().item() for _ in range(draws)) / draws


def test_iwae_is_a_tighter_bound(vae):
    x = digits(32)
    with torch.no_grad():
        nll_50 = iwae_nll(vae, x, 50, torch.Generator().manual_seed(1), chunk=16)
    assert nll_50.shape == (32,) and torch.isfinite(nll_50).all()
    assert nll_50.mean().item() <= neg_elbo(vae, x, 20, seed=2) + 0.05


def test_iwae_with_one_sample_is_the_elbo_in_expectation():
    torch.manual_seed(0)
    model = build_model("vae").eval()
    with torch.no_grad():  # a posterior narrower than the prior (sigma ~ 0.6), so log q's logvar term counts
        model.encoder[-1].bias[model.config.latent_dim :] = -1.0
    x = digits(16)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        k1 = torch.stack([iwae_nll(model, x, 1, g) for _ in range(200)]).mean().item()
    ref = neg_elbo(model, x, 20, seed=2)
    assert k1 == pytest.approx(ref, rel=2e-3)


def test_iwae_is_exact_when_the_posterior_is_the_prior_and_the_decoder_ignores_z():
    # q(z|x) = p(z) and p(x|z) = p(x): every importance weight is p(x), so the estimate must be
    # exactly -log p(x) for any k (this catches a wrong log k or a wrong sign in log p(z) - log q)
    torch.manual_seed(0)
    model = build_model("vae").eval()
    with torch.no_grad():
        for layer in (model.encoder[-1], model.decoder[0]):  # mu = logvar = 0; decoder input weights 0
            layer.weight.zero_()
        model.encoder[-1].bias.zero_()
        x = digits(8)
        exact = elbo_terms(x, model(x))[0]  # -log p(x|z), the same for every z
        for k, chunk in ((1, 1), (40, 16)):
            assert torch.allclose(
                iwae_nll(model, x, k, torch.Generator().manual_seed(0), chunk), exact, atol=1e-3
            )


def test_k_samples_at_once_decode_like_one_at_a_time(vae):
    x = digits(5)
    eps = torch.randn(3, 5, vae.config.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        many = vae(x, eps=eps)
        single = [vae(x, eps=e) for e in eps]
    assert many.recon_logits.shape == (3, 5, 1, 28, 28) and many.z.shape == (3, 5, vae.config.latent_dim)
    for i, one in enumerate(single):
        assert torch.allclose(many.recon_logits[i], one.recon_logits, atol=1e-5)
        assert torch.equal(many.z[i], one.z) and torch.equal(many.mu, one.mu)


def test_iwae_bound_of_k_copies_of_one_sample_is_that_sample(vae):
    # equal weights: log mean exp is the weight itself, so the bound cannot depend on k
    x = digits(4)
    eps = torch.randn(1, 4, vae.config.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        one = iwae_bound(log_weights(x, vae(x, eps=eps), eps))
        copies = eps.expand(6, -1, -1)
        six = iwae_bound(log_weights(x, vae(x, eps=copies), copies))
    assert one.shape == (4,) and torch.allclose(six, one, atol=1e-3)


def test_iwae_training_loss_has_gradients_and_falls(vae):
    # the objective a train_k > 1 run minimises: a few Adam steps on one batch lower it
    torch.manual_seed(0)
    model = build_model("vae").train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = digits(16)
    eps = torch.randn(5, 16, model.config.latent_dim, generator=torch.Generator().manual_seed(1))
    losses = []
    for _ in range(5):
        loss = iwae_bound(log_weights(x, model(x, eps=eps), eps)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_recipe_flag_takes_only_fields_without_a_flag():
    for bad in ('{"lr": 0.1}', '{"no_such_field": 1}'):
        proc = run(["-m", "training", "vae", "--smoke", "--recipe", bad, "--out", os.devnull])
        assert proc.returncode == 2 and "no flag of their own" in proc.stderr and "train_k" in proc.stderr


def test_binarize():
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    a = binarize(x, torch.Generator().manual_seed(1))
    b = binarize(x, torch.Generator().manual_seed(1))
    c = binarize(x, torch.Generator().manual_seed(2))
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.mean().item() == pytest.approx(x.mean().item(), abs=0.01)  # pixel value = probability of 1
    assert torch.equal(binarize(a, torch.Generator().manual_seed(3)), a)  # 0/1 images stay as they are


def test_kl_warmup_rises_to_one():
    r = registry.get("vae").recipe
    spe = 100
    betas = [kl_weight_at(s, spe, r) for s in range(spe * r.epochs)]
    warm = int(r.kl_warmup_epochs * spe)
    assert 0 < betas[0] < 0.01
    assert all(a < b for a, b in zip(betas[: warm - 1], betas[1:warm]))
    assert set(betas[warm - 1 :]) == {1.0}
    # a warm-started run's decoder already uses the latent: full KL from its first step
    assert kl_weight_at(0, spe, dataclasses.replace(r, init="parent.safetensors")) == 1.0


# --- smoke run and evaluation through the CLIs ---------------------------------------------------


@pytest.fixture(scope="module")
def smoke_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae_smoke") / "v.safetensors"
    proc = run(["-m", "training", "vae", "--smoke", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_smoke_run_writes_a_loadable_checkpoint(smoke_checkpoint):
    model = load_checkpoint(smoke_checkpoint)
    assert not model.training and model.config.latent_dim == 32
    meta = read_metadata(smoke_checkpoint)
    assert meta["model"] == "vae"
    assert meta["command"].startswith("python -m training vae") and "--smoke" in meta["command"].split()
    m = json.loads(meta["metrics"])
    for key in ("neg_elbo", "iwae_nll", "elbo_gap", "recon_nll", "kl"):
        assert isinstance(m[key], (int, float)) and math.isfinite(m[key]), key
    assert m["k"] == 10 and m["n_images"] == 200  # smoke runs: k = 10 on 200 test images
    assert m["parameters"] == sum(p.numel() for p in model.parameters())
    assert m["train_samples"] == 4 * 128  # four batches
    assert 0 < m["iwae_nll"] <= m["neg_elbo"] + 0.05
    assert m["elbo_gap"] == pytest.approx(m["neg_elbo"] - m["iwae_nll"], abs=2e-3)
    assert m["neg_elbo"] == pytest.approx(m["recon_nll"] + m["kl"], abs=2e-3)
    assert json.loads(meta["recipe"])["smoke"] is True
    assert [row["epoch"] for row in json.loads(meta["history"])] == [1]


def test_a_warm_started_iwae_run_starts_from_its_parent_and_records_it(smoke_checkpoint, tmp_path):
    out = tmp_path / "child.safetensors"
    # the IWAE objective on 3 samples, as a warm start would use it
    proc = run(
        [
            "-m",
            "training",
            "vae",
            "--smoke",
            "--init",
            str(smoke_checkpoint),
            "--recipe",
            '{"train_k": 3}',
            "--out",
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warm start from" in proc.stdout
    assert json.loads(read_metadata(out)["recipe"])["train_k"] == 3
    meta, parent_meta = read_metadata(out), read_metadata(smoke_checkpoint)
    parent = json.loads(meta["parent"])
    assert parent["command"] == parent_meta["command"] and parent["train_samples"] == 4 * 128
    assert json.loads(meta["recipe"])["init"] == str(smoke_checkpoint)
    # four more batches from the parent's weights: close to them, but trained
    a, b = load_checkpoint(smoke_checkpoint).state_dict(), load_checkpoint(out).state_dict()
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)
    assert all((a[k] - b[k]).abs().max() < 0.05 for k in a)


def test_evaluate_cli(smoke_checkpoint):
    proc = run(["-m", "training.evaluate", str(smoke_checkpoint), "--limit", "50", "--k", "5"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert m["model"] == "vae" and m["n_images"] == 50 and m["k"] == 5
    for key in ("neg_elbo", "iwae_nll", "elbo_gap"):
        assert isinstance(m[key], (int, float)) and math.isfinite(m[key]), key
