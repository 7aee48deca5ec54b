"""The VAE tab's handlers: sample from the prior, interpolate between digits, walk the 2-d latent
plane, move the latent with sliders, reconstruct a digit. Every answer is one small batch through a
decoder. Each returns a named result; explorer/vae/layout.py routes its fields to the components."""

import json
import math
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageDraw

from training import registry
from training.checkpoint import CheckpointError, checkpoint_path, read_metadata
from training.evaluate import batched

from .. import runtime
from ..figures import mosaic, served, to_uint8
from ..inputs import choice, from_sketch, whole, yours

# (display label, checkpoint name) of the VAEs the registry shows in this tab, in its order
MODELS = [(spec.labels["mnist"], spec.name) for spec in registry.shown_in("vae")]
MODEL = "vae"  # the tab's default pick
# the VAE whose latent plane the Manifold sub-tab walks: the one whose latent is 2-d
MANIFOLD = next(
    (s.name for s in registry.shown_in("vae") if getattr(s.config_class(), "latent_dim", None) == 2), None
)
METHODS = [("Spherical (slerp)", "slerp"), ("Linear", "linear")]
N_SLIDERS = 8  # a latent of up to 8 dimensions gets a slider for each; a larger one for its 8 most used
SLIDER_RANGE = 4.0  # the prior is N(0, I): +-4 covers all but 1 in 15,000 of it per dimension
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


class Interpolation(NamedTuple):
    strip: Image.Image  # the frames side by side
    gif: str  # path of the animated GIF


class DecodedPoint(NamedTuple):
    image: Image.Image
    text: str


class ClickedPoint(NamedTuple):
    image: Image.Image
    text: str
    z1: float  # the number boxes follow the click
    z2: float


class SliderStart(NamedTuple):
    values: list[float]  # one per slider (0 for sliders beyond the latent's size)
    decoded: Image.Image


class Reconstruction(NamedTuple):
    input: Image.Image
    output: Image.Image
    text: str


class FirstView(NamedTuple):
    """What the tab shows when the page opens; None where a checkpoint is missing (the tab's notice
    says which), which leaves that output as it is."""

    samples: Image.Image | None
    plane: Image.Image | None


class OtherViews(NamedTuple):
    """The other sub-tabs' answers for their default inputs, so that none opens empty (None as in
    FirstView)."""

    interpolation: Interpolation | None
    sliders: SliderStart | None
    reconstruction: Reconstruction | None


def _model(name):
    choice(name, MODELS, "model")
    return runtime.model_or_error(name)


def _manifold_model():
    if MANIFOLD is None:
        raise gr.Error("No VAE with a 2-d latent is registered.")
    return _model(MANIFOLD)


