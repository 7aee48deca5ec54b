"""Pieces every training loop shares: data preparation, the resumable training state, device names.

The training state (weights, optimizer moments, generator, progress) is a safetensors file with a
JSON header, so a CPU run can stop and continue in a later session without pickle.
"""

import json
import math
import os
import platform
import time
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import load_file

from .checkpoint import git_commit, read_metadata, run_summary, save_checkpoint, write_safetensors
from .data import DATASETS, MNIST, Split, load_dataset, train_val_split


class Dist:
    """This process's place in a `torchrun --nproc_per_node N` run (rank 0 of 1 otherwise).

    Every process draws the same global batch from the same generator and trains on its own
    contiguous shard; DistributedDataParallel averages the gradients, so with equal shards a step
    is the full batch's mean gradient, as in one process. Only rank 0 writes files."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        if self.world > 1 and not dist.is_initialized():
            if device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise SystemExit(f"batch size {batch_size} must be divisible by the {self.world} processes")

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to call for training steps (DDP on several processes). BatchNorm statistics
        are per shard on the CPU (SyncBatchNorm needs CUDA) and synchronised across GPUs."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        if self.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DDP(model, device_ids=[self.device.index])
        return DDP(model)

    def shard(self, t: torch.Tensor, dim: int = 0) -> torch.Tensor:
        return t.tensor_split(self.world, dim)[self.rank] if self.world > 1 else t

    def agree(self, flag: bool) -> bool:
        """Rank 0's decision, on every rank (e.g. a time budget, which each rank measures differently)."""
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.broadcast(t, 0)
        return bool(t.item())


def prepare_data(r) -> tuple[MNIST, Split, Split, Split]:
    """The data set, the seeded train / validation split and the test set of a recipe (with
    `seed`, `val_size`, `smoke` and, for the denoisers, `dataset`); smoke runs get small new splits,
    the cached set stays whole."""
    data = load_dataset(getattr(r, "dataset", "mnist"))
    train_split, val_split = train_val_split(data.train, r.val_size, seed=r.seed)
    test = data.test
    if r.smoke:
        train_split, val_split, test = (
            Split(s.images[:n], s.labels[:n]) for s, n in ((train_split, 512), (val_split, 200), (test, 200))
        )
    return data, train_split, val_split, test


def setup(r, device: torch.device) -> tuple[Dist, MNIST, Split, Split, Split]:
    """The start every trainer shares: seed, join the process group under torchrun (the device
    may become this rank's GPU: use `dist_.device`), check the batch splits evenly, load the data."""
    torch.manual_seed(r.seed)
    if device.type == "cuda":
        # every batch has the same shape, so cuDNN's timed choice of conv algorithm pays off;
        # TF32 matrix products (convolutions use TF32 already by default)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    dist_ = Dist(device)
    dist_.check_batch(r.batch_size)
    return (dist_, *prepare_data(r))


