"""The reference write-up's shared-encoder network, layer for layer (2,062,859 parameters).

Kept so that the lean `denoiser` can be compared with it on the same protocol. Module names and
indices follow the write-up's parameter table (encoder1.0, classification_head.1, ...).
"""

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ..evaluate import denoise_metrics
from ..recipes.denoise import DenoiseRecipe
from ..registry import ModelSpec, register


@dataclass
class DenoiserRefConfig:
    pass  # the reference has no knobs: every size is fixed by its parameter table


class DenoiserRefOutput(NamedTuple):
    recon: torch.Tensor  # (B, 1, 28, 28) in [0, 1]
    logits: torch.Tensor  # (B, 10); the reference ends in log-softmax, which is still valid logits


def _block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


def _decoder(c_in: int, c_skip: int, c_out: int) -> nn.Sequential:
    # index 0 is the upsampling; the skip tensor is concatenated before index 2
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 2, stride=2),
        nn.ReLU(),
        nn.Conv2d(c_out + c_skip, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class DenoiserRef(nn.Module):
    config_class = DenoiserRefConfig

    def __init__(self, config: DenoiserRefConfig):
        super().__init__()
        self.config = config
        self.encoder1 = _block(1, 32, pool=True)  # -> (B, 32, 14, 14)
        self.encoder2 = _block(32, 64, pool=True)  # -> (B, 64, 7, 7)
        self.bottleneck = _block(64, 128, pool=False)  # -> (B, 128, 7, 7)
        self.classification_head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 7 * 7, 256),
            nn.ReLU(),
            nn.Linear(256, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
            nn.LogSoftmax(dim=1),
        )
        self.decoder1 = _decoder(128, 32, 64)  # skip: encoder1's output, (B, 32, 14, 14)
        self.decoder2 = _decoder(64, 1, 32)  # skip: the input image, (B, 1, 28, 28)
        self.output = nn.Sequential(nn.Conv2d(32, 1, 1), nn.Sigmoid())

    @staticmethod
    def _decode(block: nn.Sequential, z: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = block[1](block[0](z))
        return block[2:](torch.cat([up, skip], 1))

    def forward(self, x: torch.Tensor) -> DenoiserRefOutput:
        e1 = self.encoder1(x)
        z = self.bottleneck(self.encoder2(e1))
        d1 = self._decode(self.decoder1, z, e1)  # (B, 64, 14, 14)
        d2 = self._decode(self.decoder2, d1, x)  # (B, 32, 28, 28)
        return DenoiserRefOutput(recon=self.output(d2), logits=self.classification_head(z))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.classification_head(self.bottleneck(self.encoder2(self.encoder1(x))))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Globally averaged bottleneck features (B, 128): the latent the explorer plots."""
        return self.bottleneck(self.encoder2(self.encoder1(x))).mean((2, 3))


register(
    ModelSpec(
        name="denoiser_ref",
        module=DenoiserRef,
        config_class=DenoiserRefConfig,
        # the write-up's recipe: AdamW lr 1e-4, batch 64, 25 epochs of 3 copies, MSE weight 350 -> 275
        # -> 125 -> 25 over 10 + 5 + 5 + 5 epochs
        recipe=DenoiseRecipe(
            epochs=25,
            batch_size=64,
            lr=1e-4,
            weight_decay=0.01,
            warmup_frac=0.0,
            cosine=False,
            mix=["rows_cols", "clamp", "fractional"],
            mse_weights=[[0.4, 350.0], [0.6, 275.0], [0.8, 125.0], [1.0, 25.0]],
        ),
        evaluate=denoise_metrics,
        summary="the reference write-up's shared-encoder network, layer for layer",
        datasets=("mnist", "fashion"),
        tab="denoise",
        labels={"mnist": "The reference write-up's network (denoiser_ref)"},
        card="denoise",
    )
)
