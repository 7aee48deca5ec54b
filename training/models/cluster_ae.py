"""`cluster_ae`: a convolutional autoencoder whose 10-neuron code is read by argmax as a digit.

The architecture is plain (three strided convs, a linear code of 10 neurons, the mirror image back
to 28x28); what makes its neurons digits is the training in `training/train_cluster.py`, which never
sees a label. The code is linear (no activation), so argmax reads raw, signed activations as in
`neuron_ae`, and the decoder reconstructs from those same 10 numbers.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from ..evaluate import neuron_metrics
from ..recipes.cluster import ClusterRecipe
from ..registry import ModelSpec, register


@dataclass
class ClusterAEConfig:
    code: int = 10  # bottleneck neurons, one per cluster
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # conv channels at 14x14, 7x7, 3x3


class ClusterAEOutput(NamedTuple):
    recon: torch.Tensor  # (B, 1, 28, 28) in [0, 1]
    code: torch.Tensor  # (B, code) neuron activations; argmax is the cluster


def block(conv: nn.Module) -> list[nn.Module]:
    """conv, BatchNorm, ReLU: without the normalisation a sigmoid autoencoder sits for hundreds of steps
    on the plateau where it outputs an empty image."""
    return [conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU(inplace=True)]


class ClusterAE(nn.Module):
    config_class = ClusterAEConfig

    def __init__(self, config: ClusterAEConfig):
        super().__init__()
        self.config = config
        c1, c2, c3 = config.widths
        self.encoder = nn.Sequential(
            *block(nn.Conv2d(1, c1, 5, stride=2, padding=2)),  # (B, c1, 14, 14)
            *block(nn.Conv2d(c1, c2, 5, stride=2, padding=2)),  # (B, c2, 7, 7)
            *block(nn.Conv2d(c2, c3, 3, stride=2)),  # (B, c3, 3, 3)
            nn.Flatten(),
            nn.Linear(c3 * 9, config.code),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.code, c3 * 9),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (c3, 3, 3)),
            *block(nn.ConvTranspose2d(c3, c2, 3, stride=2)),  # (B, c2, 7, 7)
            *block(nn.ConvTranspose2d(c2, c1, 5, stride=2, padding=2, output_padding=1)),  # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 5, stride=2, padding=2, output_padding=1),  # (B, 1, 28, 28)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden layer (B, 9 * widths[-1]), the input of the 10 code neurons.
        Training clusters these: they keep what tells a 4 from a 9, which 10 numbers tuned for
        reconstruction alone blur."""
        return self.encoder[:-1](x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The neuron activations (B, code); their argmax is the predicted cluster."""
        return self.encoder(x)

    def neurons(self, x: torch.Tensor) -> torch.Tensor:
        """Each code unit is a 'digit neuron' (the NeuronCode capability): the code itself."""
        return self.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> ClusterAEOutput:
        code = self.encode(x)
        return ClusterAEOutput(recon=self.decode(code), code=code)


register(
    ModelSpec(
        name="cluster_ae",
        module=ClusterAE,
        config_class=ClusterAEConfig,
        recipe=ClusterRecipe(),
        evaluate=neuron_metrics,
        summary="ten bottleneck neurons that cluster the digits, trained without labels",
        tab="neurons",
        labels={"mnist": "cluster_ae: trained to cluster, no labels"},
        explore=True,
        card="neurons",
    )
)
