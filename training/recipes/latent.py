"""Recipe of `latent_classifier`: an MLP on the frozen code of a trained `autoencoder`.

The autoencoder's encoder is copied in and never updated; the codes of the training split are
computed once, and the head trains on them (Adam, cross-entropy). The autoencoder checkpoint's
own header is kept as `parent`, so the card shows what the classifier stands on.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..checkpoint import checkpoint_path, load_checkpoint, read_metadata, run_summary
from ..evaluate import batched, evaluate_latent_classifier
from ..loop import Recipe, Run, Stage


@dataclass
class LatentRecipe(Recipe):
    """Everything that decides how a run trains; stored in the checkpoint header."""

    resumable: ClassVar[bool] = False  # it trains in a minute
    data_parallel: ClassVar[bool] = False

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    # the frozen encoder: a checkpoint's name in the checkpoints folder, or a path to one
    autoencoder: str = "autoencoder"
    seed: int = 0
    val_size: int = 5000
    smoke: bool = False

    def encoder_path(self) -> Path:
        path = Path(self.autoencoder)
        return path if path.suffix == ".safetensors" else checkpoint_path(self.autoencoder)

    def build(self, spec, config, device):
        ae = load_checkpoint(self.encoder_path(), device)
        model = spec.build({**(config or {}), "autoencoder": dataclasses.asdict(ae.config)})
        model.encoder.load_state_dict(ae.encoder.state_dict())
        return model, run_summary(read_metadata(self.encoder_path()))

    def prepare(self, run: Run) -> None:
        run.model.eval()
        z = batched(run.model.encode, run.train.images, run.device).to(run.device)
        run.model.code_mean.copy_(z.mean(0))
        run.model.code_std.copy_(z.std(0))
        run.state.update(codes=z, labels=run.train.labels.to(run.device))

    def stages(self, run: Run) -> list[Stage]:
        return [Stage("epoch", self.epochs, torch.optim.Adam(run.model.head.parameters(), lr=self.lr))]

    def loss(self, run: Run, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        loss = F.cross_entropy(run.model.classify_code(run.state["codes"][idx]), run.state["labels"][idx])
        return loss, {"loss": loss}

    def validate(self, run: Run) -> dict:
        return {
            "acc": evaluate_latent_classifier(run.model, run.val.images, run.val.labels, device=run.device)[
                "acc"
            ]
        }
