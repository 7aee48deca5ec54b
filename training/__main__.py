"""python -m training <model> [flags]: train one registered model and write its checkpoint.

    python -m training denoiser_ref --max-minutes 60   # stop after the epoch past an hour ...
    python -m training denoiser_ref --resume           # ... and go on from its training state
    python -m training denoiser --dataset fashion      # -> checkpoints/denoiser_fashion.safetensors
    python -m training vae --recipe '{"train_k": 10}'  # a recipe field that has no flag of its own
    python -m training denoiser --smoke --out /tmp/x.safetensors   # a few batches, for tests
    python -m training autoencoder --snapshots         # also record the test latents for a training film
    torchrun --standalone --nproc_per_node 2 -m training vae2d     # data-parallel (gloo / nccl)
    python -m training export [names]                  # the explorer's maps (training/export.py)
    python -m training export autoencoder --dynamics   # its training film (training/dynamics.py)
    python -m training quality                         # strange and mislabelled digits (training/quality.py)

The models and their default recipes are those registered in training/models/ (listed below).
"""

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from . import registry
from .checkpoint import checkpoint_path, checkpoint_stem
from .data import DATASETS
from .device import pick_device
from .loop import train

FLAGS = ("epochs", "batch_size", "lr", "seed", "dataset", "init")  # recipe fields with a flag of their own


def parser() -> argparse.ArgumentParser:
    models = "\n".join(f"  {s.name:<18} {s.summary}" for s in registry.specs())
    p = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__ + "\nmodels:\n" + models,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", choices=registry.names(), help="registered model to train")
    p.add_argument(
        "--epochs", type=int, help="passes over the training set (denoisers: each with every distortion)"
    )
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--out",
        type=Path,
        help="checkpoint path (default checkpoints/<model>.safetensors, "
        "checkpoints/<model>_<dataset>.safetensors for a data set other than MNIST)",
    )
    p.add_argument("--dataset", choices=sorted(DATASETS), help="data set to train on (default mnist)")
    p.add_argument(
        "--init",
        help="start from the weights of this checkpoint (matching tensors); its header is kept as `parent`",
    )
    p.add_argument(
        "--config",
        type=json.loads,
        help="model config fields as JSON, e.g. '{\"hidden\": [512, 256, 64]}' (default: the model's own)",
    )
    p.add_argument(
        "--recipe",
        type=json.loads,
        default={},
        help="other recipe fields as JSON, e.g. '{\"train_k\": 10}' for vae (training/recipes/)",
    )
    p.add_argument("--smoke", action="store_true", help="a few batches on a small subset, for tests")
    p.add_argument(
        "--resume", action="store_true", help="continue from the training-state file if there is one"
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        help="stop after the epoch that passes this budget of the run's whole wall time, the sessions "
        "it resumed from included (continue with --resume and a larger budget)",
    )
    p.add_argument(
        "--snapshots",
        type=int,
        nargs="?",
        const=8,
        metavar="POINTS",
        help="record the test set's latents at the start, at POINTS (default 8) log-spaced steps of the "
        "first epoch and at every epoch's end, beside the checkpoint in <checkpoint>.snapshots.safetensors "
        "(a training film: `python -m training export <name> --dynamics`)",
    )
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:  # not a model: precomputes the explorer's maps from the checkpoints
        from . import export

        return export.main(argv[1:])
    if argv[:1] == ["quality"]:  # not a model: scores every digit for strangeness and label errors
        from . import quality

        return quality.main(argv[1:])
    p = parser()
    args = p.parse_args(argv)
    spec = registry.get(args.model)
    fields = {f.name for f in dataclasses.fields(spec.recipe)}
    if args.smoke and args.epochs is None:
        args.epochs = 1
    overrides = {k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None}
    if args.dataset and args.dataset not in spec.datasets:
        sets = ", ".join(spec.datasets)
        p.error(f"--dataset {args.dataset} is not supported for {args.model}: it trains on {sets}")
    if args.snapshots is not None and args.snapshots < 0:
        p.error("--snapshots takes a number of points >= 0")
    for flag in set(overrides) - fields:
        p.error(f"--{flag.replace('_', '-')} is not supported for {args.model}")
    allowed = fields - {"smoke", *FLAGS}  # those have flags
    if not set(args.recipe) <= allowed:
        have = ", ".join(sorted(allowed))
        p.error(f"--recipe takes fields of {args.model}'s recipe that have no flag of their own: {have}")
    recipe = dataclasses.replace(spec.recipe, **args.recipe, **overrides, smoke=args.smoke)
    out = args.out or checkpoint_path(checkpoint_stem(args.model, getattr(recipe, "dataset", "mnist")))
    # the state file sits beside the checkpoint so a later session can --resume it
    state_path = out.with_name(out.stem + ".state.safetensors")
    command = "python -m training " + shlex.join(argv)
    result = train(
        spec,
        recipe,
        device=pick_device(args.device),
        out=out,
        state_path=state_path,
        resume=args.resume,
        command=command,
        max_minutes=args.max_minutes,
        config=args.config,
        snapshots=args.snapshots,
    )
    import torch.distributed as dist

    if dist.is_initialized():  # under torchrun
        dist.destroy_process_group()
    elif result["finished"] and state_path.exists() and not args.smoke:
        print(f"finished; the training state {state_path} can be deleted")
    return result


if __name__ == "__main__":
    main()
