"""A training film: `python -m training export NAME [NAME...] --dynamics`.

Reads the latents recorded while NAME trained (checkpoints/NAME.snapshots.safetensors, made by
`python -m training NAME --snapshots`) and writes checkpoints/NAME.dynamics.safetensors: the test
digits' 2-d map at every recorded point of training, aligned so that points move on screen only
where the latent moved.

A 2-d latent is its own frame, centred and scaled to unit RMS radius (not rotated: its axes mean
something). A wider latent: each frame's PCA to 2-d, centred and scaled the same way, then
rotated or reflected (orthogonal Procrustes) onto the frame after it, from the last frame
backwards, so the film ends on the trained model's PCA map. A linear map keeps the latent's
movement as the screen's; the fit is deterministic and takes seconds.

Tensors: coords float32 (F, N, 2), scale float32 (F,) (the RMS radius each frame was divided by),
epochs float32 (F,), steps int64 (F,), knn5 float32 (F,) (leave-one-out kNN-5 accuracy in the latent,
percent), trustworthiness float32 (F,) (of the frame against the latent, k=15, over the first
2,000 test digits), loss float32 (F,) (one validation figure, named by the header's loss_name).
Header (strings): model, checkpoint, checkpoint_created, snapshots_command, snapshots_created,
method, trustworthiness_queries, loss_name, motion (JSON), command, commit, created, wall_time_s.
"""

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import checkpoint, projection
from .checkpoint import git_commit, read_metadata, read_safetensors, trained_on, write_safetensors
from .data import load_dataset
from .snapshots import read_snapshots, record_command, snapshots_path

TRUST_K = 15
TRUST_QUERIES = 2000  # trustworthiness over the first 2,000 test digits: a fifth of the cost of all 10,000
KNN_K = 5
# the validation figure the film plots beside its frames, the first a recipe's rows have: the
# autoencoders' MSE, the VAEs' negative ELBO; the denoisers' rows have no loss, their
# reconstruction PSNR (dB, higher is better) stands in
LOSS_KEYS = ("val_mse", "mse", "val_neg_elbo", "neg_elbo", "val_loss", "loss", "psnr_recon_clamp")


def dynamics_path(checkpoint: Path) -> Path:
    """checkpoints/NAME.dynamics.safetensors beside checkpoints/NAME.safetensors."""
    return checkpoint.with_name(checkpoint.stem + ".dynamics.safetensors")


def read_dynamics(path: Path) -> tuple[dict, dict]:
    """(tensors, header) of a film; a CheckpointError names the file and the command that makes it."""
    stem = path.name.removesuffix(".dynamics.safetensors")
    return read_safetensors(path, "training film", f"python -m training export {stem} --dynamics")


def procrustes(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`a` (N, d) rotated or reflected onto `b` (N, d), both centred: a @ R with the orthogonal R
    that minimises |a R - b| (from the SVD of a^T b)."""
    u, _, vt = torch.linalg.svd(a.double().T @ b.double())  # (d, d) each
    return (a.double() @ (u @ vt)).float()


def unit_rms(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """x (N, d) centred and divided by its RMS radius, and that radius."""
    centred = x - x.mean(0)
    scale = float(centred.double().pow(2).sum(1).mean().sqrt())
    return centred / max(scale, 1e-12), scale  # a collapsed frame (all latents equal) stays at 0


def align(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(coords (F, N, 2), scale (F,), unaligned (F, N, 2)) of latents (F, N, D): a 2-d latent only
    centred and scaled; a wider one by PCA per frame, centred and scaled, then each frame rotated
    or reflected onto the aligned frame after it, from the last backwards (`unaligned`: the frames
    before that alignment)."""
    # each frame centred and scaled: [((N, 2), radius)] * F
    frames = [unit_rms(z if z.shape[1] == 2 else projection.pca(z, 2)) for z in latents.float()]
    unaligned = torch.stack([c for c, _ in frames])
    scale = torch.tensor([s for _, s in frames], dtype=torch.float32)
    if latents.shape[2] == 2:
        return unaligned, scale, unaligned
    coords = unaligned.clone()
    for t in range(len(coords) - 2, -1, -1):
        coords[t] = procrustes(unaligned[t], coords[t + 1])
    return coords, scale, unaligned


def motion(coords: torch.Tensor) -> float:
    """Mean distance a point moves between consecutive frames of coords (F, N, 2)."""
    if len(coords) < 2:
        return 0.0
    return float((coords[1:] - coords[:-1]).norm(dim=-1).mean())


def loss_key(tensors: dict) -> str:
    """The snapshots' validation figure the film plots ("" when they have none of LOSS_KEYS)."""
    return next((k for k in LOSS_KEYS if f"val.{k}" in tensors), "")


def export(name: str, *, ckpt_dir: Path | None = None, command: str = "", log=print) -> Path:
    """Write the training film of checkpoint `name` from its snapshots."""
    t0 = time.time()
    ckpt_dir = ckpt_dir or checkpoint.CHECKPOINT_DIR
    path = ckpt_dir / f"{name}.safetensors"
    meta = read_metadata(path)
    src = snapshots_path(path)
    if not src.exists():
        raise SystemExit(f"{src} does not exist; record it by training with: {record_command(name)}")
    snaps, snap_header = read_snapshots(src)
    if snap_header["checkpoint_created"] != meta["created"]:  # "" while its run has not finished
        made = snap_header["checkpoint_created"] or "no checkpoint yet"
        raise SystemExit(
            f"{src} is stale: it names the checkpoint of {made}, not {path.name} of {meta['created']}; "
            f"record it again with: {record_command(name)}"
        )
    latents = snaps["latents"].float()  # (F, N, D)
    n = latents.shape[1]
    labels = load_dataset(trained_on(meta)).test.labels[:n]  # smoke runs record the first test digits
    coords, scale, unaligned = align(latents)
    queries = torch.arange(min(TRUST_QUERIES, n))
    knn5, trust = [], []
    for z, c in zip(latents, coords):
        knn5.append(projection.knn_accuracy(z, labels, KNN_K))
        trust.append(projection.trustworthiness(z, c, TRUST_K, queries))
    loss_name = loss_key(snaps)
    loss = snaps[f"val.{loss_name}"] if loss_name else torch.full((len(latents),), float("nan"))
    moves = {"aligned": round(motion(coords), 5), "unaligned": round(motion(unaligned), 5)}
    log(f"  {len(latents)} frames of {n} points, {latents.shape[2]}-d; mean movement per frame {moves}")
    tensors = {
        "coords": coords.contiguous(),
        "scale": scale,
        "epochs": snaps["epochs"].float(),
        "steps": snaps["steps"].to(torch.int64),
        "knn5": torch.tensor(knn5, dtype=torch.float32),
        "trustworthiness": torch.tensor(trust, dtype=torch.float32),
        "loss": loss.float(),
    }
    header = {
        "model": meta["model"],
        "checkpoint": path.name,
        "checkpoint_created": meta["created"],
        "snapshots_command": snap_header["command"],
        "snapshots_created": snap_header["created"],
        "method": "latent" if latents.shape[2] == 2 else "pca+procrustes",
        "trustworthiness_queries": str(len(queries)),
        "loss_name": loss_name,
        "motion": json.dumps(moves, sort_keys=True),
        "command": command,
        "commit": git_commit(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": f"{time.time() - t0:.1f}",
    }
    out = dynamics_path(path)
    write_safetensors(out, tensors, header)
    return out
