"""Training of `latent_classifier`: an MLP on the frozen code of a trained `autoencoder`.

The autoencoder's encoder is copied in and never updated; the codes of the training split are
computed once, and the head trains on them (Adam, cross-entropy). The autoencoder checkpoint's
own header is kept as `parent`, so the card shows what the classifier stands on.
"""

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint, read_metadata, run_summary
from .evaluate import batched, evaluate_latent_classifier
from .loop import end_epoch, finish, optimizer_step, setup, start_or_resume


@dataclass
class Recipe:
    """Everything that decides how a run trains; stored in the checkpoint header."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    autoencoder: str = "checkpoints/autoencoder.safetensors"  # the frozen encoder
    seed: int = 0
    val_size: int = 5000
    smoke: bool = False


RECIPES = {"latent_classifier": Recipe()}


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

    if resume or max_minutes is not None:
        raise SystemExit("latent_classifier trains in a minute; --resume and --max-minutes are not supported")
    dist_, data, train_split, val_split, test = setup(r, device)
    ae = load_checkpoint(r.autoencoder, device)
    model = build_model(model_name, {**(config or {}), "autoencoder": asdict(ae.config)}).to(device)
    model.encoder.load_state_dict(ae.encoder.state_dict())
    model.eval()
    z_train = batched(model.encode, train_split.images, device).to(device)
    model.code_mean.copy_(z_train.mean(0))
    model.code_std.copy_(z_train.std(0))
    y_train = train_split.labels.to(device)
    opt = torch.optim.Adam(model.head.parameters(), lr=r.lr)
    gen = torch.Generator(device="cpu").manual_seed(r.seed)
    info = start_or_resume(
        None,
        model,
        opt,
        gen,
        command=command,
        recipe=asdict(r),
        parent=run_summary(read_metadata(r.autoencoder)),
    )
    t_start = time.time()
    steps = math.ceil(len(z_train) / r.batch_size)
    for _ in range(r.epochs):
        model.train()
        order = torch.randperm(len(z_train), generator=gen)
        seen, t0 = 0, time.time()
        for s in range(steps):
            idx = order[s * r.batch_size : (s + 1) * r.batch_size].to(device)
            loss = F.cross_entropy(model.classify_code(z_train[idx]), y_train[idx])
            optimizer_step(opt, loss, info, len(idx))
            seen += len(idx)
            if r.smoke and s >= 3:
                break
        row = {
            "epoch": info["epoch"] + 1,
            "samples_per_s": round(seen / (time.time() - t0), 1),
            "acc": evaluate_latent_classifier(model, val_split.images, val_split.labels, device=device)[
                "acc"
            ],
        }
        end_epoch(
            info,
            row,
            t_start=t_start,
            state_path=None,
            model=model,
            opt=opt,
            gen=gen,
            max_minutes=None,
            epochs=r.epochs,
        )
    metrics = evaluate_latent_classifier(model, test.images, test.labels, device=device)
    return finish(model, out, metrics, info, recipe=asdict(r), device=device, data=data, dist_=dist_)
