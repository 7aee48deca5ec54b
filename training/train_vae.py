"""Training loop of the VAEs (`vae`, `vae2d`).

Every batch is binarized afresh (dynamic binarization: a new Bernoulli draw per pixel each time an
image is seen), which acts as data augmentation and keeps the Bernoulli likelihood honest.
Loss = reconstruction NLL + beta * KL per image (nats), beta rising linearly from 0 to 1 over the
first epochs (KL warm-up) so that the decoder learns to use the latent before the prior pulls on it.
With `train_k` > 1 the loss is instead the importance-weighted bound on k posterior samples per
image (IWAE, Burda et al. 2016): a tighter bound on -log p(x) than the ELBO, so minimising it
improves the likelihood itself; it has no KL term, so no warm-up (it is meant for warm starts).
"""

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .data import to_float
from .evaluate import evaluate_vae, judged_samples
from .loop import end_epoch, finish, lr_at, optimizer_step, setup, start_or_resume, warm_start
from .vae_objective import binarize, elbo_terms, iwae_bound, log_weights

CLASSIFIER = Path(__file__).resolve().parent.parent / "checkpoints" / "denoiser.safetensors"


@dataclass
class Recipe:
    """Everything that decides how a run trains; stored in the checkpoint header."""

    epochs: int
    batch_size: int
    lr: float  # peak learning rate of Adam
    kl_warmup_epochs: float  # beta goes 0 -> 1 linearly over these epochs; 0 = full KL from the start
    warmup_frac: float = (
        0.0  # share of steps with a linear lr warm-up (read by lr_at); the KL warm-up already eases the start
    )
    cosine: bool = True  # cosine decay of the lr to zero
    iwae_k: int = 1000  # importance samples per test image for the final IWAE bound (10 in smoke runs)
    train_k: int = (
        1  # posterior samples per training image: 1 = the ELBO, k > 1 = the IWAE bound on k samples
    )
    init: str | None = (
        None  # checkpoint whose weights start the run (no KL warm-up then: its decoder already uses the latent)
    )
    seed: int = 0
    val_size: int = 5000
    smoke: bool = False


RECIPES = {
    # the usual MNIST VAE settings (Adam 1e-3, batch 128) with cosine decay and a KL warm-up over
    # the first 5 epochs; likelihoods keep improving for hundreds of epochs (the published figures
    # train for thousands), 200 fit in about an hour on 2 CPU cores
    "vae": Recipe(epochs=200, batch_size=128, lr=1e-3, kl_warmup_epochs=5),
    # a 2-d latent has less to learn and saturates sooner
    "vae2d": Recipe(epochs=30, batch_size=128, lr=1e-3, kl_warmup_epochs=3),
}


def kl_weight_at(step: int, steps_per_epoch: int, r: Recipe) -> float:
    """beta at a step: the warm-up ramp, or 1 throughout for a warm-started run (see Recipe.init)."""
    warm = r.kl_warmup_epochs * steps_per_epoch
    return 1.0 if warm <= 0 or r.init else min(1.0, (step + 1) / warm)


def train(
    model_name: str,
    r: Recipe,
    *,
    device: torch.device,
    out: Path,
    state_path: Path | None,
    resume: bool,
    command: str,
    max_minutes: float | None = None,
    config: dict | None = None,
) -> dict:
    from .models import build_model

    if not (isinstance(r.train_k, int) and r.train_k >= 1):
        raise SystemExit(f"train_k must be a whole number >= 1, not {r.train_k!r}")
    dist_, data, train_split, val_split, test = setup(r, device)
    device = dist_.device
    model = build_model(model_name, config)
    parent = warm_start(model, r.init) if r.init else None
    model = model.to(device).to(memory_format=torch.channels_last)  # faster CPU convs
    net = dist_.wrap(model)  # what training steps call; `model` is the same weights, unwrapped
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    gen = torch.Generator(device=device).manual_seed(r.seed)
    steps_per_epoch = math.ceil(len(train_split) / r.batch_size)
    total = steps_per_epoch * r.epochs
    info = start_or_resume(
        state_path if resume else None, model, opt, gen, command=command, recipe=asdict(r), parent=parent
    )
    t_start = time.time() - info["wall_time_s"]
    images = train_split.images.to(device)  # (N, 28, 28) uint8
    for epoch in range(info["epoch"], r.epochs):
        model.train()
        order = torch.randperm(len(images), generator=gen, device=device)
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{r.epochs}",
            mininterval=5,
            leave=False,
            disable=not dist_.main,
        )
        seen, t0 = 0, time.time()
        for s in bar:
            step = info["step"]
            idx = order[s * r.batch_size : (s + 1) * r.batch_size]
            x = binarize(to_float(images[idx]), gen).contiguous(
                memory_format=torch.channels_last
            )  # (B, 1, 28, 28) of 0/1, a fresh draw every time
            eps = torch.randn(r.train_k, len(idx), model.config.latent_dim, generator=gen, device=device)
            # every process drew the same global batch; each trains on its own shard of it
            x, eps = dist_.shard(x), dist_.shard(eps, dim=1)  # eps: (k, B, D)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, r)
            beta = kl_weight_at(step, steps_per_epoch, r)
            if r.train_k == 1:
                recon_nll, kl = elbo_terms(x, net(x, eps=eps[0]))
                loss = (recon_nll + beta * kl).mean()
            else:
                loss = iwae_bound(log_weights(x, net(x, eps=eps), eps)).mean()
            optimizer_step(opt, loss, info, len(idx))
            seen += len(idx)
            if s % 20 == 0:
                bar.set_postfix(
                    loss=f"{loss.item():.1f}", beta=f"{beta:.2f}", sps=f"{seen / (time.time() - t0):.0f}"
                )
            if r.smoke and s >= 3:
                break
        val = evaluate_vae(model, val_split.images, k=0, seed=r.seed + 1, device=device)
        row = {
            "epoch": epoch + 1,
            "samples_per_s": round(seen / (time.time() - t0), 1),
            "beta": round(beta, 3),
            **{f"val_{k}": val[k] for k in ("neg_elbo", "recon_nll", "kl")},
        }
        if end_epoch(
            info,
            row,
            t_start=t_start,
            state_path=state_path,
            model=model,
            opt=opt,
            gen=gen,
            max_minutes=max_minutes,
            epochs=r.epochs,
            dist_=dist_,
        ):
            return {"finished": False, **info}
    metrics = evaluate_vae(model, test.images, k=10 if r.smoke else r.iwae_k, device=device)
    metrics.update(
        judged_samples(model, CLASSIFIER, device)
    )  # sample quality, by the denoiser's classifier head
    return finish(model, out, metrics, info, recipe=asdict(r), device=device, data=data, dist_=dist_)
