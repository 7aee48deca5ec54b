"""`latent_classifier`: the "hybrid" design, a small MLP that reads digits from the frozen 6-d code
of the explorer's `autoencoder`.

The autoencoder's encoder is kept inside (frozen, copied from its checkpoint at training time), so
one file serves both the code and the prediction and the two can never drift apart.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from ..evaluate import latent_classifier_metrics
from ..recipes.latent import LatentRecipe
from ..registry import ModelSpec, register
from .autoencoder import Autoencoder, AutoencoderConfig, mlp


@dataclass
class LatentClassifierConfig:
    autoencoder: dict = field(default_factory=dict)  # config of the autoencoder whose encoder is inside
    hidden: list[int] = field(default_factory=lambda: [256, 256])


class LatentClassifierOutput(NamedTuple):
    logits: torch.Tensor  # (B, 10)
    code: torch.Tensor  # (B, latent_dim) the autoencoder's code


class LatentClassifier(nn.Module):
    config_class = LatentClassifierConfig

    def __init__(self, config: LatentClassifierConfig):
        super().__init__()
        self.config = config
        ae = AutoencoderConfig(**config.autoencoder)
        self.encoder = Autoencoder(ae).encoder
        self.encoder.requires_grad_(False)
        # the head reads standardised codes; the statistics are those of the training split's codes
        self.register_buffer("code_mean", torch.zeros(ae.latent_dim))
        self.register_buffer("code_std", torch.ones(ae.latent_dim))
        self.head = nn.Sequential(*mlp([ae.latent_dim, *config.hidden, 10]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The autoencoder's code (B, latent_dim)."""
        return self.encoder(x)

    def classify_code(self, z: torch.Tensor) -> torch.Tensor:
        return self.head((z - self.code_mean) / self.code_std)

    def forward(self, x: torch.Tensor) -> LatentClassifierOutput:
        code = self.encode(x)
        return LatentClassifierOutput(logits=self.classify_code(code), code=code)


register(
    ModelSpec(
        name="latent_classifier",
        module=LatentClassifier,
        config_class=LatentClassifierConfig,
        recipe=LatentRecipe(),
        evaluate=latent_classifier_metrics,
        summary="an MLP reading digits from the frozen autoencoder's code",
        card="code_classifier",
    )
)
