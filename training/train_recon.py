"""Training loop of the autoencoders trained on reconstruction alone: `neuron_ae` (the reference's
10-neuron bottleneck) and `autoencoder` (the explorer's 6-d MLP).

The loop reads images, never labels (for `neuron_ae` labels score the code afterwards, in
evaluate_neurons). Each recipe is its write-up's: MSE with SGD lr 0.01, momentum 0.5 for
`neuron_ae`; MSE with Adam lr 5e-4, batch 64, 50 epochs for `autoencoder`.
"""

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import to_float
from .evaluate import evaluate_neurons, evaluate_reconstruction
from .loop import end_epoch, finish, optimizer_step, setup, start_or_resume


@dataclass
class Recipe:
    """Everything that decides how a run trains; stored in the checkpoint header."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.0  # SGD only
    optimizer: str = "sgd"  # "sgd" or "adam"
    seed: int = 0
    val_size: int = 5000
    smoke: bool = False


RECIPES = {
    # the write-up's optimiser as given; it names no batch size or epoch count, so: 64 and 20
    "neuron_ae": Recipe(epochs=20, batch_size=64, lr=0.01, momentum=0.5),
    "autoencoder": Recipe(epochs=50, batch_size=64, lr=5e-4, optimizer="adam"),
}


def scored(model_name: str, model, split, device) -> dict:
    """Validation or test figures: the neuron scores for `neuron_ae`, the reconstruction error otherwise."""
    if model_name == "neuron_ae":
        return evaluate_neurons(model, split.images, split.labels, device=device)
    return evaluate_reconstruction(model, split.images, device=device)


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

    dist_, data, train_split, val_split, test = setup(r, device)
    device = dist_.device
    model = build_model(model_name, config).to(device)
    net = dist_.wrap(model)
    if r.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum)
    elif r.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    else:
        raise SystemExit(f"unknown optimizer {r.optimizer!r}: sgd or adam")
    gen = torch.Generator(device=device).manual_seed(r.seed)
    steps_per_epoch = math.ceil(len(train_split) / r.batch_size)
    info = start_or_resume(state_path if resume else None, model, opt, gen, command=command, recipe=asdict(r))
    t_start = time.time() - info["wall_time_s"]
    images = train_split.images.to(device)  # no labels in this loop: the code must find the digits alone
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
            idx = order[s * r.batch_size : (s + 1) * r.batch_size]
            x = dist_.shard(to_float(images[idx]))
            loss = F.mse_loss(net(x).recon, x)
            optimizer_step(opt, loss, info, len(idx))
            seen += len(idx)
            if s % 50 == 0:
                bar.set_postfix(mse=f"{loss.item():.4f}", sps=f"{seen / (time.time() - t0):.0f}")
            if r.smoke and s >= 3:
                break
        val = scored(model_name, model, val_split, device)
        row = {
            "epoch": epoch + 1,
            "samples_per_s": round(seen / (time.time() - t0), 1),
            **{k: val[k] for k in ("mse", "acc_majority", "acc_matched", "nmi") if k in val},
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
    metrics = scored(model_name, model, test, device)
    return finish(
        model,
        out,
        metrics,
        info,
        recipe={**asdict(r), "labels_used_in_training": False},
        device=device,
        data=data,
        dist_=dist_,
    )
