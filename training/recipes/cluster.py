"""Recipe of `cluster_ae`: ten bottleneck neurons that find the ten digits with no labels.

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

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..data import to_float
from ..evaluate import batched, evaluate_neurons
from ..loop import Recipe, Run, Stage


@dataclass
class ClusterRecipe(Recipe):
    """Everything that decides how a run trains; stored in the checkpoint header."""

    resumable: ClassVar[bool] = False  # about half an hour on two CPU cores, in one go
    data_parallel: ClassVar[bool] = False  # the clustering stage is not data-parallel

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

    def header(self) -> dict:
        return {**super().header(), "labels_used_in_training": False}

    def prepare(self, run: Run) -> None:
        run.state["images"] = run.train.images.to(run.device)  # the only training data: no labels
        run.state["targets"] = None

    def stages(self, run: Run) -> list[Stage]:
        params = list(run.model.parameters())
        finetune = 1 if self.smoke else self.finetune_epochs
        stages = [Stage("pretrain", self.epochs, torch.optim.Adam(params, lr=self.lr))]
        for i in range(self.rounds):
            # first the mixture's targets, then the network's own confident answers
            begin = (lambda: self._cluster(run)) if i == 0 else (lambda: self._own_targets(run))
            stages.append(
                Stage(f"self-train {i + 1}", finetune, torch.optim.Adam(params, lr=self.finetune_lr), begin)
            )
        return stages

    def _cluster(self, run: Run) -> None:
        """Stage 2: UMAP of the encoder's features and a Gaussian mixture; its confident
        assignments become the targets."""
        t0 = time.time()
        run.model.eval()
        features = batched(run.model.features, run.train.images, run.device).numpy()
        cluster, posterior = mixture_targets(embed(features, self), self.seed)
        self._set_targets(run, torch.from_numpy(np.where(posterior >= self.confidence, cluster, -1)))
        run.info["clustering"] = {"seconds": round(time.time() - t0, 1), "targets_share": self._share(run)}
        print(f"clustering: {run.info['clustering']}", flush=True)

    def _own_targets(self, run: Run) -> None:
        run.model.eval()
        conf, own = batched(run.model.encode, run.train.images, run.device).softmax(1).max(1)
        self._set_targets(run, torch.where(conf >= self.confidence, own, -1))

    @staticmethod
    def _set_targets(run: Run, targets: torch.Tensor) -> None:
        run.state["targets"] = targets.to(run.device)

    @staticmethod
    def _share(run: Run) -> float:
        return round(float((run.state["targets"] >= 0).float().mean()), 4)

    def loss(self, run: Run, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Reconstruction, plus cross-entropy on the code where a target exists (>= 0)."""
        x = to_float(run.state["images"][idx])
        targets = run.state["targets"]
        if targets is not None:
            x = shift_batch(x, self.shift, run.gen)
        out = run.model(x)
        loss = F.binary_cross_entropy(out.recon, x)
        if targets is not None:
            loss = self.recon_weight * loss
            t = targets[idx]
            keep = t >= 0
            if keep.any():
                loss = loss + F.cross_entropy(out.code[keep], t[keep])
        return loss, {"loss": loss}

    def validate(self, run: Run) -> dict:
        val = evaluate_neurons(run.model, run.val.images, run.val.labels, device=run.device)
        row = {k: val[k] for k in ("mse", "acc_majority", "acc_matched", "nmi")}
        if run.state["targets"] is not None:
            row["targets_share"] = self._share(run)
        return row


def embed(features: np.ndarray, r: ClusterRecipe) -> np.ndarray:
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
