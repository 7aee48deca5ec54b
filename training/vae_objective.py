"""The VAE's objective and likelihood bound, as pure functions (nats per image throughout).

Images are binarized (a Bernoulli draw per pixel with the grey value as probability) so that the
Bernoulli decoder's likelihood is a proper probability and comparable with published MNIST NLLs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .models.vae import VAEOutput


def binarize(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel is 1 with probability x (any shape, values in [0, 1])."""
    return torch.bernoulli(x, generator=gen)


def bernoulli_nll(logits: torch.Tensor, x_bin: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per image, summed over pixels: (..., 1, 28, 28) -> (...)."""
    return (
        F.binary_cross_entropy_with_logits(logits, x_bin.expand_as(logits), reduction="none")
        .flatten(-3)
        .sum(-1)
    )


def elbo_terms(x_bin: torch.Tensor, out: VAEOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction NLL, KL(q(z|x) || N(0, I))), each (B,); their sum is the negative ELBO."""
    recon_nll = bernoulli_nll(out.recon_logits, x_bin)
    # analytic KL of a diagonal Gaussian against the standard normal prior
    kl = 0.5 * (out.mu.pow(2) + out.logvar.exp() - 1 - out.logvar).sum(1)
    return recon_nll, kl


def log_weights(x_bin: torch.Tensor, out: VAEOutput, eps: torch.Tensor) -> torch.Tensor:
    """log p(x|z) + log p(z) - log q(z|x) (k, B) for the k posterior samples z = mu + sigma * eps
    of each image, `out` the model's output for eps (k, B, D). The -0.5 log(2 pi) per dimension
    of log p(z) and log q(z|x) cancels."""
    return -bernoulli_nll(out.recon_logits, x_bin) + 0.5 * (eps.pow(2) + out.logvar - out.z.pow(2)).sum(-1)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """-log mean_k exp(log_w) (B,) from log weights (k, B): the importance-weighted bound on
    -log p(x) (Burda et al. 2016), which tightens as k grows and is the single-sample negative
    ELBO at k = 1."""
    return math.log(len(log_w)) - log_w.logsumexp(0)


@torch.no_grad()
def iwae_nll(
    model, x_bin: torch.Tensor, k: int, gen: torch.Generator | None = None, chunk: int = 50
) -> torch.Tensor:
    """Estimate of -log p(x) (B,) by the importance-weighted bound with k posterior samples per
    image. The decoder sees `chunk` samples of the whole batch at a time, so memory grows with
    chunk * B, not k * B."""
    shape = (len(x_bin), model.config.latent_dim)
    log_w = []
    for start in range(0, k, chunk):  # the encoder runs once per chunk: cheap beside the decodes
        eps = torch.randn(
            (min(chunk, k - start), *shape), generator=gen, device=x_bin.device, dtype=x_bin.dtype
        )  # (m, B, D)
        log_w.append(log_weights(x_bin, model(x_bin, eps=eps), eps))
    return iwae_bound(torch.cat(log_w))
