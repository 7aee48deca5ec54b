"""Metrics of each model kind, shared by training, the tests and the model card.

    python -m training.evaluate checkpoints/denoiser.safetensors [--limit N] [--device D]
    python -m training.evaluate checkpoints/vae.safetensors [--limit N] [--k K] [--device D]
    python -m training.evaluate checkpoints/latent_classifier.safetensors [--split train]
    python -m training.evaluate checkpoints/denoiser.safetensors --split train --limit 10000
    python -m training.evaluate checkpoints/denoiser.safetensors --write   # store the figures in its header
    python -m training.evaluate checkpoints/denoiser.safetensors --protocol repeated --write

prints the checkpoint's metrics on the test set as JSON. `--split train` scores the digits the model
was trained on instead (its recipe's training split, validation digits left out): a score on them
no better than on the test set says the model underfits, so more capacity or training would help
and more regularisation would not.
"""

import argparse
import json
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from . import registry
from .checkpoint import CHECKPOINT_DIR, load_checkpoint, read_metadata, rewrite_metrics, trained_on
from .data import Split, load_dataset, to_float, train_val_split
from .distortions import NOISY, distort, translate
from .vae_objective import binarize, elbo_terms, iwae_nll

PROTOCOL_SEED = 1234  # fixed so that every checkpoint is scored on the same distorted (or binarized) copies
# the two readings of the write-up's "14 rows and 14 columns removed"; the first is the headline
LINES = {
    "distinct": "14 distinct rows and 14 distinct columns",
    "repeated": "14 row and 14 column draws that may repeat (11.2 distinct lines of each on average)",
}
JUDGE = "denoiser"  # the checkpoint whose classifier head judges a VAE's prior samples


@dataclass(frozen=True)
class EvalOptions:
    """What a model spec's evaluator may need besides the model and the images."""

    device: str | torch.device = "cpu"
    k: int = 1000  # importance samples per image for the VAEs' likelihood bound
    lines: str = "distinct"  # the denoisers' reading of the removed lines (LINES)
    folder: Path = field(default_factory=lambda: CHECKPOINT_DIR)  # where the VAEs' judge is found


@torch.no_grad()
def evaluate_denoiser(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int = PROTOCOL_SEED,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
    lines: str = "distinct",
) -> dict:
    """The reference protocol: the set copied once per true distortion; each copy translated
    (the clean image) then distorted (the noisy image). Accuracy of the classifier on the clean,
    noisy and reconstructed images (percent), per distortion and over all copies, and PSNR (dB)
    of the reconstruction against the clean image, from the mean squared error over the copy.
    `lines` is the reading of "14 rows and 14 columns" (LINES): distinct lines, the headline, or
    14 draws of each that may repeat."""
    if lines not in LINES:
        raise ValueError(f"unknown reading of the removed lines {lines!r}; known: {', '.join(LINES)}")
    model.eval()
    # the draw is made on the CPU: a CUDA generator gives other numbers for the same seed, and
    # every device must score the same images
    gen = torch.Generator().manual_seed(seed)
    hits = {d: {"clean": 0, "noisy": 0, "recon": 0} for d in NOISY}
    sq_err = {d: {"recon": 0.0, "noisy": 0.0} for d in NOISY}
    n = len(labels)
    for d in NOISY:
        for i in range(0, n, batch_size):
            clean = translate(to_float(images[i : i + batch_size].cpu()), gen)
            noisy = distort(clean, d, gen, distinct=lines == "distinct").to(device)
            clean, y = clean.to(device), labels[i : i + batch_size].to(device)
            out = model(noisy)
            hits[d]["clean"] += (model.classify(clean).argmax(1) == y).sum().item()
            hits[d]["noisy"] += (out.logits.argmax(1) == y).sum().item()
            hits[d]["recon"] += (model.classify(out.recon).argmax(1) == y).sum().item()
            sq_err[d]["recon"] += F.mse_loss(out.recon, clean, reduction="sum").item()
            sq_err[d]["noisy"] += F.mse_loss(noisy, clean, reduction="sum").item()
    pixels = n * 28 * 28
    metrics = {"n_images": n, "protocol_seed": seed, **({"lines": lines} if lines != "distinct" else {})}
    for kind in ("clean", "noisy", "recon"):
        metrics[f"acc_{kind}"] = round(100 * sum(h[kind] for h in hits.values()) / (n * len(NOISY)), 3)
    for d in NOISY:
        for kind in ("clean", "noisy", "recon"):
            metrics[f"acc_{kind}_{d}"] = round(100 * hits[d][kind] / n, 3)
        metrics[f"psnr_recon_{d}"] = round(10 * math.log10(pixels / max(sq_err[d]["recon"], 1e-12)), 2)
        metrics[f"psnr_noisy_{d}"] = round(10 * math.log10(pixels / max(sq_err[d]["noisy"], 1e-12)), 2)
    return metrics


