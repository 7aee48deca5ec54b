"""`autoencoder`: an MLP autoencoder with a 6-d code (24 bytes as float32), the explorer's model.

The reference layers are 784-128-64-12-6 and back, ReLU between layers, a sigmoid on the output.
The widths are a config field so that a wider network can keep the same 6-d code.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from ..evaluate import reconstruction_metrics
from ..recipes.recon import ReconRecipe
from ..registry import ModelSpec, register


@dataclass
class AutoencoderConfig:
    hidden: list[int] = field(
        default_factory=lambda: [128, 64, 12]
    )  # encoder widths; the decoder mirrors them
    latent_dim: int = 6


class AutoencoderOutput(NamedTuple):
    recon: torch.Tensor  # (B, 1, 28, 28) in [0, 1]
    code: torch.Tensor  # (B, latent_dim)


def mlp(widths: list[int]) -> list[nn.Module]:
    """Linear layers through `widths` with a ReLU after every one but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU(inplace=True))
    return layers


class Autoencoder(nn.Module):
    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        widths = [28 * 28, *config.hidden, config.latent_dim]
        self.encoder = nn.Sequential(nn.Flatten(), *mlp(widths))
        self.decoder = nn.Sequential(*mlp(widths[::-1]), nn.Unflatten(1, (1, 28, 28)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code (B, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        code = self.encode(x)
        return AutoencoderOutput(recon=self.decode(code), code=code)


register(
    ModelSpec(
        name="autoencoder",
        module=Autoencoder,
        config_class=AutoencoderConfig,
        recipe=ReconRecipe(epochs=50, batch_size=64, lr=5e-4, optimizer="adam"),  # the write-up's
        evaluate=reconstruction_metrics,
        summary="the explorer's MLP autoencoder with a 6-d code",
        explore=True,
        card="reconstruction",
    )
)
