"""The data-quality lens: which MNIST digits are strange, and which are likely mislabelled.

    python -m training quality [--limit N] [--k 100]   # -> checkpoints/quality.safetensors

Scores every digit, the 10,000 test digits first and then the 60,000 training digits (the order of
the explorer's maps of all digits), with the committed checkpoints, picked by what they can do:

- `p_given`: the probability the classifier head (each explored Classifier, averaged) gives the
  digit's own label. The head was trained on the training digits, so on those it is optimistic
  (no out-of-fold models here); the neighbour scores below are leave-one-out on every digit.
- `knn_other_<model>`: the share of the digit's K nearest neighbours among all the digits in that
  model's latent space (itself excluded) that carry another label, for every explored Encoder.
- `vae_nll`: the importance-weighted -log p(x) in nats under the explored VAE with the widest latent
  (k samples per digit, binarized once with a fixed seed): how unlikely the digit is.
- `ae_mse`: the reconstruction error per pixel of the explored plain autoencoder (an Encoder and
  Decoder that is neither variational nor a neuron code): how hard it is to redraw.
- `disagreement`: the share of the models (each head, each latent space's neighbour vote) whose
  answer differs from the ensemble's.

`suspicion` is confident learning's normalized margin (Northcutt, Jiang and Chuang 2021, the
ranking of cleanlab's `find_label_issues`): with the ensemble's class probabilities
p = (mean of the heads' softmax + mean of the latent spaces' neighbour label shares) / 2,
suspicion = max over j != label of p_j - p_label, in [-1, 1]; above 0 the models favour another
digit, which is `suggested` (the argmax of p over the other nine). Strangeness (vae_nll, ae_mse) is
kept beside it, not mixed in: an unusual digit is not a mislabelled one.
"""

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from . import checkpoint, projection, registry
from .checkpoint import git_commit, load_checkpoint, read_metadata, write_safetensors
from .data import load_mnist, to_float
from .evaluate import batched
from .registry import Classifier, Decoder, Encoder, NeuronCode, Variational
from .vae_objective import binarize, iwae_nll

K = 10  # neighbours per digit in each latent space
SEED = 1234
FORMULA = (
    "p = (mean over heads of softmax + mean over latent spaces of the K-neighbour label shares) / 2; "
    "suspicion = max_{j != label} p_j - p_label; suggested = argmax_{j != label} p_j"
)


def path():
    return checkpoint.CHECKPOINT_DIR / "quality.safetensors"


def models() -> dict[str, list[str]]:
    """The explored checkpoints (MNIST) by the role they play in the scores."""
    roles = {"heads": [], "latents": [], "vae": [], "autoencoder": []}
    for spec in registry.specs():
        if not (spec.explore and checkpoint.checkpoint_path(spec.name).exists()):
            continue
        m = spec.module
        if issubclass(m, Classifier):
            roles["heads"].append(spec.name)
        if issubclass(m, Encoder):
            roles["latents"].append(spec.name)
        if issubclass(m, Variational):  # it has a likelihood
            roles["vae"].append(spec.name)
        elif issubclass(m, Decoder) and not issubclass(m, NeuronCode):
            roles["autoencoder"].append(spec.name)
    widest = sorted(
        roles["vae"],
        key=lambda n: -json.loads(read_metadata(checkpoint.checkpoint_path(n))["config"])["latent_dim"],
    )
    roles["vae"], roles["autoencoder"] = widest[:1], roles["autoencoder"][:1]
    return roles


def neighbour_shares(latents: torch.Tensor, labels: torch.Tensor, k: int = K) -> torch.Tensor:
    """Each digit's K nearest other digits' labels as shares (N, 10)."""
    _, idx = projection.neighbours(latents, latents, k, exclude_self=True)
    return F.one_hot(labels[idx], 10).double().mean(1)