@torch.no_grad()
def evaluate_vae(
    model,
    images: torch.Tensor,
    *,
    k: int = 1000,
    seed: int = PROTOCOL_SEED,
    batch_size: int = 100,
    device: str | torch.device = "cpu",
) -> dict:
    """Mean negative ELBO (one posterior sample per image, analytic KL) and, when k > 0, the IWAE
    estimate of -log p(x) with k samples, in nats per image, on the images binarized once with a
    seeded generator. The draw is made on the CPU so that every device scores the same bits."""
    model.eval()
    x_all = binarize(to_float(images), torch.Generator().manual_seed(seed))  # (N, 1, 28, 28) of 0/1
    gen = torch.Generator(device=device).manual_seed(seed)
    totals = {"recon_nll": 0.0, "kl": 0.0, "iwae_nll": 0.0}
    for i in range(0, len(x_all), batch_size):
        x = x_all[i : i + batch_size].to(device)
        recon_nll, kl = elbo_terms(x, model(x, gen))
        totals["recon_nll"] += recon_nll.sum().item()
        totals["kl"] += kl.sum().item()
        if k > 0:
            totals["iwae_nll"] += iwae_nll(model, x, k, gen).sum().item()
    n = len(x_all)
    neg_elbo = (totals["recon_nll"] + totals["kl"]) / n
    metrics = {
        "n_images": n,
        "protocol_seed": seed,
        "neg_elbo": round(neg_elbo, 3),
        "recon_nll": round(totals["recon_nll"] / n, 3),
        "kl": round(totals["kl"] / n, 3),
    }
    if k > 0:
        nll = totals["iwae_nll"] / n
        metrics.update(k=k, iwae_nll=round(nll, 3), elbo_gap=round(neg_elbo - nll, 3))
    return metrics


@torch.no_grad()
def sample_quality(
    vae, classifier, *, n: int = 1000, seed: int = PROTOCOL_SEED, device: str | torch.device = "cpu"
) -> dict:
    """How digit-like n prior samples are, by a separate classifier (`classify(x) -> logits`): the
    share it reads with confidence >= 0.9, and the entropy of its predicted-class histogram in nats
    (ln 10 = 2.303 when all ten digits are equally common; a model that draws few digits scores low)."""
    vae.eval()
    classifier.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    z = torch.randn(n, vae.config.latent_dim, generator=gen, device=device)
    probs = torch.softmax(classifier.classify(vae.decode(z)), dim=1).cpu().double()  # decode: the mean image
    counts = torch.bincount(probs.argmax(1), minlength=10)
    share = counts / n
    entropy = -(share[share > 0] * share[share > 0].log()).sum()
    return {
        "samples_n": n,
        "samples_confident_pct": round(float(100 * (probs.max(1).values >= 0.9).double().mean()), 2),
        "samples_class_entropy": round(float(entropy), 4),
        "samples_class_counts": counts.tolist(),
    }


def judged_samples(vae, judge: Path, device: str | torch.device = "cpu") -> dict:
    """sample_quality by the denoiser checkpoint `judge`, named with its creation time: a later
    denoiser judges differently, so the header says which one gave the figures. No judge file:
    no figures."""
    if not judge.exists():
        return {}
    created = read_metadata(judge)["created"]
    return {
        **sample_quality(vae, load_checkpoint(judge, device), device=device),
        "samples_classifier": f"{judge.name} (created {created})",
    }


@torch.no_grad()
def batched(fn, images: torch.Tensor, device, batch_size: int = 2000) -> torch.Tensor:
    """fn (a model method; the model in eval mode) over uint8 images (N, 28, 28) in batches,
    gathered on the CPU."""
    return torch.cat(
        [fn(to_float(images[i : i + batch_size]).to(device)).cpu() for i in range(0, len(images), batch_size)]
    )


@torch.no_grad()
def codes_and_mse(model, images: torch.Tensor, *, batch_size: int, device) -> tuple[torch.Tensor, float]:
    """The codes (N, D) of an autoencoder, on the CPU, and the mean squared error per pixel of
    decode(encode(x)) on [0, 1] images."""
    model.eval()
    codes, sq_err = [], 0.0
    for i in range(0, len(images), batch_size):
        x = to_float(images[i : i + batch_size]).to(device)
        z = model.encode(x)
        codes.append(z.cpu())
        sq_err += F.mse_loss(model.decode(z), x, reduction="sum").item()
    return torch.cat(codes), round(sq_err / (len(images) * 28 * 28), 5)


