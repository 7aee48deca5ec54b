"""Training loop of the denoise-and-classify models (`denoiser`, `denoiser_ref`).

Each epoch shows every training image once per distortion of the recipe's mix (the reference's
"three copies"), each time freshly translated and distorted, in one shuffled stream.
Loss = cross-entropy(logits, label) + w * MSE(recon, clean), w following a piecewise schedule,
+ optionally cross-entropy of the head on the detached reconstruction (`recon_ce`): the app and
the protocol classify reconstructions too, and the decoder is not bent towards the classifier.
"""

import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import to_float
from .distortions import distort_mixed, translate
from .evaluate import evaluate_denoiser
from .loop import end_epoch, finish, lr_at, optimizer_step, setup, start_or_resume, warm_start


@dataclass
class Recipe:
    """Everything that decides how a run trains; stored in the checkpoint header."""

    epochs: int
    batch_size: int
    lr: float  # peak learning rate of AdamW
    weight_decay: float
    warmup_frac: float  # share of steps with a linear warm-up; 0 = constant lr (the reference)
    cosine: bool  # cosine decay to zero after warm-up
    mix: list[str]  # distortions each training image is shown with, once per epoch each
    mse_weights: list[list[float]]  # [[until_fraction_of_training, weight], ...]
    label_smoothing: float = 0.0
    recon_ce: float = (
        0.0  # weight of cross-entropy on the (detached) reconstructions: the head learns to read them
    )
    init: str | None = None  # checkpoint whose tensors of matching name and shape start the run
    seed: int = 0
    val_size: int = 5000
    dataset: str = "mnist"  # key of training.data.DATASETS (Fashion-MNIST has MNIST's shape and split)
    smoke: bool = False


RECIPES = {
    # lean model, tuned for CPU throughput: large batches, one-cycle style schedule, clean images in
    # the mix too (the app's "translate only" choice, and it helps clean/recon accuracy)
    # the hard distortions (rows/cols, fractional) twice per epoch; the head also reads reconstructions
    "denoiser": Recipe(
        epochs=12,
        batch_size=256,
        lr=4e-3,
        weight_decay=5e-4,
        warmup_frac=0.03,
        cosine=True,
        mix=["translate", "rows_cols", "rows_cols", "clamp", "fractional", "fractional"],
        mse_weights=[[0.4, 100.0], [0.6, 75.0], [0.8, 50.0], [1.0, 25.0]],
        label_smoothing=0.05,
        recon_ce=0.5,
    ),
    # the write-up's recipe: AdamW lr 1e-4, batch 64, 25 epochs of 3 copies, MSE weight 350 -> 275 -> 125 -> 25
    "denoiser_ref": Recipe(
        epochs=25,
        batch_size=64,
        lr=1e-4,
        weight_decay=0.01,
        warmup_frac=0.0,
        cosine=False,
        mix=["rows_cols", "clamp", "fractional"],
        mse_weights=[[0.4, 350.0], [0.6, 275.0], [0.8, 125.0], [1.0, 25.0]],
    ),
}


def mse_weight_at(step: int, total: int, r: Recipe) -> float:
    frac = step / max(1, total)
    for until, w in r.mse_weights:
        if frac < until:
            return w
    return r.mse_weights[-1][1]


@contextmanager
def frozen_batchnorm(model):
    """BatchNorm layers use (and keep) their running statistics inside the block. Reconstructions
    have no exact zeros, so their batch statistics differ wildly from those of distorted digits;
    mixing both into the running averages would break evaluation of either."""
    norms = [
        m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training
    ]
    for m in norms:
        m.eval()
    try:
        yield
    finally:
        for m in norms:
            m.train()


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
    model = build_model(model_name, config)
    parent = warm_start(model, r.init) if r.init else None
    model = model.to(device).to(memory_format=torch.channels_last)
    net = dist_.wrap(model)  # what training steps call; `model` is the same weights, unwrapped
    opt = torch.optim.AdamW(model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
    gen = torch.Generator(device=device).manual_seed(r.seed)
    n_kinds = len(r.mix)
    steps_per_epoch = math.ceil(len(train_split) * n_kinds / r.batch_size)
    total = steps_per_epoch * r.epochs
    info = start_or_resume(
        state_path if resume else None, model, opt, gen, command=command, recipe=asdict(r), parent=parent
    )
    t_start = time.time() - info["wall_time_s"]
    images = train_split.images.to(device)
    labels = train_split.labels.to(device)
    for epoch in range(info["epoch"], r.epochs):
        model.train()
        # every (image, distortion) pair once, shuffled together
        order = torch.randperm(len(images) * n_kinds, generator=gen, device=device)
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
            img_idx, kinds = idx % len(images), idx // len(images)
            clean = translate(to_float(images[img_idx]), gen)
            noisy = distort_mixed(clean, kinds, tuple(r.mix), gen)
            # every process drew the same global batch; each trains on its own shard of it
            clean, noisy, y = (dist_.shard(t) for t in (clean, noisy, labels[img_idx]))
            noisy = noisy.contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, r)
            w = mse_weight_at(step, total, r)
            pred = net(noisy)
            ce = F.cross_entropy(pred.logits, y, label_smoothing=r.label_smoothing)
            mse = F.mse_loss(pred.recon, clean)
            loss = ce + w * mse
            if r.recon_ce:
                recon = pred.recon.detach().contiguous(memory_format=torch.channels_last)
                with frozen_batchnorm(model):
                    recon_logits = model.classify(recon)
                loss = loss + r.recon_ce * F.cross_entropy(recon_logits, y, label_smoothing=r.label_smoothing)
            optimizer_step(opt, loss, info, len(idx))
            seen += len(idx)
            if s % 20 == 0:
                bar.set_postfix(
                    ce=f"{ce.item():.3f}", mse=f"{mse.item():.4f}", sps=f"{seen / (time.time() - t0):.0f}"
                )
            if r.smoke and s >= 3:
                break
        val = evaluate_denoiser(model, val_split.images, val_split.labels, seed=r.seed + 1, device=device)
        row = {
            "epoch": epoch + 1,
            "samples_per_s": round(seen / (time.time() - t0), 1),
            **{k: val[k] for k in ("acc_clean", "acc_noisy", "acc_recon", "psnr_recon_clamp")},
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
    metrics = evaluate_denoiser(model, test.images, test.labels, device=device)
    return finish(model, out, metrics, info, recipe=asdict(r), device=device, data=data, dist_=dist_)
