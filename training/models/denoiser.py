"""Lean shared-encoder denoiser + classifier (the product's `denoiser`).

Same plan as the reference write-up (two conv blocks with pooling, a bottleneck block, a classifier
head and a U-Net decoder with skip connections), but the head reads globally pooled features
instead of flattening 128x7x7 into a 1.6 M-parameter linear layer, and the widths are chosen for
CPU throughput.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..evaluate import denoise_metrics
from ..recipes.denoise import DenoiseRecipe
from ..registry import ModelSpec, register


@dataclass
class DenoiserConfig:
    widths: list[int] = field(default_factory=lambda: [16, 48, 96])  # encoder channels at 28x28, 14x14, 7x7
    decoder_widths: list[int] = field(default_factory=lambda: [16, 32])  # decoder channels at 28x28, 14x14
    # 3x3 convs per decoder stage; the decoder is most of the cost, 1 is enough for 20+ dB
    decoder_convs: int = 1
    # also feed 1[x == 0]: removed lines and clamped / fractional noise leave exact zeros
    zero_mask_input: bool = True
    # residual blocks at 7x7 after the bottleneck; each starts as the identity, so they can be added
    # to a trained net
    res_blocks: int = 0
    # residual blocks at 28x28 after the first block (identity at start): full-resolution room to
    # bridge zeroed lines
    enc_res_blocks: int = 0
    # residual blocks at 14x14 after the second block (also identity at start): more room for the
    # pixel-level work of reading through noise and gaps
    mid_res_blocks: int = 0
    head_hidden: int = 128  # hidden units of the classifier MLP
    dropout: float = 0.1  # before the last linear layer of the head


class DenoiserOutput(NamedTuple):
    recon: torch.Tensor  # (B, 1, 28, 28) in [0, 1]
    logits: torch.Tensor  # (B, 10)


class ResBlock(nn.Module):
    """relu(x + bn(conv(relu(bn(conv(x)))))), the last BatchNorm's scale starting at zero: on a
    non-negative x (a ReLU's output) a fresh block is the identity, so warm starts keep their function."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
        )
        nn.init.zeros_(self.body[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def res_stage(c: int, n: int) -> nn.Sequential:
    """n residual blocks of c channels; with n = 0 an empty Sequential, the identity."""
    return nn.Sequential(*(ResBlock(c) for _ in range(n)))


def conv_block(c_in: int, c_out: int, n: int = 2) -> nn.Sequential:
    """n 3x3 conv + BN + ReLU layers; resolution unchanged."""
    layers = []
    for i in range(n):
        layers += [
            nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class Denoiser(nn.Module):
    config_class = DenoiserConfig

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        c1, c2, c3 = config.widths
        d1, d2 = config.decoder_widths
        c_in = 2 if config.zero_mask_input else 1
        self.enc1 = conv_block(c_in, c1)
        self.enc_res = res_stage(c1, config.enc_res_blocks)
        self.enc2 = conv_block(c1, c2)
        self.mid_res = res_stage(c2, config.mid_res_blocks)
        self.bottleneck = conv_block(c2, c3)
        self.res = res_stage(c3, config.res_blocks)
        # the head reads average and max pooling of the bottleneck together: how much of each
        # feature, and how strongly
        n_feat = 2 * c3
        self.head = nn.Sequential(
            nn.Linear(n_feat, config.head_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.head_hidden, 10),
        )
        self.up1 = nn.ConvTranspose2d(c3, d2, 2, stride=2)
        self.dec1 = conv_block(d2 + c2, d2, config.decoder_convs)
        self.up2 = nn.ConvTranspose2d(d2, d1, 2, stride=2)
        # + 1: the input itself, as in the reference
        self.dec2 = conv_block(d1 + c1 + 1, d1, config.decoder_convs)
        self.out = nn.Conv2d(d1, 1, 1)

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.config.zero_mask_input:
            # exact zeros are a strong cue that a ReLU net cannot easily carve out of small values
            x = torch.cat([x, (x == 0).to(x.dtype)], 1)  # (B, 2, 28, 28)
        e1 = self.enc_res(self.enc1(x))  # (B, c1, 28, 28)
        e2 = self.mid_res(self.enc2(F.max_pool2d(e1, 2)))  # (B, c2, 14, 14)
        z = self.res(self.bottleneck(F.max_pool2d(e2, 2)))  # (B, c3, 7, 7)
        return e1, e2, z

    @staticmethod
    def _pooled(z: torch.Tensor) -> torch.Tensor:
        """Bottleneck map (B, c3, 7, 7) -> mean and max over positions (B, 2 * c3), the head's input."""
        return torch.cat([z.mean((2, 3)), z.amax((2, 3))], 1)

    def forward(self, x: torch.Tensor) -> DenoiserOutput:
        e1, e2, z = self._features(x)
        logits = self.head(self._pooled(z))
        u = self.dec1(torch.cat([self.up1(z), e2], 1))  # (B, d2, 14, 14)
        u = self.dec2(torch.cat([self.up2(u), e1, x], 1))  # (B, d1, 28, 28)
        return DenoiserOutput(recon=torch.sigmoid(self.out(u)), logits=logits)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits only; skips the decoder."""
        return self.head(self._pooled(self._features(x)[2]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled bottleneck (B, 2 * c3), the head's input: the latent the explorer plots."""
        return self._pooled(self._features(x)[2])


register(
    ModelSpec(
        name="denoiser",
        module=Denoiser,
        config_class=DenoiserConfig,
        # tuned for CPU throughput: large batches, a one-cycle style schedule, clean images in the mix
        # too (the app's "translate only" choice, and it helps clean/recon accuracy), the hard
        # distortions (rows/cols, fractional) twice per epoch; the head also reads reconstructions
        recipe=DenoiseRecipe(
            epochs=12,
            batch_size=256,
            lr=4e-3,
            weight_decay=5e-4,
            warmup_frac=0.03,
            cosine=True,
            mix=["translate", "rows_cols", "rows_cols", "clamp", "fractional", "fractional"],
            mse_weights=[[0.4, 100.0], [0.6, 75.0], [0.8, 50.0], [1.0, 25.0]],
            label_smoothing=0.05,
            recon_ce=0.5,
        ),
        evaluate=denoise_metrics,
        summary="the lean shared-encoder denoiser and classifier the Denoise tab serves",
        datasets=("mnist", "fashion"),
        tab="denoise",
        labels={
            "mnist": "Lean shared-encoder net (denoiser)",
            "fashion": "The lean net trained on Fashion-MNIST: clothes, not digits (denoiser_fashion)",
        },
        explore=True,
        card="denoise",
    )
)
