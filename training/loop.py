"""The one training loop: device, seed, DistributedDataParallel, the time budget, resume, the
progress bar, per-epoch validation, the history and the checkpoint. A recipe (training/recipes/)
supplies the rest through the hooks of `Recipe`: its optimiser and stages, the loss of a batch,
its validation figures and its test metrics.

    python -m training <model> [flags]       # training/__main__.py builds the recipe and calls train()
"""

import dataclasses
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .checkpoint import read_metadata, save_checkpoint
from .data import DATASETS, MNIST, Split, load_dataset, train_val_split
from .registry import Encoder, ModelSpec
from .snapshots import Snapshots, snapshots_path
from .state import save_state, start_or_resume, warm_start


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


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@dataclass
class Stage:
    """A stretch of epochs with one optimiser; most recipes have one, cluster_ae has three kinds."""

    name: str
    epochs: int
    optimizer: torch.optim.Optimizer
    begin: Callable[[], None] | None = None  # runs before the stage's first epoch (e.g. new targets)


@dataclass
class Run:
    """What a recipe's hooks see of the run in progress."""

    spec: ModelSpec
    model: nn.Module  # the weights, unwrapped
    net: nn.Module  # what training steps call: `model`, or DDP around it on several processes
    dist: Dist
    device: torch.device
    data: MNIST
    train: Split
    val: Split
    test: Split
    gen: torch.Generator
    info: dict  # progress: epoch, step, samples, wall time, history (saved in the training state)
    opt: torch.optim.Optimizer | None = None  # the current stage's
    steps_per_epoch: int = 0
    total_steps: int = 0  # over every epoch of the recipe, for its schedules
    state: dict = field(default_factory=dict)  # the recipe's own tensors (images on the device, targets)


class Recipe:
    """Hooks the loop calls; a recipe is a dataclass of hyperparameters (its fields go into the
    checkpoint header) that subclasses this. Every recipe has `epochs`, `batch_size`, `seed`,
    `val_size` and `smoke` fields."""

    channels_last: ClassVar[bool] = False  # train in channels_last (faster CPU convolutions)
    resumable: ClassVar[bool] = True  # --resume and --max-minutes (a state file after every epoch)
    data_parallel: ClassVar[bool] = True  # may run under torchrun

    def header(self) -> dict:
        """The recipe as the header records it (and as a resumed run must match)."""
        return dataclasses.asdict(self)

    @classmethod
    def defaults(cls) -> dict:
        """Fields with a default value: a state file written before such a field existed still
        resumes, read as having had the default."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out

    def build(self, spec: ModelSpec, config: dict | None, device: torch.device) -> tuple[nn.Module, dict]:
        """The model to train and the summary of the run it starts from (`init`; {} for none)."""
        model = spec.build(config)
        init = getattr(self, "init", None)
        return model, warm_start(model, init) if init else {}

    def prepare(self, run: Run) -> None:
        """Once, before the first epoch: put what the batches read into run.state."""

    def stages(self, run: Run) -> list[Stage]:
        raise NotImplementedError

    def epoch_size(self, run: Run) -> int:
        """Items shuffled per epoch (the loop draws a permutation of this many)."""
        return len(run.train)

    def loss(self, run: Run, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The loss of the batch of items `idx` (this process's shard of it) and figures for the
        progress bar."""
        raise NotImplementedError

    def validate(self, run: Run) -> dict:
        """The epoch's row of validation figures for the history."""
        raise NotImplementedError

    def test(self, run: Run) -> dict:
        """The test metrics written into the checkpoint."""
        from .evaluate import EvalOptions

        return run.spec.evaluate(run.model, run.test, EvalOptions(device=run.device))


