"""Recipe of the autoencoders trained on reconstruction alone: `neuron_ae` (the reference's
10-neuron bottleneck) and `autoencoder` (the explorer's 6-d MLP).

The loss reads images, never labels (for `neuron_ae` labels score the code afterwards, in its
evaluation). Each recipe is its write-up's: MSE with SGD lr 0.01, momentum 0.5 for `neuron_ae`;
MSE with Adam lr 5e-4, batch 64, 50 epochs for `autoencoder`.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import to_float
from ..evaluate import EvalOptions
from ..loop import Recipe, Run, Stage

SHOWN = ("mse", "acc_majority", "acc_matched", "nmi")  # validation figures kept in the history


@dataclass
class ReconRecipe(Recipe):
    """Everything that decides how a run trains; stored in the checkpoint header."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.0  # SGD only
    optimizer: str = "sgd"  # "sgd" or "adam"
    seed: int = 0
    val_size: int = 5000
    smoke: bool = False

    def header(self) -> dict:
        return {**super().header(), "labels_used_in_training": False}

    def prepare(self, run: Run) -> None:
        # no labels in this recipe: the code must find the digits alone
        run.state["images"] = run.train.images.to(run.device)

    def stages(self, run: Run) -> list[Stage]:
        params = run.model.parameters()
        if self.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)
        elif self.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=self.lr)
        else:
            raise SystemExit(f"unknown optimizer {self.optimizer!r}: sgd or adam")
        return [Stage("epoch", self.epochs, opt)]

    def loss(self, run: Run, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        x = run.dist.shard(to_float(run.state["images"][idx]))
        loss = F.mse_loss(run.net(x).recon, x)
        return loss, {"mse": loss}

    def validate(self, run: Run) -> dict:
        val = run.spec.evaluate(run.model, run.val, EvalOptions(device=run.device))
        return {k: val[k] for k in SHOWN if k in val}
