"""Does a drawn or uploaded picture look like a digit at all? The Denoise and neurons tabs say so
plainly when it does not, instead of presenting a confident answer about a scribble.

Two signs, each measured against the test digits: the network's own confidence, and how unlikely
the served VAE finds the picture (its negative ELBO in nats, from the posterior mean, so the same
picture always gets the same figure), compared with the same figure on the 10,000 test digits.
"""

from functools import cache

import torch

from training import registry
from training.vae_objective import elbo_terms

from . import runtime

UNLIKELY = 0.999  # a picture less likely than this share of the test digits is called unlike them
UNSURE = 0.5  # a top class probability below this is called unsure


def _vae() -> str | None:
    """The VAE that judges likelihood: the VAE tab's first model (the widest latent), if any."""
    names = [s.name for s in registry.shown_in("vae")]
    return names[0] if names else None


@torch.no_grad()
def neg_elbo(model, x: torch.Tensor) -> torch.Tensor:
    """-ELBO (B,) in nats of images (B, 1, 28, 28) in [0, 1], the grey values taken as pixel
    probabilities, the latent at the posterior mean (deterministic)."""
    eps = torch.zeros(len(x), model.config.latent_dim, device=x.device)  # z = mu + sigma * 0
    recon_nll, kl = elbo_terms(x, model(x, eps=eps))
    return recon_nll + kl


@cache
def test_scores(name: str) -> torch.Tensor:
    """The test digits' -ELBO under VAE `name`, sorted (10,000,), computed once."""
    model, images = runtime.model(name), runtime.test_set().images
    dev = runtime.device()
    scores = [
        neg_elbo(model, images[i : i + 1000, None].float().div(255).to(dev)).cpu()
        for i in range(0, 10000, 1000)
    ]
    return torch.cat(scores).sort().values


def remark(image: torch.Tensor, top: float | None = None, dataset: str = "mnist") -> str:
    """A plain sentence when `image` (1, 28, 28) looks unlike the test digits (the VAE's likelihood)
    or the network is unsure (`top`, its highest class probability, when it has one); "" otherwise.
    The VAE judges MNIST-style digits only; another data set gets the confidence check alone."""
    notes = []
    name = _vae() if dataset == "mnist" else None
    if name is not None and runtime.problem(name) is None:
        scores = test_scores(name)
        s = float(neg_elbo(runtime.model(name), image.reshape(1, 1, 28, 28).to(runtime.device()))[0])
        if s > float(scores[int(UNLIKELY * (len(scores) - 1))]):
            share = float((scores < s).double().mean())
            notes.append(
                f"it looks unlike any digit the models know: the VAE `{name}` finds it less likely than "
                f"{share:.1%} of the test digits ({s:.0f} nats; the test digits' median is "
                f"{float(scores.median()):.0f})"
            )
    if top is not None and top < UNSURE:
        notes.append(f"the network is unsure: its best answer has only {top:.0%}")
    return ("⚠️ **Treat this answer with care**: " + "; ".join(notes) + ".") if notes else ""


def warm() -> None:
    """The test digits' scores, for the app's warm-up thread."""
    name = _vae()
    if name is not None and runtime.problem(name) is None:
        test_scores(name)