def evaluate_reconstruction(
    model, images: torch.Tensor, *, batch_size: int = 1000, device: str | torch.device = "cpu"
) -> dict:
    """Mean squared error per pixel of decode(encode(x)) on [0, 1] images, and the code size."""
    codes, mse = codes_and_mse(model, images, batch_size=batch_size, device=device)
    return {"n_images": len(images), "mse": mse, "latent_dim": codes.shape[1]}


def evaluate_neurons(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 1000,
    device: str | torch.device = "cpu",
) -> dict:
    """A 10-neuron code against the true digits: confusion matrix of digit x argmax neuron,
    majority-vote and Hungarian-matched accuracy, NMI, ARI, and the reconstruction MSE per pixel."""
    from .clustering import scores

    codes, mse = codes_and_mse(model, images, batch_size=batch_size, device=device)
    metrics = scores(labels.numpy(), codes.argmax(1).numpy())
    metrics.update(n_images=len(images), mse=mse)
    return metrics


@torch.no_grad()
def evaluate_latent_classifier(
    model, images: torch.Tensor, labels: torch.Tensor, *, device: str | torch.device = "cpu"
) -> dict:
    """Accuracy (percent) of a classifier on a frozen autoencoder's code, and the code's size."""
    model.eval()
    codes = batched(model.encode, images, device)
    pred = model.classify_code(codes.to(device)).argmax(1).cpu()
    return {
        "n_images": len(images),
        "acc": round(100 * (pred == labels).float().mean().item(), 3),
        "latent_dim": int(codes.shape[1]),
    }


# ---- the evaluators model specs name: (model, split, options) -> metrics ----------------------


def denoise_metrics(model, split: Split, o: EvalOptions) -> dict:
    return evaluate_denoiser(model, split.images, split.labels, device=o.device, lines=o.lines)


def vae_metrics(model, split: Split, o: EvalOptions) -> dict:
    metrics = evaluate_vae(model, split.images, k=o.k, device=o.device)
    metrics.update(judged_samples(model, o.folder / f"{JUDGE}.safetensors", o.device))
    return metrics


def neuron_metrics(model, split: Split, o: EvalOptions) -> dict:
    return evaluate_neurons(model, split.images, split.labels, device=o.device)


def reconstruction_metrics(model, split: Split, o: EvalOptions) -> dict:
    return evaluate_reconstruction(model, split.images, device=o.device)


def latent_classifier_metrics(model, split: Split, o: EvalOptions) -> dict:
    return evaluate_latent_classifier(model, split.images, split.labels, device=o.device)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--limit", type=int, default=None, help="score only the first N images (for quick checks)")
    p.add_argument(
        "--split",
        choices=["test", "train"],
        default="test",
        help="the test set, or the training split the checkpoint's recipe trained on (underfit or overfit?)",
    )
    p.add_argument(
        "--k", type=int, default=1000, help="importance samples per image for the VAEs' IWAE bound"
    )
    p.add_argument(
        "--protocol",
        choices=list(LINES),
        default="distinct",
        help="the denoisers' reading of '14 rows and 14 columns removed': "
        + "; ".join(f"{k}: {v}" for k, v in LINES.items()),
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--write",
        action="store_true",
        help="store the figures in the checkpoint's header (the training-time ones are kept beside them)",
    )
    args = p.parse_args(argv)
    if args.write and (args.limit or args.split != "test"):
        p.error("--write stores full test-set figures only: drop --limit and --split")
    meta = read_metadata(args.checkpoint)
    model = load_checkpoint(args.checkpoint, args.device)
    data = load_dataset(trained_on(meta))
    if args.split == "train":
        recipe = json.loads(meta.get("recipe", "{}"))
        split, _ = train_val_split(data.train, recipe.get("val_size", 5000), seed=recipe.get("seed", 0))
    else:
        split = data.test
    images, labels = split.images[: args.limit], split.labels[: args.limit]
    options = EvalOptions(
        device=args.device, k=args.k, lines=args.protocol, folder=Path(args.checkpoint).parent
    )
    metrics = registry.get(meta["model"]).evaluate(model, Split(images, labels), options)
    metrics["model"] = meta["model"]
    metrics["split"] = args.split
    metrics["parameters"] = sum(p.numel() for p in model.parameters())
    print(json.dumps(metrics, indent=2, sort_keys=True))
    if args.write:
        command = "python -m training.evaluate " + shlex.join(argv)
        field = "metrics" if args.protocol == "distinct" else f"metrics_lines_{args.protocol}"
        scored = {k: v for k, v in metrics.items() if k not in ("model", "split")}
        rewrite_metrics(args.checkpoint, scored, command, field)
    return metrics


if __name__ == "__main__":
    main()
