"""The explorer's map data: the precomputed maps of `python -m training export`, loaded once, and
what a map offers (its projections, colourings, points)."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import gradio as gr
import torch

from training import quality, registry
from training.checkpoint import CheckpointError, checkpoint_path
from training.export import map_path, read_map

from .. import runtime
from ..inputs import choice, whole
from .film import has_film, load_film

PROJECTIONS = [
    ("UMAP", "umap"),
    ("PCA", "pca"),
    ("t-SNE", "tsne"),
    ("The latent itself", "latent"),
    # the test digits' map at every recorded point of training (explorer/latents/film.py)
    ("Training film", "film"),
]
COLOURS = [
    ("True digit", "label"),
    ("Predicted digit", "pred"),
    ("Correct / wrong", "correct"),
    ("Most active neuron", "neuron"),
]
# (label, key): continuous colourings from the data-quality scores (checkpoints/quality.safetensors)
SCORES = [
    ("Suspicion: likely mislabelled", "suspicion"),
    ("Classifier's probability of the label", "p_given"),
    ("Model disagreement", "disagreement"),
    ("VAE -log p(x): unlikely digits", "vae_nll"),
    ("Reconstruction error", "ae_mse"),
]
COLOURS += SCORES
DIGITS = [("10,000 test digits", "test"), ("All 70,000 (test, then train)", "all")]
# the order in which the Model picker lists the explored models: those only this tab shows first,
# then those of the other tabs, tab by tab in the app's order
TAB_ORDER = (None, "denoise", "vae", "neurons")


@dataclass(frozen=True)
class Map:
    latents: torch.Tensor  # (n_test, D): the test digits' latents, where neighbours are sought
    labels: torch.Tensor  # (N,) N = n_test, or n_test + the training digits in a map of all digits
    pred: torch.Tensor  # (N,)
    neuron: torch.Tensor | None  # (N,) argmax neuron, for models whose code units are neurons
    coords: dict  # "umap_2d" -> (N, 2), ...
    header: dict
    quality: dict  # the header's quality figures, parsed
    stale: str | None  # a warning when the map was made from another checkpoint than the one served
    split: str  # "test" or "all"
    n_test: int  # points 0..n_test-1 are test digits, the rest training digits
    knn: torch.Tensor | None = None  # (n_test, k) each test digit's nearest test latents, if exported


def explored() -> list[str]:
    """The models whose latents the explorer maps (training.registry.explored), in TAB_ORDER."""
    tab = {spec.name: spec.tab for spec in registry.specs()}

    def place(name: str) -> int:
        return TAB_ORDER.index(tab[name]) if tab[name] in TAB_ORDER else len(TAB_ORDER)

    return sorted(registry.explored(), key=place)  # stable: registration order within a tab


@cache
def _load(name: str, split: str = "test") -> Map:
    if split == "all":  # the map of all digits stores no latents: those of the (cached) test map serve
        test = _load(name)
        t, header = read_map(map_path(checkpoint_path(name), "all"))
        t = {k: v.long() if v.dtype == torch.uint8 else v for k, v in t.items()}
        latents, created = (
            test.latents,
            {test.header.get("checkpoint_created"), header.get("checkpoint_created")},
        )
    else:
        t, header = read_map(map_path(checkpoint_path(name)))
        latents, created = t["latents"], {header.get("checkpoint_created")}
    coords = {k: v for k, v in t.items() if k.endswith(("_2d", "_3d"))}
    if split == "test" and has_film(name):  # the film's last frame: the trained model's map
        try:
            coords["film_2d"] = load_film(name).coords[-1]
        except gr.Error:  # an unreadable film leaves the model's other maps as they are
            pass
    # checked once, like the model itself, which runtime.model also loads once per process
    now = runtime.created(name, header.get("checkpoint_created"))
    warning = (
        None
        if created == {now}
        else (
            f"The map of {name} was made from an older checkpoint; rerun `python -m training export {name}`"
            + (f" and `python -m training export {name} --split all`." if split == "all" else ".")
        )
    )
    n_test = int(header.get("n_test", len(latents)))
    return Map(
        latents[:n_test],
        t["labels"],
        t["pred"],
        t.get("neuron"),
        coords,
        header,
        json.loads(header["quality"]),
        warning,
        split,
        n_test,
        t["knn"].long() if "knn" in t and split == "test" else None,
    )


def load_map(name: str, split: str = "test") -> Map:
    """The map of checkpoint `name` over the test digits or all digits, loaded once; a gr.Error
    names the file and the command."""
    names = explored()
    if name not in names:
        raise gr.Error(f"Unknown model {name!r}; choose one of: {', '.join(names)}.")
    split = choice(split, DIGITS, "digit set")
    try:
        return _load(name, split)
    except CheckpointError as e:
        raise gr.Error(str(e)) from e


def available() -> list[str]:
    """The explored models that have both a checkpoint and a map."""
    return [n for n in explored() if map_path(checkpoint_path(n)).is_file() and checkpoint_path(n).is_file()]


def map_files() -> list[Path]:
    """Every file the maps' points come from: each served model's maps and the quality scores."""
    files = [map_path(checkpoint_path(n), split) for n in available() for split in ("test", "all")]
    files.append(quality.path())
    return [f for f in files if f.is_file()]


def has_all(name: str) -> bool:
    """Whether `name` also has a map of all 70,000 digits."""
    return map_path(checkpoint_path(name), "all").is_file()


def digit_images(m: Map, idx) -> torch.Tensor:
    """The uint8 images (len(idx), 28, 28) of map points: test digits first, then training digits."""
    idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
    test = idx < m.n_test
    out = torch.empty(len(idx), 28, 28, dtype=torch.uint8)
    out[test] = runtime.test_set().images[idx[test]]
    if not test.all():
        out[~test] = runtime.train_set().images[idx[~test] - m.n_test]
    return out


def point_name(m: Map, i: int) -> str:
    return f"Test digit #{i}" if i < m.n_test else f"Training digit #{i - m.n_test} (point {i})"


def proj_label(proj: str) -> str:
    return next(label for label, key in PROJECTIONS if key == proj)


def projections_of(m: Map) -> list[tuple[str, int]]:
    return sorted(
        ((k.rsplit("_", 1)[0], int(k[-2])) for k in m.coords),
        key=lambda pd: ([p for _, p in PROJECTIONS].index(pd[0]), pd[1]),
    )


def check_view(name, proj, dim, colour, digits="test") -> tuple[Map, str, int, str]:
    """A request's view checked against what the map offers: (map, projection, dimension, colouring),
    else a gr.Error saying what it does offer."""
    m = load_map(name, digits)
    proj = choice(proj, PROJECTIONS, "projection")
    dim = whole(dim, "map dimension", 3)
    colour = choice(colour, COLOURS, "colouring")
    if f"{proj}_{dim}d" not in m.coords:
        have = ", ".join(f"{p} {d}-d" for p, d in projections_of(m))
        where = " of all digits" if m.split == "all" else ""
        raise gr.Error(f"{name} has no {dim}-d {proj} map{where}; it has: {have}.")
    if colour == "neuron" and m.neuron is None:
        raise gr.Error(
            f"{name}'s latent units are not digit neurons; colour it by digit, prediction or correctness."
        )
    if colour in dict(SCORES).values():
        from .suspects import values

        values(m, colour)  # a gr.Error naming the command when the scores are missing or stale
    return m, proj, dim, colour


def usable(m: Map, proj: str, dim: int, colour: str, point: int) -> tuple[str, int, str, int]:
    """The closest view a map offers: its first projection when it lacks this one, the true digit
    when its units are not neurons, no point when the index is out of range."""
    if f"{proj}_{dim}d" not in m.coords:
        proj, dim = projections_of(m)[0]
    if colour == "neuron" and m.neuron is None:
        colour = "label"
    return proj, dim, colour, point if point is not None and 0 <= point < len(m.labels) else -1
