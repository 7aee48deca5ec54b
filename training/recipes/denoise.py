"""Recipe of the denoise-and-classify models (`denoiser`, `denoiser_ref`).

Each epoch shows every training image once per distortion of the recipe's mix (the reference's
"three copies"), each time freshly translated and distorted, in one shuffled stream.
Loss = cross-entropy(logits, label) + w * MSE(recon, clean), w following a piecewise schedule,
+ optionally cross-entropy of the head on the detached reconstruction (`recon_ce`): the app and
the protocol classify reconstructions too, and the decoder is not bent towards the classifier.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..augment import augment
from ..data import to_float
from ..distortions import distort_mixed, translate
from ..evaluate import evaluate_denoiser
from ..loop import Recipe, Run, Stage, lr_at


@dataclass
class DenoiseRecipe(Recipe):
    """Everything that decides how a run trains; stored in the checkpoint header."""

    channels_last: ClassVar[bool] = True

    epochs: int
    batch_size: int
    lr: float  # peak learning rate of AdamW
    weight_decay: float
    warmup_frac: float  # share of steps with a linear warm-up; 0 = constant lr (the reference)
    cosine: bool  # cosine decay to zero after warm-up
    mix: list[str]  # distortions each training image is shown with, once per epoch each
    mse_weights: list[list[float]]  # [[until_fraction_of_training, weight], ...]
    label_smoothing: float = 0.0
    # weight of cross-entropy on the (detached) reconstructions: the head learns to read them
    recon_ce: float = 0.0
    # share of training images each augmentation of training/augment.py is applied to, e.g.
    # {"thickness": 0.2, "blur": 0.1}: handwriting that is not MNIST's pen, scanner or slant
    augment: dict[str, float] = field(default_factory=dict)
    init: str | None = None  # checkpoint whose tensors of matching name and shape start the run
    seed: int = 0
    val_size: int = 5000
    dataset: str = "mnist"  # key of training.data.DATASETS (Fashion-MNIST has MNIST's shape and split)
    smoke: bool = False

    def prepare(self, run: Run) -> None:
        run.state["images"] = run.train.images.to(run.device)
        run.state["labels"] = run.train.labels.to(run.device)

    def stages(self, run: Run) -> list[Stage]:
        opt = torch.optim.AdamW(run.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return [Stage("epoch", self.epochs, opt)]

    def epoch_size(self, run: Run) -> int:
        return len(run.train) * len(self.mix)  # every (image, distortion) pair once

    def loss(self, run: Run, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        images, labels = run.state["images"], run.state["labels"]
        step = run.info["step"]
        img_idx, kinds = idx % len(images), idx // len(images)
        digits = to_float(images[img_idx])
        if self.augment:
            digits = augment(digits, self.augment, run.gen)
        clean = translate(digits, run.gen)
        noisy = distort_mixed(clean, kinds, tuple(self.mix), run.gen)
        # every process drew the same global batch; each trains on its own shard of it
        clean, noisy, y = (run.dist.shard(t) for t in (clean, noisy, labels[img_idx]))
        noisy = noisy.contiguous(memory_format=torch.channels_last)
        for g in run.opt.param_groups:
            g["lr"] = lr_at(step, run.total_steps, self)
        pred = run.net(noisy)
        ce = F.cross_entropy(pred.logits, y, label_smoothing=self.label_smoothing)
        mse = F.mse_loss(pred.recon, clean)
        loss = ce + mse_weight_at(step, run.total_steps, self) * mse
        if self.recon_ce:
            recon = pred.recon.detach().contiguous(memory_format=torch.channels_last)
            with frozen_batchnorm(run.model):
                recon_logits = run.model.classify(recon)
            loss = loss + self.recon_ce * F.cross_entropy(
                recon_logits, y, label_smoothing=self.label_smoothing
            )
        return loss, {"ce": ce, "mse": mse}

    def validate(self, run: Run) -> dict:
        val = evaluate_denoiser(
            run.model, run.val.images, run.val.labels, seed=self.seed + 1, device=run.device
        )
        return {k: val[k] for k in ("acc_clean", "acc_noisy", "acc_recon", "psnr_recon_clamp")}


def mse_weight_at(step: int, total: int, r: DenoiseRecipe) -> float:
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
