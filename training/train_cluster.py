"""Training of `cluster_ae`: ten bottleneck neurons that find the ten digits with no labels.

Three stages, none of which reads a label (labels only score the result, in evaluate_neurons):

1. pretrain: a plain autoencoder (binary cross-entropy on the pixels) with a 10-d code;
2. cluster: the encoder's last hidden layer (the 1152 features that feed the 10 neurons) of every
   training image is embedded by UMAP, which keeps the local neighbourhoods that separate the
   digits, and a 10-component Gaussian mixture is fitted to that embedding (the N2D recipe, on
   features rather than the code: in a trial the 10-d code, tuned for reconstruction alone, let
   the mixture merge 4 with 9 and split the 1s); the mixture's confident assignments become
   pseudo-targets;
3. self-train: the same network learns to make the neuron of its cluster the most active one
   (cross-entropy on the code, confident images only) while it keeps reconstructing; a second
   round takes its own confident answers as the targets, which cleans up the mixture's mistakes.
"""

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import to_float
from .evaluate import batched, evaluate_neurons
from .loop import end_epoch, finish, optimizer_step, setup, start_or_resume


@dataclass
class Recipe:
    """Everything that decides how a run trains; stored in the checkpoint header."""

    epochs: int = 10  # stage 1: autoencoder pretraining
    finetune_epochs: int = 4  # stage 3: per self-training round
    rounds: int = 2  # self-training rounds (1: the mixture's targets only)
    batch_size: int = 256
    lr: float = 1e-3
    finetune_lr: float = 3e-4
    umap_neighbors: int = 20
    umap_dim: int = 10
    confidence: float = 0.99  # posterior (mixture, then softmax of the code) an image needs to be a target
    recon_weight: float = 1.0  # keeps the code a code: the decoder still reads the same 10 neurons
    shift: int = 2  # self-training sees each image moved by up to this many pixels (a digit is where it is)
    seed: int = 0
    val_size: int = 5000
    smoke: bool = False


RECIPES = {"cluster_ae": Recipe()}


def embed(features: np.ndarray, r: Recipe) -> np.ndarray:
    """UMAP of the features; the import is here because numba compiles umap on first use."""
    import umap

    n_neighbors = min(r.umap_neighbors, len(features) - 1)
    reducer = umap.UMAP(n_components=r.umap_dim, n_neighbors=n_neighbors, min_dist=0.0, random_state=r.seed)
    return reducer.fit_transform(features).astype(np.float64)


def mixture_targets(embedding: np.ndarray, seed: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Cluster index and its posterior probability for every row, from a k-component Gaussian mixture."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=2).fit(embedding)
    posterior = gmm.predict_proba(embedding)
    return posterior.argmax(1), posterior.max(1)


def shift_batch(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Every image moved by its own random (dy, dx) in [-max_shift, max_shift], zero-filled."""
    if max_shift == 0:
        return x
    b = len(x)
    d = torch.randint(-max_shift, max_shift + 1, (2, b), generator=gen, device=x.device)
    pad = F.pad(x, (max_shift,) * 4)
    rows = torch.arange(28, device=x.device)[None, :] + max_shift - d[0][:, None]  # (B, 28)
    cols = torch.arange(28, device=x.device)[None, :] + max_shift - d[1][:, None]
    return pad[
        torch.arange(b, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]
    ].permute(0, 3, 1, 2)


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
        raise SystemExit(
            "cluster_ae trains in one go (about half an hour on two CPU cores); --resume and --max-minutes are not supported"
        )
    dist_, data, train_split, val_split, test = setup(r, device)
    if dist_.world > 1:
        raise SystemExit("cluster_ae trains in one process (its clustering stage is not data-parallel)")
    model = build_model(model_name, config).to(device)
    gen = torch.Generator(device=device).manual_seed(r.seed)
    images = train_split.images  # the only training data: no labels past this line
    info = start_or_resume(None, model, None, gen, command=command, recipe=asdict(r))
    t_start = time.time()
    finetune_epochs = 1 if r.smoke else r.finetune_epochs
    epochs_total = r.epochs + r.rounds * finetune_epochs

    def run_epoch(opt, stage: str, targets: torch.Tensor | None = None) -> dict:
        """One pass: reconstruction, plus cross-entropy on the code where a target exists (>= 0)."""
        model.train()
        order = torch.randperm(len(images), generator=gen, device="cpu")
        steps = math.ceil(len(images) / r.batch_size)
        bar = tqdm(
            range(steps), desc=f"{stage} {info['epoch'] + 1}/{epochs_total}", mininterval=5, leave=False
        )
        seen, t0 = 0, time.time()
        for s in bar:
            idx = order[s * r.batch_size : (s + 1) * r.batch_size]
            x = to_float(images[idx]).to(device)
            if targets is not None:
                x = shift_batch(x, r.shift, gen)
            out = model(x)
            loss = F.binary_cross_entropy(out.recon, x)
            if targets is not None:
                loss = r.recon_weight * loss
                t = targets[idx].to(device)
                keep = t >= 0
                if keep.any():
                    loss = loss + F.cross_entropy(out.code[keep], t[keep])
            optimizer_step(opt, loss, info, len(idx))
            seen += len(idx)
            if s % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}", sps=f"{seen / (time.time() - t0):.0f}")
            if r.smoke and s >= 3:
                break
        val = evaluate_neurons(model, val_split.images, val_split.labels, device=device)
        return {
            "epoch": info["epoch"] + 1,
            "stage": stage,
            "samples_per_s": round(seen / (time.time() - t0), 1),
            **{k: val[k] for k in ("mse", "acc_majority", "acc_matched", "nmi")},
        }

    # 1. pretrain
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    for _ in range(r.epochs):
        end_epoch(
            info,
            run_epoch(opt, "pretrain"),
            t_start=t_start,
            state_path=None,
            model=model,
            opt=opt,
            gen=gen,
            max_minutes=None,
            epochs=epochs_total,
        )

    # 2. cluster the features (UMAP + Gaussian mixture)
    t0 = time.time()
    model.eval()
    cluster, posterior = mixture_targets(embed(batched(model.features, images, device).numpy(), r), r.seed)
    targets = torch.from_numpy(np.where(posterior >= r.confidence, cluster, -1))
    info["clustering"] = {
        "seconds": round(time.time() - t0, 1),
        "targets_share": round(float((targets >= 0).float().mean()), 4),
    }
    print(f"clustering: {info['clustering']}", flush=True)

    # 3. self-train, first on the mixture's targets, then on the network's own confident answers
    for round_ in range(r.rounds):
        if round_ > 0:
            model.eval()
            probs = batched(model.encode, images, device).softmax(1)
            conf, own = probs.max(1)
            targets = torch.where(conf >= r.confidence, own, -1)
        opt = torch.optim.Adam(model.parameters(), lr=r.finetune_lr)
        for _ in range(finetune_epochs):
            row = run_epoch(opt, f"self-train {round_ + 1}", targets)
            row["targets_share"] = round(float((targets >= 0).float().mean()), 4)
            end_epoch(
                info,
                row,
                t_start=t_start,
                state_path=None,
                model=model,
                opt=opt,
                gen=gen,
                max_minutes=None,
                epochs=epochs_total,
            )

    metrics = evaluate_neurons(model, test.images, test.labels, device=device)
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