def margin(p: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Confident learning's normalized margin (N,) and the best other label (N,) of class
    probabilities p (N, 10) against the given labels."""
    own = p.gather(1, labels[:, None])[:, 0]
    others = p.scatter(1, labels[:, None], -1.0)
    best, suggested = others.max(1)
    return best - own, suggested


@torch.no_grad()
def score(images: torch.Tensor, labels: torch.Tensor, roles: dict, *, k_iwae: int = 100, log=print) -> dict:
    """Every score of digits `images` (N, 28, 28) uint8 with `labels` (N,); tensors keyed by name."""
    out, heads, shares, answers = {}, [], [], []
    loaded = {}  # a model with several roles (the denoiser: a head and a latent space) is read once

    def load(name: str):
        if name not in loaded:
            loaded[name] = load_checkpoint(checkpoint.checkpoint_path(name))
        return loaded[name]

    for name in roles["heads"]:
        model = load(name)
        heads.append(batched(model.classify, images, "cpu").softmax(1).double())
        answers.append(heads[-1].argmax(1))
    if heads:
        out["p_given"] = torch.stack(heads).mean(0).gather(1, labels[:, None])[:, 0]
    for name in roles["latents"]:
        t0 = time.time()
        model = load(name)
        shares.append(neighbour_shares(batched(model.encode, images, "cpu").float(), labels))
        out[f"knn_other_{name}"] = 1 - shares[-1].gather(1, labels[:, None])[:, 0]
        answers.append(shares[-1].argmax(1))
        log(f"  {name}: neighbours in {time.time() - t0:.0f} s")
    for name in roles["vae"]:
        model = load(name)
        x = binarize(to_float(images), torch.Generator().manual_seed(SEED))
        gen = torch.Generator().manual_seed(SEED)
        out["vae_nll"] = torch.cat(
            [iwae_nll(model, x[i : i + 500], k_iwae, gen) for i in range(0, len(x), 500)]
        )
    for name in roles["autoencoder"]:
        model = load(name)
        recon = batched(lambda x: model.decode(model.encode(x)), images, "cpu")
        out["ae_mse"] = (recon - to_float(images)).pow(2).flatten(1).mean(1)
    ensemble = [torch.stack(votes).mean(0) for votes in (heads, shares) if votes]
    p = torch.stack(ensemble).mean(0)
    out["suspicion"], out["suggested"] = margin(p, labels)
    out["disagreement"] = (torch.stack(answers) != p.argmax(1)).double().mean(0)
    return {key: v.to(torch.int64 if key == "suggested" else torch.float32) for key, v in out.items()}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        prog="python -m training quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--limit", type=int, help="only the first N test and N training digits (for tests)")
    p.add_argument("--k", type=int, default=100, help="importance samples per digit for vae_nll")
    p.add_argument("--out", type=Path, help="the file to write (default checkpoints/quality.safetensors)")
    args = p.parse_args(argv)
    t0 = time.time()
    data = load_mnist()
    images = torch.cat([data.test.images[: args.limit], data.train.images[: args.limit]])
    labels = torch.cat([data.test.labels[: args.limit], data.train.labels[: args.limit]])
    roles = models()
    print(f"scoring {len(images):,} digits with {json.dumps(roles)}", flush=True)
    tensors = score(images, labels, roles, k_iwae=args.k)
    used = {
        n: read_metadata(checkpoint.checkpoint_path(n))["created"] for names in roles.values() for n in names
    }
    header = {
        "formula": FORMULA,
        "roles": json.dumps(roles),
        "checkpoints": json.dumps(used, sort_keys=True),  # by their `created`: a retrained one is noticed
        "settings": json.dumps({"k_neighbours": K, "k_iwae": args.k, "seed": SEED}),
        "n_test": str(min(len(data.test.images), args.limit or len(data.test.images))),
        "n_points": str(len(images)),
        "command": "python -m training quality " + shlex.join(argv),
        "commit": git_commit(),
        "wall_time_s": f"{time.time() - t0:.1f}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out = args.out or path()
    write_safetensors(out, {k: v.contiguous() for k, v in tensors.items()}, header)
    print(f"wrote {out} in {time.time() - t0:.0f} s")
    return out
