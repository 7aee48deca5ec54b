"""VAE with a convolutional encoder, a diagonal Gaussian posterior and a Bernoulli decoder (`vae`, `vae2d`).

The encoder (two stride-2 convolutions) gives the posterior's mean and log-variance (log-variance
rather than sigma: any real output is valid, so no ReLU or softplus clips it); the decoder gives
per-pixel Bernoulli logits, so the reconstruction term is a binary cross-entropy in nats against
dynamically binarized digits.

The decoder is dense (two hidden layers), not transposed convolutions: on a CPU it is what makes
a run of hundreds of epochs and the 1000-sample likelihood bound (10 million decodes) affordable.
`benchmarks/vae_decoder.py` measures both decoders' speed on the machine at hand.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from ..evaluate import vae_metrics
from ..recipes.vae import VAERecipe
from ..registry import ModelSpec, register


@dataclass
class VAEConfig:
    latent_dim: int = 32  # dimensions the data does not need collapse to the prior (the KL shows which)
    widths: list[int] = field(default_factory=lambda: [32, 64])  # encoder conv channels at 14x14 and 7x7
    hidden: int = 512  # width of the decoder's two hidden layers


@dataclass
class VAE2DConfig(VAEConfig):
    latent_dim: int = 2  # a plane the app can walk as a manifold grid


class Posterior(NamedTuple):
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)


class VAEOutput(NamedTuple):
    recon_logits: torch.Tensor  # (B, 1, 28, 28) Bernoulli logits; (k, B, 1, 28, 28) for k samples
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)
    z: torch.Tensor  # (B, D) one sample from the posterior; (k, B, D) for k


class VAE(nn.Module):
    config_class = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        c1, c2 = config.widths
        d = config.latent_dim
        # 4x4 kernels with stride 2 and padding 1 halve (and, transposed, double) 28 -> 14 -> 7 exactly
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),  # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),  # (B, c2, 7, 7)
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, 2 * d),  # mu and logvar side by side
        )
        h = config.hidden
        self.decoder = nn.Sequential(
            nn.Linear(d, h),
            nn.ReLU(inplace=True),
            nn.Linear(h, h),
            nn.ReLU(inplace=True),
            nn.Linear(h, 28 * 28),
            nn.Unflatten(1, (1, 28, 28)),  # one logit per pixel
        )

    def posterior(self, x: torch.Tensor) -> Posterior:
        """q(z|x) for images (B, 1, 28, 28) in [0, 1]."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return Posterior(mu, logvar)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean (B, D): the latent the explorer plots."""
        return self.posterior(x).mu

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, 1, 28, 28)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities (B, 1, 28, 28): the mean of p(x|z), what the app shows."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(
        self, x: torch.Tensor, gen: torch.Generator | None = None, eps: torch.Tensor | None = None
    ) -> VAEOutput:
        """One posterior sample per image; `eps` gives the standard normal draw explicitly, (B, D)
        for one sample per image or (k, B, D) for k (then z is (k, B, D) and the logits (k, B, 1, 28, 28))."""
        mu, logvar = self.posterior(x)
        # reparameterisation: z = mu + sigma * eps keeps the sample differentiable in mu and logvar
        if eps is None:
            eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        return VAEOutput(self.decode_logits(z.flatten(0, -2)).unflatten(0, z.shape[:-1]), mu, logvar, z)


class VAE2D(VAE):
    """The same network registered under its own name, so that its default latent is 2-d."""

    config_class = VAE2DConfig


register(
    ModelSpec(
        name="vae",
        module=VAE,
        config_class=VAEConfig,
        # the usual MNIST VAE settings (Adam 1e-3, batch 128) with cosine decay and a KL warm-up over
        # the first 5 epochs; likelihoods keep improving for hundreds of epochs (the published figures
        # train for thousands), 200 fit in about an hour on 2 CPU cores
        recipe=VAERecipe(epochs=200, batch_size=128, lr=1e-3, kl_warmup_epochs=5),
        evaluate=vae_metrics,
        summary="a VAE with a 32-d latent (conv encoder, dense Bernoulli decoder)",
        tab="vae",
        labels={"mnist": "vae: 32-d latent"},
        explore=True,
        card="vae",
    )
)
register(
    ModelSpec(
        name="vae2d",
        module=VAE2D,
        config_class=VAE2DConfig,
        # a 2-d latent has less to learn and saturates sooner
        recipe=VAERecipe(epochs=30, batch_size=128, lr=1e-3, kl_warmup_epochs=3),
        evaluate=vae_metrics,
        summary="the same VAE with a 2-d latent, walked as a manifold",
        tab="vae",
        labels={"mnist": "vae2d: 2-d latent"},
        explore=True,
        card="vae",
    )
)
