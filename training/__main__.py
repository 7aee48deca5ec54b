"""python -m training <model> [flags]: train one registered model and write its checkpoint.

python -m training denoiser                      # the app's model, recipe in train_denoiser.RECIPES
python -m training denoiser_ref --max-minutes 60 # the reference network and recipe
python -m training vae                           # the VAEs, recipes in train_vae.RECIPES
python -m training vae2d
python -m training neuron_ae                     # the reference's 10-neuron autoencoder
python -m training cluster_ae                    # ten neurons that cluster the digits, no labels
python -m training autoencoder                   # the explorer's 6-d MLP autoencoder
python -m training latent_classifier             # an MLP on the frozen autoencoder's code
python -m training export                        # the explorer's maps of every checkpoint (training/export.py)
python -m training denoiser --dataset fashion    # the same network on Fashion-MNIST -> checkpoints/denoiser_fashion.safetensors
python -m training denoiser --smoke --out /tmp/x.safetensors   # a few batches, for tests
torchrun --standalone --nproc_per_node 2 -m training vae2d     # data-parallel (gloo on CPUs, nccl on GPUs)
"""

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

import torch

from . import train_cluster, train_denoiser, train_latent, train_recon, train_vae
from .checkpoint import checkpoint_stem
from .data import DATASETS

TRAINERS = {
    "denoiser": train_denoiser,
    "denoiser_ref": train_denoiser,
    "vae": train_vae,
    "vae2d": train_vae,
    "neuron_ae": train_recon,
    "cluster_ae": train_cluster,
    "autoencoder": train_recon,
    "latent_classifier": train_latent,
}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:  # not a model: precomputes the explorer's maps from the checkpoints
        from . import export

        return export.main(argv[1:])
    p = argparse.ArgumentParser(
        prog="python -m training", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", choices=sorted(TRAINERS), help="registered model to train")
    p.add_argument(
        "--epochs",
        type=int,
        help="passes over the training set (for the denoisers: each with every distortion of the mix)",
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
    p.add_argument(
        "--dataset", choices=sorted(DATASETS), help="data set to train on (default mnist; the denoisers only)"
    )
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
        help="other recipe fields as JSON, e.g. '{\"train_k\": 10}' for vae (the fields are in each train_*.py Recipe)",
    )
    p.add_argument("--smoke", action="store_true", help="a few batches on a small subset, for tests")
    p.add_argument(
        "--resume", action="store_true", help="continue from the training-state file if there is one"
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        help="stop after the epoch that passes this budget (continue with --resume)",
    )
    args = p.parse_args(argv)

    trainer = TRAINERS[args.model]
    recipe = trainer.RECIPES[args.model]
    if args.smoke and args.epochs is None:
        args.epochs = 1
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "dataset": args.dataset,
    }
    if args.dataset and not hasattr(recipe, "dataset"):
        p.error(f"--dataset is not supported for {args.model}: it trains on MNIST only")
    if args.init:
        if not hasattr(recipe, "init"):
            p.error(f"--init is not supported for {args.model}")
        overrides["init"] = args.init
    allowed = {f.name for f in dataclasses.fields(recipe)} - {"init", "smoke", *overrides}  # those have flags
    if not set(args.recipe) <= allowed:
        p.error(
            f"--recipe takes fields of {args.model}'s recipe that have no flag of their own: {', '.join(sorted(allowed))}"
        )
    recipe = dataclasses.replace(
        recipe, **args.recipe, **{k: v for k, v in overrides.items() if v is not None}, smoke=args.smoke
    )
    out = (
        args.out
        or Path("checkpoints")
        / f"{checkpoint_stem(args.model, getattr(recipe, 'dataset', 'mnist'))}.safetensors"
    )
    # the state file sits beside the checkpoint so a later session can --resume it
    state_path = out.with_name(out.stem + ".state.safetensors")
    command = "python -m training " + shlex.join(argv)
    device = resolve_device(args.device)
    result = trainer.train(
        args.model,
        recipe,
        device=device,
        out=out,
        state_path=state_path,
        resume=args.resume,
        command=command,
        max_minutes=args.max_minutes,
        config=args.config,
    )
    import torch.distributed as dist

    if dist.is_initialized():  # under torchrun
        dist.destroy_process_group()
    elif result["finished"] and state_path.exists() and not args.smoke:
        print(f"finished; the training state {state_path} can be deleted")
    return result


if __name__ == "__main__":
    main()