def _number(v, what: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise gr.Error(f"The {what} must be a number from {lo:g} to {hi:g}, got {v!r}.")
    return float(v)


def _test_digit(index) -> torch.Tensor:
    test = runtime.test_set()
    i = whole(index, "test index", len(test.labels) - 1)
    return test.images[i].float().div(255).reshape(1, 28, 28)


@torch.no_grad()
def _decode(model, z: torch.Tensor) -> torch.Tensor:
    return model.decode(z.to(runtime.device())).cpu()[:, 0]  # (B, 28, 28) pixel probabilities


@torch.no_grad()
def _encode(model, image: torch.Tensor) -> torch.Tensor:
    return model.encode(image.reshape(1, 1, 28, 28).to(runtime.device())).cpu()[0]  # (D,) posterior mean


# ---- sample ------------------------------------------------------------------------------------


@runtime.gpu
def sample(name, seed, temperature, side):
    """side x side prior samples z ~ N(0, temperature^2 I), decoded to their mean image."""
    model = _model(name)
    seed = whole(seed, "seed", 2**31 - 1)
    temperature = _number(temperature, "temperature", 0.0, 3.0)
    side = whole(side, "grid size", 16)
    if side < 1:
        raise gr.Error("The grid size must be at least 1.")
    gen = torch.Generator().manual_seed(seed)
    z = temperature * torch.randn(side * side, model.config.latent_dim, generator=gen)
    return served(to_uint8(mosaic(_decode(model, z), side), scale=2))


def reroll() -> int:
    return int(np.random.default_rng().integers(0, 2**31 - 1))


# ---- interpolate -------------------------------------------------------------------------------


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a and b (D,) at fractions t (T,) -> (T, D): moves
    along the great circle, so points in between keep the norm a Gaussian latent typically has
    (a straight line passes through the low-norm middle, where few training codes live). Falls
    back to a straight line when a and b point the same way."""
    na, nb = a.norm(), b.norm()
    cos = torch.dot(a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    t = t[:, None]
    if omega.abs() < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t[:, None]
    return (1 - t) * a + t * b


def _gif(frames: torch.Tensor, name: str) -> str:
    """An animated GIF that goes there and back (T, 28, 28) -> path."""
    images = [Image.fromarray(to_uint8(f, scale=6)) for f in frames]
    loop = images + images[-2:0:-1]
    out = Path(tempfile.mkdtemp(prefix="interp-")) / f"{name}.gif"
    loop[0].save(out, save_all=True, append_images=loop[1:], duration=120, loop=0)
    return str(out)


def interpolate(name, image_a: torch.Tensor, image_b: torch.Tensor, method, steps) -> Interpolation:
    model = _model(name)
    method = choice(method, METHODS, "interpolation")
    steps = whole(steps, "number of steps", 32)
    if steps < 2:
        raise gr.Error("Interpolation needs at least 2 steps (the two ends).")
    za, zb = _encode(model, image_a), _encode(model, image_b)
    t = torch.linspace(0, 1, steps)
    z = (slerp if method == "slerp" else lerp)(za, zb, t)
    frames = _decode(model, z)
    strip = mosaic(frames, steps)
    return Interpolation(served(to_uint8(strip, scale=3)), _gif(frames, f"{name}-{method}-{steps}"))


@runtime.gpu
def vae_interpolate(name, index_a, index_b, method, steps):
    """Between two test digits (by index)."""
    return interpolate(name, _test_digit(index_a), _test_digit(index_b), method, steps)


@runtime.gpu
def vae_interpolate_drawing(name, sketch, index_b, method, steps):
    """From a drawn digit to a test digit."""
    return interpolate(name, from_sketch(sketch), _test_digit(index_b), method, steps)


@runtime.gpu
def vae_interpolate_yours(name, mine, index_b, method, steps):
    """From the visitor's digit (drawn or uploaded on any tab) to a test digit."""
    return interpolate(name, yours(mine), _test_digit(index_b), method, steps)


# ---- the 2-d manifold --------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _test_latents(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A VAE's posterior means of the test set (N, D) and the labels, computed once."""
    model, test = _model(name), runtime.test_set()
    return batched(model.encode, test.images, runtime.device()), test.labels


MANIFOLD_SCALE = 2  # screen pixels per MNIST pixel in the manifold image


@runtime.gpu
def manifold(extent, side):
    """vae2d decoded on a side x side grid over [-extent, extent]^2 (dark ink on white), over a
    faint scatter of the test set's latents coloured by their digit."""
    model = _manifold_model()
    extent = _number(extent, "range", 0.5, 6.0)
    side = whole(side, "grid size", 30)
    if side < 2:
        raise gr.Error("The grid size must be at least 2.")
    axis = torch.linspace(-extent, extent, side)
    # rows go top to bottom, so z2 runs from +extent down to -extent
    z = torch.stack(torch.meshgrid(axis.flip(0), axis, indexing="ij"), -1).reshape(-1, 2)[:, [1, 0]]
    ink = mosaic(_decode(model, z), side).numpy()  # (side*28, side*28) in [0, 1]
    size = side * 28 * MANIFOLD_SCALE
    canvas = Image.new("RGB", (size, size), "white")
    dots = ImageDraw.Draw(canvas)
    latents, labels = _test_latents(MANIFOLD)
    px = ((latents + extent) / (2 * extent) * size).numpy()
    for (x, y), d in zip(px, labels.tolist()):
        if 0 <= x < size and 0 <= y < size:
            y = size - y  # z2 grows upwards
            c = tuple(int(255 - 0.35 * (255 - v)) for v in PALETTE[d])  # faint: 35 % of the colour
            dots.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=c)
    ink = np.kron(ink, np.ones((MANIFOLD_SCALE, MANIFOLD_SCALE)))[..., None]
    out = (np.asarray(canvas, float) * (1 - ink)).round().astype(np.uint8)  # black ink over the dots
    return served(out)


@runtime.gpu
def decode_point(z1, z2):
    """vae2d's decoded digit at one point (z1, z2) of its latent plane."""
    model = _manifold_model()
    z = torch.tensor([[_number(z1, "z1", -50, 50), _number(z2, "z2", -50, 50)]])
    return DecodedPoint(served(to_uint8(_decode(model, z)[0], scale=8)), f"z = ({z1:.2f}, {z2:.2f})")


def manifold_clicked(extent, side, evt: gr.SelectData):
    """A click on the manifold image (pixel x, y) -> the latent point under it, decoded."""
    extent = _number(extent, "range", 0.5, 6.0)
    size = whole(side, "grid size", 30) * 28 * MANIFOLD_SCALE
    x, y = evt.index
    z1 = -extent + 2 * extent * (x + 0.5) / size
    z2 = extent - 2 * extent * (y + 0.5) / size
    return ClickedPoint(*decode_point(round(z1, 3), round(z2, 3)), round(z1, 3), round(z2, 3))


# ---- sliders and reconstruction ----------------------------------------------------------------


def slider_dims(name) -> list[int]:
    """The latent dimensions the sliders move: all of a small latent, in order; of a larger one the
    N_SLIDERS most used, most used first. Used means the posterior mean varies over the test set
    (Burda et al.'s active units): a dimension the KL has collapsed to the prior has a mean near 0
    for every digit, and its slider would change nothing."""
    return list(_slider_dims(choice(name, MODELS, "model")))


