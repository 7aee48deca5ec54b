"""`neuron_ae`: the reference's 10-neuron bottleneck autoencoder, layer for layer.

Encoder Conv2d 1->4 k5, Conv2d 4->8 k5, Linear 3200->10; decoder Linear 10->400->4000, unflatten
to 10x20x20, ConvTranspose2d 10->10 k5 and 10->1 k5 back to 28x28. The write-up prints no
activations. `activation="none"` takes it as printed (the encoder is then one affine map, so its
neurons are linear features of the pixels); `"relu"` puts a ReLU after every hidden layer. Either
way the code itself has no activation, so the argmax over the 10 neurons reads raw, signed values,
and the output has a sigmoid for [0, 1] pixels.
"""

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ..evaluate import neuron_metrics
from ..recipes.recon import ReconRecipe
from ..registry import ModelSpec, register


@dataclass
class NeuronAEConfig:
    code: int = 10  # bottleneck neurons; the argmax over them is the unsupervised "digit"
    activation: str = "none"  # between hidden layers: "none" (the write-up as printed) or "relu"


class NeuronAEOutput(NamedTuple):
    recon: torch.Tensor  # (B, 1, 28, 28) in [0, 1]
    code: torch.Tensor  # (B, code) neuron activations


class NeuronAE(nn.Module):
    config_class = NeuronAEConfig

    def __init__(self, config: NeuronAEConfig):
        super().__init__()
        self.config = config
        if config.activation not in ("none", "relu"):
            raise ValueError(f"activation must be 'none' or 'relu', got {config.activation!r}")

        def act() -> nn.Module:
            return nn.ReLU(inplace=True) if config.activation == "relu" else nn.Identity()

        self.encoder = nn.Sequential(
            nn.Conv2d(1, 4, 5),
            act(),  # (B, 4, 24, 24)
            nn.Conv2d(4, 8, 5),
            act(),  # (B, 8, 20, 20)
            nn.Flatten(),
            nn.Linear(3200, config.code),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.code, 400),
            act(),
            nn.Linear(400, 4000),
            act(),
            nn.Unflatten(1, (10, 20, 20)),
            nn.ConvTranspose2d(10, 10, 5),
            act(),  # (B, 10, 24, 24)
            nn.ConvTranspose2d(10, 1, 5),  # (B, 1, 28, 28)
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The neuron activations (B, code); their argmax is the predicted neuron."""
        return self.encoder(x)

    def neurons(self, x: torch.Tensor) -> torch.Tensor:
        """Each code unit is a 'digit neuron' (the NeuronCode capability): the code itself."""
        return self.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> NeuronAEOutput:
        code = self.encode(x)
        return NeuronAEOutput(recon=self.decode(code), code=code)


register(
    ModelSpec(
        name="neuron_ae",
        module=NeuronAE,
        config_class=NeuronAEConfig,
        # the write-up's optimiser as given; it names no batch size or epoch count, so: 64 and 20
        recipe=ReconRecipe(epochs=20, batch_size=64, lr=0.01, momentum=0.5),
        evaluate=neuron_metrics,
        summary="the reference's 10-neuron bottleneck autoencoder",
        tab="neurons",
        labels={"mnist": "neuron_ae: the reference network, reconstruction only"},
        explore=True,
        card="neurons",
    )
)