def train(
    spec: ModelSpec,
    r: Recipe,
    *,
    device: torch.device,
    out: Path,
    state_path: Path | None,
    resume: bool,
    command: str,
    max_minutes: float | None = None,
    config: dict | None = None,
    snapshots: int | None = None,
) -> dict:
    """Train `spec`'s model under recipe `r` and write its checkpoint to `out` (rank 0); with a
    time budget, stop after the epoch that passes it (the training state lets --resume go on).
    `snapshots` (a number of points in the first epoch) records the test set's latents while it
    trains (training/snapshots.py)."""
    if not r.resumable and (resume or max_minutes is not None):
        raise SystemExit(f"{spec.name} trains in one go; --resume and --max-minutes are not supported")
    torch.manual_seed(r.seed)
    if device.type == "cuda":
        # every batch has the same shape, so cuDNN's timed choice of conv algorithm pays off;
        # TF32 matrix products (convolutions use TF32 already by default)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    dist_ = Dist(device)
    if dist_.world > 1 and not r.data_parallel:
        raise SystemExit(f"{spec.name} trains in one process")
    dist_.check_batch(r.batch_size)
    data, train_split, val_split, test = prepare_data(r)
    device = dist_.device
    model, parent = r.build(spec, config, device)
    if snapshots is not None and not isinstance(model, Encoder):
        raise SystemExit(f"{spec.name} has no encoder: --snapshots records the test set's latents")
    model = model.to(device)
    if r.channels_last:
        model = model.to(memory_format=torch.channels_last)
    gen = torch.Generator(device=device).manual_seed(r.seed)
    run = Run(spec, model, dist_.wrap(model), dist_, device, data, train_split, val_split, test, gen, {})
    r.prepare(run)
    stages = r.stages(run)
    run.info = start_or_resume(
        state_path if resume else None,
        model,
        stages[0].optimizer,
        gen,
        command=command,
        recipe=r.header(),
        defaults=r.defaults(),
        parent=parent,
    )
    info = run.info
    run.steps_per_epoch = math.ceil(r.epoch_size(run) / r.batch_size)
    run.total_steps = run.steps_per_epoch * r.epochs
    epochs = sum(s.epochs for s in stages)
    rec = None
    if snapshots is not None and dist_.main:
        rec = Snapshots(run, snapshots, epochs, snapshots_path(out))
        rec.start(run, r)
    t_start = time.time() - info["wall_time_s"]
    first = 0  # the stage's first epoch, counted over the whole run
    for stage in stages:
        run.opt = stage.optimizer
        if first + stage.epochs > info["epoch"] and stage.begin is not None:
            stage.begin()
        for epoch in range(max(first, info["epoch"]), first + stage.epochs):
            seen, sps = _epoch(run, r, f"{stage.name} {epoch + 1}/{epochs}", rec)
            val = r.validate(run)
            row = {"epoch": epoch + 1, **({"stage": stage.name} if len(stages) > 1 else {})}
            row.update(samples_per_s=round(sps, 1), **val)
            if rec is not None:
                rec.end_epoch(run, val)
            if _end_epoch(run, row, t_start, state_path if r.resumable else None, max_minutes, epochs):
                return {"finished": False, **info}
        first += stage.epochs
    result = _finish(run, out, r.test(run), r.header())
    if rec is not None:  # the snapshots name the checkpoint they belong to
        rec.write(run, checkpoint_created=read_metadata(out)["created"])
    return result


def _epoch(run: Run, r: Recipe, desc: str, rec: Snapshots | None = None) -> tuple[int, float]:
    """One shuffled pass: every item once, in batches; (samples seen, samples per second)."""
    run.model.train()
    n = r.epoch_size(run)
    order = torch.randperm(n, generator=run.gen, device=run.gen.device)
    bar = tqdm(range(run.steps_per_epoch), desc=desc, mininterval=5, leave=False, disable=not run.dist.main)
    seen, t0 = 0, time.time()
    for s in bar:
        idx = order[s * r.batch_size : (s + 1) * r.batch_size]
        loss, shown = r.loss(run, idx)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.info["step"] += 1
        run.info["samples"] += len(idx)
        seen += len(idx)
        if rec is not None:
            t0 += rec.after_step(run, r)  # samples per second of training, recording left out
        if s % 20 == 0:
            figures = {k: f"{v.item() if torch.is_tensor(v) else v:.4g}" for k, v in shown.items()}
            bar.set_postfix(**figures, sps=f"{seen / (time.time() - t0):.0f}")
        if r.smoke and s >= 3:
            break
    return seen, seen / (time.time() - t0)


def _end_epoch(
    run: Run, row: dict, t_start: float, state_path: Path | None, max_minutes: float | None, epochs: int
) -> bool:
    """Record a finished epoch, save the training state (rank 0), and say whether the time budget
    asks to stop here (rank 0 decides for all)."""
    info = run.info
    info["epoch"] = row["epoch"]
    info["wall_time_s"] = time.time() - t_start
    row["wall_time_s"] = round(info["wall_time_s"], 1)
    info["history"].append(row)
    if run.dist.main:
        print(json.dumps(row), flush=True)
        if state_path:
            save_state(state_path, run.model, run.opt, run.gen, info)
    stop = max_minutes is not None and info["wall_time_s"] > 60 * max_minutes and info["epoch"] < epochs
    stop = run.dist.agree(stop)
    if stop and run.dist.main:
        print(f"time budget of {max_minutes} min spent after epoch {info['epoch']}; continue with --resume")
    return stop


def _finish(run: Run, out: Path, metrics: dict, recipe: dict) -> dict:
    """Add the run's size to the test metrics, write the checkpoint (rank 0) and print the metrics."""
    info = run.info
    metrics["parameters"] = sum(p.numel() for p in run.model.parameters())
    metrics["train_samples"] = info["samples"]
    if run.dist.world > 1:
        metrics["processes"] = run.dist.world
    if run.dist.main:
        extra = {"recipe": recipe, "history": info["history"]}
        extra.update({k: info[k] for k in ("parent", "resumes", "clustering") if k in info})
        save_checkpoint(
            run.model,
            out,
            metrics,
            command=info["command"],
            device=device_name(run.device),
            wall_time_s=info["wall_time_s"],
            dataset=f"{DATASETS[run.data.name]} ({run.data.source})",
            commit=info.get("commit"),
            extra=extra,
        )
        print(json.dumps(metrics, indent=2, sort_keys=True))
    return {"finished": True, "metrics": metrics, **info}