@lru_cache(maxsize=2)
def _slider_dims(name: str) -> tuple[int, ...]:
    latents, _ = _test_latents(name)
    if latents.shape[1] <= N_SLIDERS:
        return tuple(range(latents.shape[1]))
    return tuple(latents.var(0).argsort(descending=True)[:N_SLIDERS].tolist())


def slider_start(name, index) -> SliderStart:
    """Encode a test digit: its posterior mean on the slider dimensions (0 for sliders beyond the
    latent's size) for the sliders, and its decoded image."""
    model, dims = _model(name), slider_dims(name)
    z = _encode(model, _test_digit(index))
    values = [round(float(z[d].clamp(-SLIDER_RANGE, SLIDER_RANGE)), 2) for d in dims]
    values += [0.0] * (N_SLIDERS - len(dims))
    return SliderStart(values, served(to_uint8(_decode(model, z[None])[0], scale=8)))


def slider_labels(name):
    """A visible slider per slider dimension, labelled with that dimension and its spread over the
    test set."""
    try:
        latents, _ = _test_latents(choice(name, MODELS, "model"))
        dims = slider_dims(name)
    except gr.Error:  # no checkpoint: the handlers say so
        return [gr.update(visible=True) for _ in range(N_SLIDERS)]
    std = latents.std(0)
    return [
        gr.update(visible=True, label=f"z{dims[j] + 1} (test-set spread {std[dims[j]]:.2f})")
        if j < len(dims)
        else gr.update(visible=False)
        for j in range(N_SLIDERS)
    ]


@runtime.gpu
def slide(name, index, *values):
    """Decode the test digit's latent with its slider dimensions replaced by the slider values."""
    model, dims = _model(name), slider_dims(name)
    z = _encode(model, _test_digit(index))
    for j, d in enumerate(dims[: len(values)]):
        z[d] = _number(values[j], f"slider z{d + 1}", -SLIDER_RANGE, SLIDER_RANGE)
    return served(to_uint8(_decode(model, z[None])[0], scale=8))


def reconstruct(name, image: torch.Tensor) -> Reconstruction:
    model = _model(name)
    z = _encode(model, image)
    text = f"Posterior mean: `{np.array2string(z.numpy(), precision=2, max_line_width=10_000)}`"
    return Reconstruction(
        served(to_uint8(image, scale=8)), served(to_uint8(_decode(model, z[None])[0], scale=8)), text
    )


@runtime.gpu
def vae_reconstruct(name, index):
    return reconstruct(name, _test_digit(index))


@runtime.gpu
def vae_reconstruct_drawing(name, sketch):
    return reconstruct(name, from_sketch(sketch))


@runtime.gpu
def vae_reconstruct_yours(name, mine):
    """The visitor's digit, drawn or uploaded on any tab."""
    return reconstruct(name, yours(mine))


def scores() -> str:
    """Both VAEs' likelihoods and sample quality, from their checkpoint headers."""
    rows = [
        "| model | latent | test NLL (IWAE) | negative ELBO | gap | k | confident samples | class entropy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, name in MODELS:
        try:
            meta = read_metadata(checkpoint_path(name))
            m, cfg = json.loads(meta["metrics"]), json.loads(meta["config"])
        except (CheckpointError, KeyError, ValueError):
            rows.append(f"| {name} | not trained yet: `python -m training {name}` | | | | | | |")
            continue
        conf = f"{m['samples_confident_pct']:.1f} %" if "samples_confident_pct" in m else "n/a"
        ent = f"{m['samples_class_entropy']:.3f} nats" if "samples_class_entropy" in m else "n/a"
        rows.append(
            f"| {name} | {cfg['latent_dim']}-d | {m.get('iwae_nll', float('nan')):.2f} nats | "
            f"{m['neg_elbo']:.2f} nats | {m.get('elbo_gap', float('nan')):.2f} | {m.get('k', 0)} | "
            f"{conf} | {ent} |"
        )
    return "\n".join(rows)


def warm() -> None:
    """Load both VAEs and their test latents (for the app's warm-up thread)."""
    for _, name in MODELS:
        try:
            _test_latents(name)
        except gr.Error:
            pass


def _or_none(fn, *args):
    """fn(*args) for a page-load event, or None where it raises gr.Error (a missing checkpoint: the
    tab's notice says which)."""
    try:
        return fn(*args)
    except gr.Error:
        return None


def first_view(name, seed, temperature, side, extent, grid) -> FirstView:
    """What the tab shows when the page opens: prior samples and the latent plane."""
    return FirstView(_or_none(sample, name, seed, temperature, side), _or_none(manifold, extent, grid))


def other_views(name, index_a, index_b, method, steps, slider_index, recon_index) -> OtherViews:
    """The other sub-tabs' answers for their default inputs, so that none opens empty: the
    interpolation (strip, GIF), the sliders' start (values, decoded digit) and the reconstruction."""
    return OtherViews(
        _or_none(vae_interpolate, name, index_a, index_b, method, steps),
        _or_none(slider_start, name, slider_index),
        _or_none(vae_reconstruct, name, recon_index),
    )
