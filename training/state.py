"""The resumable training state: weights, optimizer moments, generator and progress in one
safetensors file with a JSON header, so a CPU run can stop and continue in a later session
without pickle; and warm starts from an earlier checkpoint (`--init`)."""

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from .checkpoint import git_commit, read_metadata, run_summary, write_safetensors


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
    defaults: dict | None = None,
    parent: dict | None = None,
) -> dict:
    """Fresh progress, or the progress saved in state_path (which then also restores model,
    optimizer and generator) when that file exists and was written with the same recipe.
    `parent`, the summary of the run this one starts from, goes into fresh progress; resumed
    progress already holds it. Recipe fields missing from an older state file count as their
    `defaults`, so adding a field to a recipe keeps earlier state files resumable."""
    if state_path is not None and state_path.exists():
        info = load_state(state_path, model, opt, gen)
        saved = {**{k: v for k, v in (defaults or {}).items() if k in recipe}, **info["recipe"]}
        if saved != recipe:
            raise SystemExit(
                f"{state_path} was written with another recipe; start without --resume or pass the same flags"
            )
        info["recipe"] = recipe
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
