"""Recipe of the VAEs (`vae`, `vae2d`).

Every batch is binarized afresh (dynamic binarization: a new Bernoulli draw per pixel each time an
image is seen), which acts as data augmentation and keeps the Bernoulli likelihood honest.
Loss = reconstruction NLL + beta * KL per image (nats), beta rising linearly from 0 to 1 over the
first epochs (KL warm-up) so that the decoder learns to use the latent before the prior pulls on it.
With `train_k` > 1 the loss is instead the importance-weighted bound on k posterior samples per
image (IWAE, Burda et al. 2016): a tighter bound on -log p(x) than the ELBO, so minimising it
improves the likelihood itself; it has no KL term, so no warm-up (it is meant for warm starts).
"""

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..data import to_float
from ..evaluate import EvalOptions, evaluate_vae
from ..loop import Recipe, Run, Stage, lr_at
from ..vae_objective import binarize, elbo_terms, iwae_bound, log_weights


@dataclass
class VAERecipe(Recipe):
    """Everything that decides how a run trains; stored in the checkpoint header."""

    channels_last: ClassVar[bool] = True

    epochs: int
    batch_size: int
    lr: float  # peak learning rate of Adam
    kl_warmup_epochs: float  # beta goes 0 -> 1 linearly over these epochs; 0 = full KL from the start
    # share of steps with a linear lr warm-up (read by lr_at); the KL warm-up already eases the start
    warmup_frac: float = 0.0
    cosine: bool = True  # cosine decay of the lr to zero
    iwae_k: int = 1000  # importance samples per test image for the final IWAE bound (10 in smoke runs)
    train_k: int = 1  # posterior samples per training image: 1 = the ELBO, k > 1 = the IWAE bound on k
    # checkpoint whose weights start the run (no KL warm-up then: its decoder already uses the latent)
    init: str | None = None
    seed: int = 0
    val_size: int = 5000
    smoke: bool = False

    def prepare(self, run: Run) -> None:
        if not (isinstance(self.train_k, int) and self.train_k >= 1):
            raise SystemExit(f"train_k must be a whole number >= 1, not {self.train_k!r}")
        run.state["images"] = run.train.images.to(run.device)  # (N, 28, 28) uint8

    def stages(self, run: Run) -> list[Stage]:
        return [Stage("epoch", self.epochs, torch.optim.Adam(run.model.parameters(), lr=self.lr))]

    def loss(self, run: Run, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        step = run.info["step"]
        # (B, 1, 28, 28) of 0/1, a fresh draw every time
        x = binarize(to_float(run.state["images"][idx]), run.gen).contiguous(
            memory_format=torch.channels_last
        )
        d = run.model.config.latent_dim
        eps = torch.randn(self.train_k, len(idx), d, generator=run.gen, device=run.device)
        # every process drew the same global batch; each trains on its own shard of it
        x, eps = run.dist.shard(x), run.dist.shard(eps, dim=1)  # eps: (k, B, D)
        for g in run.opt.param_groups:
            g["lr"] = lr_at(step, run.total_steps, self)
        beta = kl_weight_at(step, run.steps_per_epoch, self)
        if self.train_k == 1:
            recon_nll, kl = elbo_terms(x, run.net(x, eps=eps[0]))
            loss = (recon_nll + beta * kl).mean()
        else:
            loss = iwae_bound(log_weights(x, run.net(x, eps=eps), eps)).mean()
        return loss, {"loss": loss, "beta": beta}

    def validate(self, run: Run) -> dict:
        val = evaluate_vae(run.model, run.val.images, k=0, seed=self.seed + 1, device=run.device)
        beta = kl_weight_at(run.info["step"] - 1, run.steps_per_epoch, self)  # the epoch's last step's
        return {"beta": round(beta, 3), **{f"val_{k}": val[k] for k in ("neg_elbo", "recon_nll", "kl")}}

    def test(self, run: Run) -> dict:
        options = EvalOptions(device=run.device, k=10 if self.smoke else self.iwae_k)
        return run.spec.evaluate(run.model, run.test, options)


def kl_weight_at(step: int, steps_per_epoch: int, r: VAERecipe) -> float:
    """beta at a step: the warm-up ramp, or 1 throughout for a warm-started run (see VAERecipe.init)."""
    warm = r.kl_warmup_epochs * steps_per_epoch
    return 1.0 if warm <= 0 or r.init else min(1.0, (step + 1) / warm)