def optimizer_step(opt, loss: torch.Tensor, info: dict, n: int) -> None:
    """Backpropagate `loss`, update the weights, and count the step and its n samples in the run's progress."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    info["step"] += 1
    info["samples"] += n


def lr_at(step: int, total: int, r) -> float:
    """Learning rate of a recipe (with `lr`, `warmup_frac`, `cosine`) at a step: linear warm-up,
    then constant or cosine decay to zero."""
    warm = int(r.warmup_frac * total)
    if step < warm:
        return r.lr * (step + 1) / warm
    if not r.cosine:
        return r.lr
    t = (step - warm) / max(1, total - warm)
    return 0.5 * r.lr * (1 + math.cos(math.pi * t))


def save_state(path: Path, model, opt, gen: torch.Generator, info: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["generator"] = gen.get_state()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(path, tensors, {"info": json.dumps(info)})


def load_state(path: Path, model, opt, gen: torch.Generator) -> dict:
    with safe_open(str(path), framework="pt") as f:
        info = json.loads(f.metadata()["info"])
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, i, k = key.split(".", 2)
            sd["state"].setdefault(int(i), {})[k] = v
    opt.load_state_dict(sd)
    gen.set_state(tensors["generator"])
    return info


def start_or_resume(
    state_path: Path | None,
    model,
    opt,
    gen: torch.Generator,
    *,
    command: str,
    recipe: dict,
    parent: dict | None = None,
) -> dict:
    """Fresh progress, or the progress saved in state_path (which then also restores model,
    optimizer and generator) when that file exists and was written with the same recipe.
    `parent`, the summary of the run this one starts from, goes into fresh progress; resumed
    progress already holds it."""
    if state_path is not None and state_path.exists():
        info = load_state(state_path, model, opt, gen)
        if info["recipe"] != recipe:
            raise SystemExit(
                f"{state_path} was written with another recipe; start without --resume or pass the same flags"
            )
        print(f"resumed from {state_path} at epoch {info['epoch']} (step {info['step']})")
        # the header keeps the first command and commit; each resume is recorded beside them
        info.setdefault("resumes", []).append(
            {"epoch": info["epoch"], "command": command, "commit": git_commit()}
        )
        return info
    # the commit is taken now: commits made while a long run trains are not its code
    info = {
        "epoch": 0,
        "step": 0,
        "samples": 0,
        "wall_time_s": 0.0,
        "history": [],
        "command": command,
        "recipe": recipe,
        "commit": git_commit(),
    }
    if parent:
        info["parent"] = parent
    return info


def warm_start(model, path: str) -> dict:
    """Copy the tensors of a checkpoint whose name and shape match (a new head starts fresh) and
    return the parent run's summary, kept in the child's header because the parent file itself is
    usually overwritten by its child."""
    meta = read_metadata(path)  # a clear error for a missing or broken file
    saved = load_file(path)
    own = model.state_dict()
    same = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    print(f"warm start from {path}: {len(same)} of {len(own)} tensors")
    return run_summary(meta)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def end_epoch(
    info: dict,
    row: dict,
    *,
    t_start: float,
    state_path: Path | None,
    model,
    opt,
    gen: torch.Generator,
    max_minutes: float | None,
    epochs: int,
    dist_: Dist | None = None,
) -> bool:
    """Record a finished epoch (its `row` of validation figures), save the training state (rank 0),
    and say whether the time budget asks to stop here (rank 0 decides for all)."""
    main = dist_ is None or dist_.main
    info["epoch"] = row["epoch"]
    info["wall_time_s"] = time.time() - t_start
    row["wall_time_s"] = round(info["wall_time_s"], 1)
    info["history"].append(row)
    if main:
        print(json.dumps(row), flush=True)
        if state_path:
            save_state(state_path, model, opt, gen, info)
    stop = max_minutes is not None and info["wall_time_s"] > 60 * max_minutes and info["epoch"] < epochs
    if dist_ is not None:
        stop = dist_.agree(stop)
    if stop and main:
        print(f"time budget of {max_minutes} min spent after epoch {info['epoch']}; continue with --resume")
    return stop


def finish(
    model,
    out: Path,
    metrics: dict,
    info: dict,
    *,
    recipe: dict,
    device: torch.device,
    data: MNIST,
    dist_: Dist | None = None,
) -> dict:
    """Add the run's size to the test metrics, write the checkpoint (rank 0) and print the metrics."""
    metrics["parameters"] = sum(p.numel() for p in model.parameters())
    metrics["train_samples"] = info["samples"]
    if dist_ is not None and dist_.world > 1:
        metrics["processes"] = dist_.world
        if not dist_.main:
            return {"finished": True, "metrics": metrics, **info}
    save_checkpoint(
        model,
        out,
        metrics,
        command=info["command"],
        device=device_name(device),
        wall_time_s=info["wall_time_s"],
        dataset=f"{DATASETS[data.name]} ({data.source})",
        commit=info.get("commit"),
        extra={
            "recipe": recipe,
            "history": info["history"],
            **{k: info[k] for k in ("parent", "resumes") if k in info},
        },
    )
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return {"finished": True, "metrics": metrics, **info}
