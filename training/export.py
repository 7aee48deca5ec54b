"""Precomputed maps for the latent explorer: `python -m training export [names] [--split all] [--limit N]`
(and with `--dynamics` the training films of training/dynamics.py).

For each checkpoint, writes checkpoints/<name>.map.safetensors next to it: the test set's latents,
its labels and a predicted label, 2-d and 3-d projections by UMAP, PCA and t-SNE (and the raw latent
when it has only 2 or 3 dimensions), and in the header the quality of each map: trustworthiness
(k=15) and the leave-one-out kNN-5 accuracy in the latent and in each map. The app only reads these
files, so it never fits a projection while serving.

`--split all` writes <name>.map-all.safetensors: all 70,000 digits, the test set first (points
0-9999) and then the training set (10000-69999), in 2-d by UMAP and PCA (and the raw latent when it
is 2-d), with labels and predictions but no latents (the 192-d denoiser's would be 54 MB; the app
finds neighbours among the test latents of the test map). Its trustworthiness is averaged over the
test digits, their neighbours sought among all 70,000.
"""

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import checkpoint, dynamics, projection, registry
from .checkpoint import (
    checkpoint_files,
    git_commit,
    load_checkpoint,
    read_metadata,
    read_safetensors,
    run_summary,
    trained_on,
    write_safetensors,
)
from .clustering import confusion, hungarian_mapping
from .data import load_mnist
from .evaluate import batched
from .registry import Classifier, CodeClassifier, NeuronCode

# 3-d t-SNE is left out: Barnes-Hut t-SNE in 3-d costs several times its 2-d run on two cores, and
# UMAP already gives a 3-d map
DIMS = {"umap": (2, 3), "pca": (2, 3), "tsne": (2,)}
# all 70,000 digits: 2-d only (a 3-d cloud of 70k points hides itself), and no t-SNE (Barnes-Hut on
# 70k points takes far longer than UMAP on two cores)
DIMS_ALL = {"umap": (2,), "pca": (2,)}
SPLITS = ("test", "all")
KNN_STORED = 15  # nearest test latents stored per test digit: the explorer compares two models' lists
SETTINGS = {
    "seed": 0,
    "trustworthiness_k": 15,
    "knn_k": 5,
    "umap": {"n_neighbors": 15, "min_dist": 0.1},
    "tsne": {"perplexity": 30.0},
}  # t-SNE starts from PCA


def map_path(checkpoint: Path, split: str = "test") -> Path:
    return checkpoint.with_name(
        checkpoint.stem + (".map.safetensors" if split == "test" else f".map-{split}.safetensors")
    )


def read_map(path: Path, tensors: bool = True) -> tuple[dict, dict]:
    """(tensors, header) of a map file (tensors {} when not asked for); a CheckpointError names the
    file and the command that makes it."""
    name, _, split = path.name.removesuffix(".safetensors").partition(".map")
    how = f"python -m training export {name}" + (" --split all" if split == "-all" else "")
    return read_safetensors(path, "map", how, tensors)


def predictions(
    model, meta: dict, images: torch.Tensor, latents: torch.Tensor, labels: torch.Tensor, ckpt_dir: Path
) -> tuple[torch.Tensor, str]:
    """A predicted digit per image (N,) and where it comes from: the model's own classifier, a latent
    classifier trained on this checkpoint's code, the matched digit of the argmax neuron, or else the
    vote of the 5 nearest latents."""
    if isinstance(model, Classifier):
        return batched(model.classify, images, "cpu").argmax(1), "its classifier head"
    me = json.loads(json.dumps(run_summary(meta)))  # as a child's `parent` header stores it
    for path in checkpoint_files(ckpt_dir):
        head = read_metadata(path)
        child = json.loads(head.get("parent", "null")) == me
        if child and issubclass(registry.get(head["model"]).module, CodeClassifier):
            clf = load_checkpoint(path)
            pred = batched(lambda x: clf.classify_code(clf.encode(x)), images, "cpu").argmax(1)
            return pred, f"{path.stem} (an MLP on this code)"
    if isinstance(model, NeuronCode):
        neuron = latents.argmax(1)
        mapping = torch.from_numpy(hungarian_mapping(confusion(labels.numpy(), neuron.numpy())))
        return mapping[neuron], "its argmax neuron, matched one-to-one to digits"
    return projection.knn_predict(latents, labels, SETTINGS["knn_k"]), "the vote of its 5 nearest latents"


