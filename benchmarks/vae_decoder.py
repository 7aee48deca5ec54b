"""Why the VAE's decoder is dense: its speed against a transposed-convolution decoder on this machine.

    .venv/bin/python benchmarks/vae_decoder.py [--threads 2]

The likelihood figure decodes 10 million latents (1000 importance samples for each of 10,000 test
digits) and training runs hundreds of epochs, so on a CPU the decoder's throughput decides what
the model can afford. Compared, with the same convolutional encoder and 32-d latent:
- dense: the committed `vae` (training/models/vae.py), two hidden layers of 512;
- transposed conv: a linear layer to 64x7x7 and two 4x4 stride-2 transposed convolutions
  (64 -> 32 -> 1 channels), the usual small convolutional MNIST decoder.
Decodes per second are for batches of 5000 latents without gradients (what the bound does);
training samples per second are full steps (encoder, decoder, backward, Adam) on batches of 128.
"""

import argparse
import time

import torch
from common import table
from torch import nn

from training.models import build_model


def transposed_conv_decoder(d: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d, 64 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),
    )


def per_second(fn, n: int, repeats: int) -> float:
    fn()  # warm-up: first calls pick kernels
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n * repeats / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    torch.set_num_threads(p.parse_args().threads)
    torch.manual_seed(0)
    rows = []
    for label, swap in (("dense (committed)", False), ("transposed conv", True)):
        model = build_model("vae")
        if swap:
            model.decoder = transposed_conv_decoder(model.config.latent_dim)
        model = model.to(memory_format=torch.channels_last)
        d = model.config.latent_dim
        z = torch.randn(5000, d)
        with torch.no_grad():
            decodes = per_second(lambda: model.decode_logits(z), len(z), 3)
        x = torch.bernoulli(torch.full((128, 1, 28, 28), 0.2)).contiguous(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), 1e-3)

        def step():
            out = model(x)
            loss = nn.functional.binary_cross_entropy_with_logits(out.recon_logits, x) + out.mu.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        train = per_second(step, len(x), 20)
        params = sum(t.numel() for t in model.decoder.parameters())
        rows.append(
            [label, f"{params:,}", f"{decodes:,.0f}", f"{10_000_000 / decodes / 60:.1f}", f"{train:,.0f}"]
        )
    print(
        table(
            [
                "decoder",
                "decoder parameters",
                "decodes / s",
                "minutes for the k=1000 bound",
                "training samples / s",
            ],
            rows,
        )
    )
    print(f"\nCPU, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
