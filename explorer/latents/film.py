"""A model's training as a film: the frames of `python -m training export NAME --dynamics`
(checkpoints/NAME.dynamics.safetensors), each the test digits' 2-d map at one point of training.

The browser gets every frame once, as one binary file of int16 coordinates over the film's box
(10,000 points x 2 x 2 bytes = 40,000 bytes a frame; JSON text of 3-decimal numbers takes about
three times that), and moves the points itself (explorer/static/latent_map.js); the server only
names the file and the frame to open on."""

import base64
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from training.checkpoint import CheckpointError, checkpoint_path
from training.dynamics import dynamics_path, read_dynamics
from training.snapshots import record_command

from .. import runtime
from .sprites import file_url, sprite_dir

FILM = "film"  # the projection key of a film (Map.coords["film_2d"] holds its last frame)


@dataclass(frozen=True)
class Film:
    coords: torch.Tensor  # (F, N, 2) float32, one 2-d map of the test digits per frame
    epochs: list[float]  # (F,) fractional epochs of training at each frame
    knn5: list[float]  # (F,) leave-one-out kNN-5 accuracy in the latent, percent
    trust: list[float]  # (F,) trustworthiness of each frame (k=15)
    loss: list[float]  # (F,) the recipe's validation loss at each frame
    loss_name: str
    header: dict
    stale: str | None  # a warning when the film was made from another checkpoint than the one served

    @property
    def frames(self) -> int:
        return self.coords.shape[0]

    def box(self) -> list[float]:
        """[x0, x1, y0, y1]: the rectangle every frame fits in (the quantisation's range)."""
        return _rect(self.coords.amin((0, 1)), self.coords.amax((0, 1)))

    def view(self) -> list[float]:
        """[x0, x1, y0, y1]: what the axes show, all but the 0.1 % farthest out of the points of
        every frame (a few stragglers of the first frames would otherwise shrink every frame)."""
        flat = self.coords.reshape(-1, 2)
        flat = flat[:: max(1, len(flat) // 1_000_000)]  # quantile() takes at most 16 M values
        return _rect(flat.quantile(0.001, dim=0), flat.quantile(0.999, dim=0))


def _rect(lo: torch.Tensor, hi: torch.Tensor) -> list[float]:
    return [round(float(v), 4) for v in (lo[0], hi[0], lo[1], hi[1])]


def has_film(name: str) -> bool:
    return dynamics_path(checkpoint_path(name)).is_file()


@cache
def _load(name: str) -> Film:
    t, header = read_dynamics(dynamics_path(checkpoint_path(name)))
    stale = (
        None
        if header.get("checkpoint_created") == runtime.created(name, header.get("checkpoint_created"))
        else f"The training film of {name} was made from another checkpoint; rerun "
        f"`{record_command(name)}` and `python -m training export {name} --dynamics`."
    )
    return Film(
        t["coords"].float(),
        [round(float(v), 4) for v in t["epochs"]],
        [round(float(v), 2) for v in t["knn5"]],
        [round(float(v), 4) for v in t["trustworthiness"]],
        [round(float(v), 5) for v in t["loss"]],
        header.get("loss_name", "loss"),
        header,
        stale,
    )


def load_film(name: str) -> Film:
    """The training film of checkpoint `name`, loaded once; a gr.Error names the command."""
    try:
        return _load(name)
    except CheckpointError as e:
        raise gr.Error(str(e)) from e


def frame_of(film: Film, frame) -> int:
    """A frame index from a request: -1 or None for the last frame; a gr.Error out of range."""
    if frame is None or frame == -1 or frame == "":
        return film.frames - 1
    if isinstance(frame, bool) or not isinstance(frame, (int, float)) or frame != int(frame):
        raise gr.Error(f"The frame must be a whole number from 0 to {film.frames - 1} (or -1 for the last).")
    if not 0 <= int(frame) < film.frames:
        raise gr.Error(f"This film has frames 0 to {film.frames - 1}; got {int(frame)}.")
    return int(frame)


def quantised(film: Film) -> np.ndarray:
    """(F, N, 2) int16: each coordinate mapped linearly from the film's box onto -32767..32767."""
    x0, x1, y0, y1 = film.box()
    lo = torch.tensor([x0, y0])
    span = torch.tensor([max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)])
    q = ((film.coords - lo) / span * 65534 - 32767).round().clamp(-32767, 32767)
    return q.to(torch.int16).numpy()


@cache
def film_file(name: str) -> Path:
    """The frames as little-endian int16 (frames, points, 2), written once per film into the served
    folder (named by the film's creation time, so a new film is a new URL and never a cached old one)."""
    film = load_film(name)
    stamp = "".join(c for c in film.header.get("created", "0") if c.isalnum())
    path = sprite_dir() / f"film-{name}-{stamp}.bin"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(quantised(film).astype("<i2").tobytes())
        tmp.replace(path)
    return path


@cache
def _bounds(name: str) -> tuple[list[float], list[float]]:
    """(box, view) of a film, computed once: the view's quantiles over every frame's points take
    longer than the rest of an answer."""
    film = load_film(name)
    return film.box(), film.view()


def film_data(name: str, frame: int | None = None, inline: bool = False) -> dict:
    """What latent_map.js needs to play the film: where its frames are, their box and what each
    frame was (epoch, kNN-5, trustworthiness, loss); `frame` is the one to open on (None: the frame
    the page shows already, else the last); `inline` puts the frames into a data URL (for the
    standalone page)."""
    film = load_film(name)
    path = film_file(name)
    url = (
        "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()
        if inline
        else file_url(path)
    )
    return {
        "url": url,
        "frames": film.frames,
        "points": film.coords.shape[1],
        "box": _bounds(name)[0],
        "view": _bounds(name)[1],
        "epochs": film.epochs,
        "knn5": film.knn5,
        "trust": film.trust,
        "loss": film.loss,
        "loss_name": film.loss_name,
        "frame": None if frame is None else frame_of(film, frame),
    }
