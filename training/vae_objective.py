"""The VAE's objective and likelihood bound, as pure functions (nats per image throughout).

Images are binarized (a Bernoulli draw per pixel with the grey value as probability) so that the
Bernoulli decoder's likelihood is a proper probability and comparable with published MNIST NLLs.
"""

import math

import torch
import torch.nn.functional as F

from .models.vae import VAEOutput


def binarize(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel is 1 with probability x (any shape, values in [0, 1])."""
    return torch.bernoulli(x, generator=gen)


def bernoulli_nll(logits: torch.Tensor, x_bin: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per image, summed over pixels: (..., 1, 28, 28) -> (...)."""
    return F.binary_cross_entropy_with_logits(logits, x_bin.expand_as(logits), reduction="none").flatten(-3).sum(-1)


def elbo_terms(x_bin: torch.Tensor, out: VAEOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction NLL, KL(q(z|x) || N(0, I))), each (B,); their sum is the negative ELBO."""
    recon_nll = bernoulli_nll(out.recon_logits, x_bin)
    # analytic KL of a diagonal Gaussian against the standard normal prior
    kl = 0.5 * (out.mu.pow(2) + out.logvar.exp() - 1 - out.logvar).sum(1)
    return recon_nll, kl


@torch.no_grad()
def iwae_nll(model, x_bin: torch.Tensor, k: int, gen: torch.Generator | None = None, chunk: int = 50) -> torch.Tensor:
    """Importance-weighted estimate of -log p(x) (B,) with k posterior samples per image
    (Burda et al. 2016): -log mean_k p(x|z) p(z) / q(z|x). It tightens towards -log p(x) as k
    grows and equals the single-sample negative ELBO at k = 1. The decoder sees `chunk` samples
    of the whole batch at a time, so memory grows with chunk * B, not k * B."""
    mu, logvar = model.posterior(x_bin)  # (B, D) each
    std = torch.exp(0.5 * logvar)
    log_w = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        eps = torch.randn((m, *mu.shape), generator=gen, device=mu.device, dtype=mu.dtype)  # (m, B, D)
        z = mu + std * eps
        logits = model.decode_logits(z.flatten(0, 1)).unflatten(0, (m, len(mu)))  # (m, B, 1, 28, 28)
        # log p(z) - log q(z|x); the -0.5 log(2 pi) per dimension of both cancels
        log_pz_over_qz = 0.5 * (eps.pow(2) + logvar - z.pow(2)).sum(-1)  # (m, B)
        log_w.append(-bernoulli_nll(logits, x_bin) + log_pz_over_qz)
    return math.log(k) - torch.cat(log_w).logsumexp(0)  # (B,)
