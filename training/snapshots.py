"""The test set's latents recorded while a model trains: `python -m training NAME --snapshots [POINTS]`.

Frames: the initial weights (step 0), POINTS log-spaced steps inside the first epoch (the latent
moves most at the start) and the end of every epoch. Each frame holds the test digits' latents
(float16) and the recipe's validation row at that point. The file,
checkpoints/NAME.snapshots.safetensors, is rewritten at every epoch end (with the training state,
so a resumed run continues it) and names its checkpoint (`checkpoint_created`) once that is written.
`python -m training export NAME --dynamics` (training/dynamics.py) turns it into a training film.

Tensors: latents float16 (F, N, D), steps int64 (F,), epochs float32 (F,) (step / steps_per_epoch)
and val.<key> float32 (F,) per numeric figure of the validation rows (NaN where a row lacks it).
Header (strings): model, command, commit, points, steps_per_epoch, created, checkpoint_created
("" until the checkpoint is written), val_keys (JSON list).
"""

import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from .checkpoint import git_commit, parse_stem, read_safetensors, write_safetensors
from .evaluate import batched
from .registry import model_name


def snapshots_path(checkpoint: Path) -> Path:
    """checkpoints/NAME.snapshots.safetensors beside checkpoints/NAME.safetensors."""
    return checkpoint.with_name(checkpoint.stem + ".snapshots.safetensors")


def record_command(stem: str) -> str:
    """The command that records the snapshots of checkpoint `stem` (denoiser_fashion: --dataset fashion)."""
    model, dataset = parse_stem(stem)
    return f"python -m training {model} --snapshots" + (f" --dataset {dataset}" if dataset != "mnist" else "")


def read_snapshots(path: Path) -> tuple[dict, dict]:
    """(tensors, header) of a snapshots file; a CheckpointError names the file and the command."""
    stem = path.name.removesuffix(".snapshots.safetensors")
    return read_safetensors(path, "snapshots", record_command(stem))


def due_steps(steps_per_epoch: int, points: int, epochs: int) -> list[int]:
    """The steps a film records, sorted: 0 (the initial weights), the distinct
    round(steps_per_epoch ** (k / points)) for k < points (log-spaced inside the first epoch) and
    every epoch's end."""
    inside = {round(steps_per_epoch ** (k / points)) for k in range(points)}
    return sorted({0, *inside, *(e * steps_per_epoch for e in range(1, epochs + 1))})


class Snapshots:
    """The recorder the loop calls (rank 0 only): at the start, after each step, at each epoch end
    and when the checkpoint is written. Recording draws no random numbers (the recipes' validation
    uses generators of its own) and changes no weight or BatchNorm statistic (eval mode, no
    gradients), so a run trains the same with and without it."""

    def __init__(self, run, points: int, epochs: int, path: Path):
        self.path = path
        self.points = points
        self.due = set(due_steps(run.steps_per_epoch, points, epochs))
        self.steps: list[int] = []
        self.latents: list[torch.Tensor] = []  # (N, D) float16 each
        self.val: dict[str, list[float]] = {}  # figure -> (F,) values, NaN where a row lacked it
        if run.info["step"] > 0:  # a resumed run continues the frames of its earlier sessions
            self._resume(run)

    def _resume(self, run) -> None:
        step = run.info["step"]
        if not self.path.exists():
            raise SystemExit(
                f"--snapshots on a resumed run needs {self.path}, which its earlier sessions did not "
                f"record; start without --resume (the film starts at the initial weights)"
            )
        t, header = read_snapshots(self.path)
        if header["command"] != run.info["command"]:  # a resumed run keeps its first session's command
            raise SystemExit(
                f"{self.path} was recorded by another run ({header['command']}); start without --resume"
            )
        if (header["points"], header["steps_per_epoch"]) != (str(self.points), str(run.steps_per_epoch)):
            raise SystemExit(
                f"{self.path} was recorded with --snapshots {header['points']} and "
                f"{header['steps_per_epoch']} steps per epoch; resume with the same"
            )
        keep = t["steps"] <= step  # the state file may be older than the snapshots
        self.steps = t["steps"][keep].tolist()
        self.latents = list(t["latents"][keep])
        self.val = {k: t[f"val.{k}"][keep].tolist() for k in json.loads(header["val_keys"])}

    def start(self, run, r) -> None:
        """Frame 0: the initial weights (a fresh run only)."""
        if not self.steps:
            self.record(run, r.validate(run))

    def after_step(self, run, r) -> float:
        """Record a due step inside an epoch; returns the seconds it took (not training time). An
        epoch's last step is left to `end_epoch`, which has the loop's validation row."""
        step = run.info["step"]
        if step not in self.due or step % run.steps_per_epoch == 0:
            return 0.0
        t0 = time.time()
        self.record(run, r.validate(run))
        run.model.train()  # validation and recording put it in eval mode; the epoch goes on
        return time.time() - t0

    def end_epoch(self, run, val: dict) -> None:
        """Record the epoch's end with the loop's validation row and rewrite the file."""
        if not self.steps or self.steps[-1] != run.info["step"]:  # a smoke epoch may end on a due step
            self.record(run, val)
        self.write(run)

    def record(self, run, val: dict) -> None:
        """One frame: the test set's latents under the current weights and the validation row."""
        run.model.eval()  # the loop's next epoch, or after_step, puts it back in training mode
        self.latents.append(batched(run.model.encode, run.test.images, run.device).half())  # (N, D)
        self.steps.append(run.info["step"])
        numbers = {k: float(v) for k, v in val.items() if isinstance(v, (int, float))}
        for k in numbers:
            if k not in self.val:  # a figure that appears later (cluster_ae's targets_share) is NaN before
                self.val[k] = [math.nan] * (len(self.steps) - 1)
        for k, values in self.val.items():
            values.append(numbers.get(k, math.nan))

    def write(self, run, checkpoint_created: str = "") -> None:
        """Write the frames so far; `checkpoint_created` names the finished run's checkpoint."""
        steps = torch.tensor(self.steps, dtype=torch.int64)
        tensors = {
            "latents": torch.stack(self.latents).contiguous(),  # (F, N, D)
            "steps": steps,
            "epochs": (steps.double() / run.steps_per_epoch).float(),
            **{f"val.{k}": torch.tensor(v, dtype=torch.float32) for k, v in self.val.items()},
        }
        header = {
            "model": model_name(run.model),
            "command": run.info["command"],
            "commit": run.info.get("commit") or git_commit(),
            "points": str(self.points),
            "steps_per_epoch": str(run.steps_per_epoch),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "checkpoint_created": checkpoint_created,
            "val_keys": json.dumps(list(self.val)),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_safetensors(self.path, tensors, header)
