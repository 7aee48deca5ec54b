"""Safetensors checkpoints that carry everything needed to rebuild the model.

Header metadata (all strings): model (registry name), config (JSON), metrics (JSON), command,
commit, device, wall_time_s, dataset, created. Never pickle.
"""

import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from .data import DATASETS
from .registry import build_model, config_json, model_name

ROOT = Path(__file__).resolve().parent.parent
# the one setting for where checkpoints and their maps live; tests and deployments point it elsewhere
CHECKPOINT_DIR = Path(os.environ.get("LATENT_LAB_CHECKPOINTS", ROOT / "checkpoints"))
REQUIRED_KEYS = (
    "model",
    "config",
    "metrics",
    "command",
    "commit",
    "device",
    "wall_time_s",
    "dataset",
    "created",
)


class CheckpointError(RuntimeError):
    pass


def git_commit() -> str:
    """The code's commit: $GIT_COMMIT when set (a copy of the tree on another machine, whose
    .git, if any, need not match what was copied), else the checkout's HEAD."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    """Write through a temporary file and rename it: a crash mid-write never leaves a half file
    behind (checkpoints, training states, maps)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def save_checkpoint(
    model: nn.Module,
    path: str | Path,
    metrics: dict,
    *,
    command: str,
    device: str,
    wall_time_s: float,
    dataset: str,
    commit: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write the model's weights and the header; `commit` is the code's commit when training
    started (default: now); `extra` adds more string fields (e.g. train config)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": model_name(model),
        "config": config_json(model),
        "metrics": json.dumps(metrics, sort_keys=True),
        "command": command,
        "commit": commit or git_commit(),
        "device": device,
        "wall_time_s": f"{wall_time_s:.1f}",
        "dataset": dataset,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update(
        {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in (extra or {}).items()}
    )
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_safetensors(path, state, meta)
    return path


def rewrite_metrics(path: str | Path, metrics: dict, command: str, field: str = "metrics") -> None:
    """Put re-scored test metrics into a checkpoint's header (after the protocol changed, say): the
    weights and the rest of the header stay, the training-time figures are kept as
    `metrics_at_training` and the command that re-scored them as `rescored_by`. Another `field`
    (a variant of the protocol) gets the metrics and their command and leaves `metrics` alone."""
    path = Path(path)
    meta = read_metadata(path)
    if field == "metrics":
        meta.setdefault("metrics_at_training", meta["metrics"])
        meta["metrics"] = json.dumps({**json.loads(meta["metrics"]), **metrics}, sort_keys=True)
        meta["rescored_by"] = command
    else:
        meta[field] = json.dumps({**metrics, "command": command}, sort_keys=True)
    write_safetensors(path, load_file(str(path)), meta)


# files beside a checkpoint that are not checkpoints: training state, the explorer's maps, the
# latents recorded while training (training/snapshots.py) and the film made of them (training/dynamics.py)
NOT_CHECKPOINTS = (
    ".state.safetensors",
    ".map.safetensors",
    ".map-all.safetensors",
    ".snapshots.safetensors",
    ".dynamics.safetensors",
)


def checkpoint_files(folder: str | Path) -> list[Path]:
    """The model checkpoints in a folder, sorted by name: not the files beside them (NOT_CHECKPOINTS:
    <name>.state.safetensors, <name>.map.safetensors, ...), nor the data-quality scores
    (quality.safetensors, training/quality.py)."""
    return sorted(
        p
        for p in Path(folder).glob("*.safetensors")
        if not p.name.endswith(NOT_CHECKPOINTS) and p.name != "quality.safetensors"
    )


def read_safetensors(path: Path, what: str, how: str, tensors: bool = True) -> tuple[dict, dict]:
    """(tensors, header) of a file that a command makes (tensors {} when not asked for); a
    CheckpointError names the file, `what` it is and the command `how` that makes it."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return ({k: f.get_tensor(k) for k in f.keys()} if tensors else {}), f.metadata()
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{what} {path} is missing or unreadable ({e}). Make it with: {how}") from e


def read_metadata(path: str | Path) -> dict:
    """The header as a dict of strings; fails with a message naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file ({e})") from e
    # every reader (app, model card, evaluation, warm starts) relies on the whole header, so a file
    # without part of it is refused here, by name, rather than failing later on a bare KeyError
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks header field(s) {', '.join(missing)}")
    return meta


def checkpoint_stem(model: str, dataset: str = "mnist") -> str:
    """File name (without .safetensors) of a model's checkpoint: <model> trained on MNIST,
    <model>_<dataset> (denoiser_fashion) the same architecture on another set of DATASETS."""
    return model if dataset == "mnist" else f"{model}_{dataset}"


def checkpoint_path(stem: str) -> Path:
    """checkpoints/<stem>.safetensors in the checkpoints folder (CHECKPOINT_DIR)."""
    return CHECKPOINT_DIR / f"{stem}.safetensors"


def parse_stem(stem: str) -> tuple[str, str]:
    """The model and the data set a checkpoint's file name stands for (inverse of checkpoint_stem)."""
    for key in DATASETS:
        if key != "mnist" and stem.endswith(f"_{key}"):
            return stem.removesuffix(f"_{key}"), key
    return stem, "mnist"


def trained_on(meta: dict) -> str:
    """Key of the data set (training.data.DATASETS) a checkpoint was trained on: its recipe's
    `dataset`, MNIST for the recipes that have none."""
    return (json.loads(meta.get("recipe", "null")) or {}).get("dataset", "mnist")


def run_summary(meta: dict) -> dict:
    """How the run behind a header was made: command, commit, device, wall time, samples seen,
    recipe, config and (when it had one) its parent's summary (what a warm-started child keeps of
    its parent, and what the card shows)."""
    metrics = json.loads(meta.get("metrics", "{}"))
    summary = {
        "command": meta.get("command"),
        "commit": meta.get("commit"),
        "device": meta.get("device"),
        "wall_time_s": float(meta.get("wall_time_s", 0)),
        "train_samples": metrics.get("train_samples", 0),
        "recipe": json.loads(meta.get("recipe", "null")),
        "config": json.loads(meta["config"]),
    }
    if "parent" in meta:  # a warm-started run: its own parent too, so a chain of --init stages stays complete
        summary["parent"] = json.loads(meta["parent"])
    return summary


def stages(meta: dict) -> list[dict]:
    """The runs behind a checkpoint, oldest first: its warm-start ancestors (header field `parent`,
    nested, when it was trained with --init) and itself."""
    runs, run = [], run_summary(meta)
    while run:
        runs.insert(0, run)
        run = run.get("parent")
    return runs


def total_samples(meta: dict) -> int:
    """Training samples over every run behind a checkpoint (see `stages`)."""
    return sum(r["train_samples"] for r in stages(meta))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model named in the header, load its weights strictly, return it in eval mode."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        model = build_model(meta["model"], json.loads(meta["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {path}: cannot build model {meta['model']!r} from its config ({e})"
        ) from e
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({e})") from e
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not match model {meta['model']!r}: {e}") from e
    return model.to(device).eval()