def build_map(
    model,
    meta: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    ckpt_dir: Path,
    projections=("umap", "pca", "tsne"),
    dims=(2, 3),
    log=print,
    n_test: int | None = None,
    plan: dict = DIMS,
) -> tuple[dict, dict]:
    """(tensors, quality) of one model's map over `images` (N, 28, 28) uint8, of which the first
    n_test (default all) are test digits: trustworthiness is averaged over those."""
    seed, k = SETTINGS["seed"], SETTINGS["trustworthiness_k"]
    queries = None if n_test is None or n_test == len(images) else torch.arange(n_test)
    latents = batched(model.encode, images, "cpu").float()  # (N, D)
    pred, source = predictions(model, meta, images, latents, labels, ckpt_dir)
    tensors = {"latents": latents, "labels": labels.to(torch.int64), "pred": pred.to(torch.int64)}
    if isinstance(model, NeuronCode):
        tensors["neuron"] = latents.argmax(1)
    if n_test is None or n_test == len(images):  # the test map: each digit's nearest test latents
        # for the explorer's neighbourhood agreement of two models (explorer/latents/compare.py)
        tensors["knn"] = projection.neighbours(latents, latents, KNN_STORED, exclude_self=True)[1].to(
            torch.int16
        )
    quality = {
        "latent_knn5": round(projection.knn_accuracy(latents, labels, SETTINGS["knn_k"]), 2),
        "pred_source": source,
        "pred_accuracy": round(float(100 * (pred == labels).double().mean()), 2),
    }
    # no map has more dimensions than the latent, and PCA to as many is only a rotation of it
    todo = [
        (p, d)
        for p in projections
        if p in plan
        for d in plan[p]
        if d in dims and d <= latents.shape[1] and not (p == "pca" and d == latents.shape[1])
    ]
    if latents.shape[1] in dims and latents.shape[1] in {d for ds in plan.values() for d in ds}:
        todo.append(("latent", latents.shape[1]))  # a 2-d or 3-d latent is its own map
    for name, dim in todo:
        t0 = time.time()
        if name == "latent":
            coords = latents.clone()
        elif name == "pca":
            coords = projection.pca(latents, dim)
        else:
            coords = projection.PROJECTIONS[name](latents, dim, seed=seed, **SETTINGS[name])
        key = f"{name}_{dim}d"
        tensors[key] = coords
        quality[key] = {
            "trustworthiness": round(projection.trustworthiness(latents, coords, k, queries), 4),
            "knn5": round(projection.knn_accuracy(coords, labels, SETTINGS["knn_k"]), 2),
            "seconds": round(time.time() - t0, 1),
        }
        log(f"  {key}: {quality[key]}")
    return tensors, quality


def export(
    name: str,
    *,
    ckpt_dir: Path | None = None,
    limit: int | None = None,
    command: str = "",
    projections=("umap", "pca", "tsne"),
    dims=(2, 3),
    split: str = "test",
    log=print,
) -> Path:
    """Write the map of checkpoint `name` over the test set (split "test") or over all 70,000
    digits, test first (split "all"; `limit` then takes that many of each set)."""
    t0 = time.time()
    ckpt_dir = ckpt_dir or checkpoint.CHECKPOINT_DIR
    path = ckpt_dir / f"{name}.safetensors"
    meta = read_metadata(path)
    if trained_on(meta) != "mnist":
        raise SystemExit(f"{path} was trained on {meta['dataset']}; the explorer maps MNIST models only")
    model = load_checkpoint(path)
    data = load_mnist()
    images, labels = data.test.images[:limit], data.test.labels[:limit]
    n_test = len(images)
    if split == "all":
        images = torch.cat([images, data.train.images[:limit]])
        labels = torch.cat([labels, data.train.labels[:limit]])
    torch.manual_seed(SETTINGS["seed"])
    tensors, quality = build_map(
        model,
        meta,
        images,
        labels,
        ckpt_dir,
        projections,
        dims,
        log,
        n_test,
        DIMS if split == "test" else DIMS_ALL,
    )
    if split == "all":  # the app reads latents from the test map; small integers fit a byte
        latent_dim = tensors.pop("latents").shape[1]
        tensors = {k: v.to(torch.uint8) if v.dtype == torch.int64 else v for k, v in tensors.items()}
        quality["latent_dim"] = latent_dim
    header = {
        "model": meta["model"],
        "checkpoint": path.name,
        "checkpoint_created": meta["created"],
        "split": split,
        "n_points": str(len(images)),
        "n_test": str(n_test),
        "quality": json.dumps(quality, sort_keys=True),
        "settings": json.dumps(SETTINGS, sort_keys=True),
        "command": command,
        "commit": git_commit(),
        "wall_time_s": f"{time.time() - t0:.1f}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out = map_path(path, split)
    write_safetensors(out, {k: v.contiguous() for k, v in tensors.items()}, header)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m training export", description=__doc__)
    p.add_argument(
        "names",
        nargs="*",
        help=f"checkpoints to map (default: those of {', '.join(registry.explored())} that exist)",
    )
    p.add_argument(
        "--checkpoints",
        type=Path,
        help="folder of the checkpoints (default: checkpoints/, or $LATENT_LAB_CHECKPOINTS)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help="test: the 10,000 test digits; all: the 70,000 train and test digits, 2-d UMAP and PCA",
    )
    p.add_argument(
        "--limit",
        type=int,
        help="only the first N test digits (and N training digits with --split all; for tests)",
    )
    p.add_argument(
        "--projections", nargs="+", default=["umap", "pca", "tsne"], choices=["umap", "pca", "tsne"]
    )
    p.add_argument("--dims", nargs="+", type=int, default=[2, 3], choices=[2, 3])
    p.add_argument(
        "--dynamics",
        action="store_true",
        help="write the training film <name>.dynamics.safetensors from <name>.snapshots.safetensors "
        "(recorded by `python -m training <model> --snapshots`; training/dynamics.py) instead of the map",
    )
    args = p.parse_args(argv)
    if args.dynamics and (args.split != "test" or args.limit is not None):
        p.error("--dynamics films every recorded test digit: no --split or --limit")
    folder = args.checkpoints or checkpoint.CHECKPOINT_DIR
    have = ".snapshots.safetensors" if args.dynamics else ".safetensors"
    names = args.names or [n for n in registry.explored() if (folder / f"{n}{have}").exists()]
    command = "python -m training export " + shlex.join(argv)
    for name in names:
        print(f"{name}:", flush=True)
        if args.dynamics:
            out = dynamics.export(name, ckpt_dir=args.checkpoints, command=command.strip())
        else:
            out = export(
                name,
                ckpt_dir=args.checkpoints,
                limit=args.limit,
                command=command.strip(),
                projections=args.projections,
                dims=args.dims,
                split=args.split,
            )
        print(f"  wrote {out}", flush=True)


if __name__ == "__main__":
    main()
