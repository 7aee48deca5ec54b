"""Latent explorer tab: every model's latent space as an interactive map of the 10,000 test digits,
or of all 70,000 digits (test first, then train).

The maps are precomputed by `python -m training export` (checkpoints/<name>.map.safetensors, and
<name>.map-all.safetensors with `--split all`); this module only reads them. The scatter is a gr.HTML
running plotly.js (served from the installed plotly package, so it works offline) through
explorer/static/latent_map.js; hovering shows the digit from sprite sheets of the data set, a click
or a lasso selection comes back to Python as an event. Neighbours are always sought among the test
digits, whose latents the test map stores.
"""

import csv
import json
import os
import shutil
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from training.checkpoint import CheckpointError, read_metadata
from training.export import EXPLORED, map_path, read_map
from training.projection import neighbours, place

from . import runtime
from .figures import mosaic, served, to_uint8
from .inputs import choice, draw_or_upload, from_sketch, from_upload, whole

STATIC = Path(__file__).resolve().parent / "static"
PROJECTIONS = [("UMAP", "umap"), ("PCA", "pca"), ("t-SNE", "tsne"), ("The latent itself", "latent")]
COLOURS = [
    ("True digit", "label"),
    ("Predicted digit", "pred"),
    ("Correct / wrong", "correct"),
    ("Most active neuron", "neuron"),
]
DIGITS = [("10,000 test digits", "test"), ("All 70,000 (test, then train)", "all")]
N_NEIGHBOURS = 8  # shown for a clicked point and for a drawn digit
SPRITE_COLUMNS = 100
SPRITE_BLOCK = 10_000  # training digits per sprite sheet: the browser decodes a sheet only when it shows one
MAX_SELECTION = 70_000


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


@cache
def _load(name: str, split: str = "test") -> Map:
    if split == "all":  # the map of all digits stores no latents: those of the (cached) test map serve
        test = _load(name)
        t, header = read_map(map_path(runtime.checkpoint_path(name), "all"))
        t = {k: v.long() if v.dtype == torch.uint8 else v for k, v in t.items()}
        latents, created = (
            test.latents,
            {test.header.get("checkpoint_created"), header.get("checkpoint_created")},
        )
    else:
        t, header = read_map(map_path(runtime.checkpoint_path(name)))
        latents, created = t["latents"], {header.get("checkpoint_created")}
    coords = {k: v for k, v in t.items() if k.endswith(("_2d", "_3d"))}
    # checked once, like the model itself, which runtime.model also loads once per process; a missing
    # checkpoint is reported by the handlers that need it, not here
    try:
        now = read_metadata(runtime.checkpoint_path(name))["created"]
    except CheckpointError:
        now = header.get("checkpoint_created")
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
    )


def load_map(name: str, split: str = "test") -> Map:
    """The map of checkpoint `name` over the test digits or all digits, loaded once; a gr.Error
    names the file and the command."""
    if name not in EXPLORED:
        raise gr.Error(f"Unknown model {name!r}; choose one of: {', '.join(EXPLORED)}.")
    split = choice(split, DIGITS, "digit set")
    try:
        return _load(name, split)
    except CheckpointError as e:
        raise gr.Error(str(e)) from e


def available() -> list[str]:
    """The explored models that have both a checkpoint and a map."""
    return [
        n
        for n in EXPLORED
        if map_path(runtime.checkpoint_path(n)).is_file() and runtime.checkpoint_path(n).is_file()
    ]


def has_all(name: str) -> bool:
    """Whether `name` also has a map of all 70,000 digits."""
    return map_path(runtime.checkpoint_path(name), "all").is_file()


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


def _check_view(name, proj, dim, colour, digits="test") -> tuple[Map, str, int, str]:
    m = load_map(name, digits)
    proj = choice(proj, PROJECTIONS, "projection")
    dim = whole(dim, "map dimension", 3)
    colour = choice(colour, COLOURS, "colouring")
    if f"{proj}_{dim}d" not in m.coords:
        have = ", ".join(f"{p} {d}-d" for p, d in projections_of(m))
        raise gr.Error(
            f"{name} has no {dim}-d {proj} map{' of all digits' if m.split == 'all' else ''}; it has: {have}."
        )
    if colour == "neuron" and m.neuron is None:
        raise gr.Error(
            f"{name}'s latent units are not digit neurons; colour it by digit, prediction or correctness."
        )
    return m, proj, dim, colour


# ---- sprite sheets: every digit as one tile, so hover needs no request ---------------------

_sprite_lock = threading.Lock()


def sprite_dir() -> Path:
    return Path(tempfile.gettempdir()) / "mnist-latent-lab"


def _sheet(images: torch.Tensor, path: Path) -> Path:
    """A PNG of `images` (N, 28, 28) uint8, SPRITE_COLUMNS digits per row, made once per machine
    (the data set is never committed, so it is drawn from whatever source loaded it)."""
    with _sprite_lock:
        if not path.is_file():
            rows = -(-len(images) // SPRITE_COLUMNS)
            tiles = torch.zeros(rows * SPRITE_COLUMNS, 28, 28, dtype=torch.uint8)
            tiles[: len(images)] = images
            sheet = (
                tiles.reshape(rows, SPRITE_COLUMNS, 28, 28)
                .permute(0, 2, 1, 3)
                .reshape(rows * 28, SPRITE_COLUMNS * 28)
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            # zlib's default level: 3 % larger than optimize=True, at a sixth of the time (1 s a sheet here)
            Image.fromarray(sheet.numpy()).save(tmp, format="PNG")
            tmp.replace(path)
    return path


def sprite_paths(split: str = "test") -> list[Path]:
    """The sprite sheets of a map: the test set's, then (for all digits) one per SPRITE_BLOCK
    training digits."""
    test = runtime.test_set().images
    paths = [_sheet(test, sprite_dir() / f"test-sprite-{len(test)}.png")]
    if split == "all":
        train = runtime.train_set().images
        paths += [
            _sheet(
                train[i : i + SPRITE_BLOCK],
                sprite_dir() / f"train-sprite-{i}-{min(i + SPRITE_BLOCK, len(train))}.png",
            )
            for i in range(0, len(train), SPRITE_BLOCK)
        ]
    return paths


def file_url(path: Path) -> str:
    """A URL under which the app serves a static file (relative, so it works behind a proxy path)."""
    return "gradio_api/file=" + urllib.parse.quote(str(path))


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def served_scripts() -> list[Path]:
    """plotly.js and latent_map.js, copied into the sprite folder so that the app has one static
    path instead of three: Gradio checks every file an answer returns against each static path
    (resolving both paths each time, twice per file), so two fewer paths save 4 of the 9 checks of
    each returned image."""
    folder = sprite_dir()
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for src in (plotly_js(), STATIC / "latent_map.js"):
        dst = folder / src.name
        same = dst.is_file() and (dst.stat().st_size, dst.stat().st_mtime) == (
            src.stat().st_size,
            src.stat().st_mtime,
        )
        if (
            not same
        ):  # a new plotly or a changed script; copied aside first, so a reader never sees half a file
            tmp = folder / f".{src.name}.{os.getpid()}.tmp"
            shutil.copy2(src, tmp)
            tmp.replace(dst)
        copies.append(dst)
    return copies


# ---- the map as JSON for latent_map.js ---------------------------------------------------------


def categories(m: Map, colour: str) -> tuple[torch.Tensor, list[str], str]:
    if colour == "label":
        return m.labels, [str(d) for d in range(10)], "digit"
    if colour == "pred":
        return m.pred, [str(d) for d in range(10)], "predicted"
    if colour == "correct":
        return (m.pred != m.labels).long(), ["correct", "wrong"], "prediction"
    return m.neuron, [f"n{j}" for j in range(m.latents.shape[1])], "neuron"


@lru_cache(maxsize=32)  # a view of all digits is about 1.5 MB of JSON
def _points_json(name: str, proj: str, dim: int, colour: str, digits: str = "test") -> str:
    """The points of one view as JSON (cached: switching back and forth costs nothing)."""
    m = load_map(name, digits)
    xyz = m.coords[f"{proj}_{dim}d"].double().numpy().round(3)  # float64, so that 1.651 prints as 1.651
    cats, legend, legend_title = categories(m, colour)
    what = (
        "test digits"
        if m.split == "test"
        else f"digits ({m.n_test:,} test, then {len(xyz) - m.n_test:,} training)"
    )
    title = f"{name}: {proj_label(proj)} {dim}-d of the {m.latents.shape[1]}-d latent<br>{len(xyz):,} {what}"  # plotly markup
    data = {
        "model": name,
        "proj": proj,
        "dim": dim,
        "colour": colour,
        "digits": m.split,
        "title": title,
        "legend": legend,
        "legend_title": legend_title,
        "c": cats.tolist(),
        "label": m.labels.tolist(),
        "pred": m.pred.tolist(),
        "x": xyz[:, 0].tolist(),
        "y": xyz[:, 1].tolist(),
        "sprite_columns": SPRITE_COLUMNS,
        "n_test": m.n_test,
        "sprite_block": SPRITE_BLOCK,
    }
    if dim == 3:
        data["z"] = xyz[:, 2].tolist()
    return json.dumps(data, separators=(",", ":"))


def map_json(
    name: str, proj: str, dim: int, colour: str, overlay: dict | None = None, digits: str = "test"
) -> str:
    """The full value of the scatter: cached points plus this answer's overlay and the sprite URLs."""
    points = _points_json(name, proj, dim, colour, digits)
    extra = json.dumps(
        {"overlay": overlay or {}, "sprites": [file_url(p) for p in sprite_paths(digits)]},
        separators=(",", ":"),
    )
    return points[:-1] + "," + extra[1:]


def _xyz(coords: torch.Tensor, i: int | None = None, pos: torch.Tensor | None = None) -> dict:
    p = coords[i] if pos is None else pos
    return {k: round(float(v), 3) for k, v in zip("xyz", p)}


def _neighbour_overlay(coords: torch.Tensor, idx) -> list[dict]:
    return [{"index": int(j), **_xyz(coords, int(j))} for j in idx]


# ---- share links -------------------------------------------------------------------------------


def share_query(name, proj, dim, colour, point, digits="test") -> str:
    """The query string that reopens this view (the tab, model, projection, dimension, colouring,
    selected point and, for the map of all digits, the digit set)."""
    q = {"tab": "explorer", "model": name, "proj": proj, "dim": int(dim), "color": colour}
    if point is not None and point >= 0:
        q["point"] = int(point)
    if digits == "all":
        q["digits"] = "all"
    return "?" + urllib.parse.urlencode(q)


def parse_query(params) -> dict | None:
    """A view from a page's query parameters (a mapping), or None when they name no explorer view.
    Unknown or malformed values fall back to the defaults rather than failing the page."""
    params = dict(params or {})
    if params.get("tab") != "explorer" and "model" not in params:
        return None
    names = available() or list(EXPLORED)
    view = {
        "model": params.get("model") if params.get("model") in names else names[0],
        "proj": params.get("proj") if params.get("proj") in dict(PROJECTIONS).values() else "umap",
        "dim": 3 if params.get("dim") == "3" else 2,
        "color": params.get("color") if params.get("color") in dict(COLOURS).values() else "label",
        "point": -1,
        "digits": "all" if params.get("digits") == "all" else "test",
    }
    if str(params.get("point", "")).isdigit():
        view["point"] = int(params["point"])
    return view


# ---- handlers ----------------------------------------------------------------------------------


def quality_text(name: str, digits: str = "test") -> str:
    m = load_map(name, digits)
    q = m.quality
    rows = ["| map | trustworthiness (k=15) | kNN-5 accuracy in the map |", "|---|---|---|"]
    for p, d in projections_of(m):
        s = q[f"{p}_{d}d"]
        rows.append(f"| {proj_label(p)} {d}-d | {s['trustworthiness']:.4f} | {s['knn5']:.2f} % |")
    warn = m.stale
    over = (
        ""
        if m.split == "test"
        else (
            f" Over all {len(m.labels):,} digits; trustworthiness averaged over the {m.n_test:,} test digits, "
            f"points {m.n_test} and up are training digits (the set the models learned from)."
        )
    )
    return (
        f"**{name}**: {m.latents.shape[1]}-d latent, kNN-5 accuracy in the latent itself **{q['latent_knn5']:.2f} %**; "
        f"predictions from {q['pred_source']} ({q['pred_accuracy']:.2f} % correct).{over} "
        f"Made by `{m.header['command']}`.\n\n" + "\n".join(rows) + (f"\n\n⚠️ {warn}" if warn else "")
    )


def view(name, proj, dim, colour, point=-1, digits="test"):
    """The map of one model in one projection and colouring, over the test digits or all digits,
    with the selected point (if any, -1 for none) and its neighbours marked."""
    m, proj, dim, colour = _check_view(name, proj, dim, colour, digits)
    i = -1 if point is None or point == -1 else whole(point, "point index", len(m.labels) - 1)
    overlay = None
    if i >= 0:
        overlay = _point_overlay(
            m, m.coords[f"{proj}_{dim}d"], i, neighbours_of(m, point_latent(name, m, i), i)[1]
        )
    return (
        map_json(name, proj, dim, colour, overlay, digits=m.split),
        quality_text(name, m.split),
        share_query(name, proj, dim, colour, i, m.split),
    )


@torch.no_grad()
def point_latent(name: str, m: Map, i: int) -> torch.Tensor:
    """The latent (D,) of map point i: stored for a test digit, encoded for a training digit."""
    if i < m.n_test:
        return m.latents[i]
    return runtime.model_or_error(name).encode(digit_input(m, i)).float().cpu()[0]


def digit_input(m: Map, i: int) -> torch.Tensor:
    """Map point i as a model input (1, 1, 28, 28) in [0, 1] on the device."""
    return digit_images(m, [i]).float().div(255).reshape(1, 1, 28, 28).to(runtime.device())


def neighbours_of(m: Map, z: torch.Tensor, i: int = -1):
    """The N_NEIGHBOURS nearest test latents of latent z (of map point i, which is left out):
    (distances, indices)."""
    d, j = neighbours(m.latents, z.reshape(1, -1), N_NEIGHBOURS + 1)
    keep = j[0] != i  # a test digit is its own nearest neighbour (unless it has exact duplicates)
    return d[0][keep][:N_NEIGHBOURS], j[0][keep][:N_NEIGHBOURS]


def _point_overlay(m: Map, coords: torch.Tensor, i: int, idx) -> dict:
    return {"point": {"index": i, **_xyz(coords, i)}, "neighbours": _neighbour_overlay(coords, idx)}


def latent_text(z: torch.Tensor, first: int = 16) -> str:
    """A latent for reading: its values to two decimals, only the first 16 of a long one (the
    denoiser's 192 would fill the panel; the code box below holds them all)."""
    values = " ".join(f"{v:.2f}" for v in z[:first].tolist())
    return f"[{values}" + (f" ... and {len(z) - first} more]" if len(z) > first else "]")


def _code_hex(z: torch.Tensor) -> str:
    """The latent as little-endian float32 bytes in hex (the autoencoder's 6-d code is 24 bytes)."""
    return z.detach().cpu().numpy().astype("<f4").tobytes().hex()


def _gallery(m: Map, idx, dist) -> list[tuple]:
    """Test digits (indices into the test set, which are also their map points) captioned
    "#index · digit · distance", short enough for a thumbnail (the gallery's label says so)."""
    images = runtime.test_set().images
    return [
        (
            served(to_uint8(images[int(j)].float() / 255, scale=3)),
            f"#{int(j)} · {int(m.labels[j])} · {float(d):.2f}",
        )
        for j, d in zip(idx, dist)
    ]


GALLERY_KEY = "(#index · digit · distance)"
# a thumbnail's caption may use its whole width (Gradio stops it at 80 %, which cut "#6224 · 1 · 0.35")
CSS = "#explorer-neighbours .caption-label, #explorer-placed .caption-label { max-width: calc(100% - 4px); }"


@runtime.gpu
@torch.no_grad()
def point_view(name, proj, dim, colour, index, digits="test"):
    """A digit of the map: the map with it and its neighbours marked, its image and
    reconstruction, label and prediction, its code and its 8 nearest test digits in latent space."""
    m, proj, dim, colour = _check_view(name, proj, dim, colour, digits)
    i = whole(index, "point index", len(m.labels) - 1)
    coords = m.coords[f"{proj}_{dim}d"]
    z = point_latent(name, m, i)
    dist, idx = neighbours_of(m, z, i)
    model = runtime.model_or_error(name)
    x = digit_input(m, i)
    # a model that decodes its latent alone decodes z (stored, or just encoded: no second encoder
    # pass); the denoiser's decoder also reads skip connections, so it runs whole
    recon = (
        model.decode(z.reshape(1, -1).float().to(x.device)) if hasattr(model, "decode") else model(x).recon
    )[0]
    overlay = _point_overlay(m, coords, i, idx)
    info = (
        f"**{point_name(m, i)}**: true digit **{int(m.labels[i])}**, predicted **{int(m.pred[i])}** "
        f"({'correct' if m.pred[i] == m.labels[i] else 'wrong'}; by {m.quality['pred_source']}).\n\n"
        f"Latent ({len(z)}-d): `{latent_text(z)}`"
    )
    return (
        map_json(name, proj, dim, colour, overlay, digits=m.split),
        served(to_uint8(x[0], scale=8)),
        served(to_uint8(recon, scale=8)),
        info,
        _gallery(m, idx, dist),
        _code_hex(z),
        share_query(name, proj, dim, colour, i, m.split),
    )


def point_clicked(evt: gr.EventData) -> int:
    """The index of the point clicked in the scatter (the JS sends it as `index`)."""
    index = getattr(evt, "_data", {}).get("index") if evt is not None else None
    if isinstance(index, bool) or not isinstance(index, int):
        raise gr.Error("The click did not carry a point index.")
    return index


def selection_clicked(evt: gr.EventData) -> str:
    indices = getattr(evt, "_data", {}).get("indices") if evt is not None else None
    return json.dumps(indices if isinstance(indices, list) else [])


def _indices(text, n: int) -> list[int]:
    try:
        idx = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        raise gr.Error("The selection must be a JSON list of point indices, e.g. [3, 17, 42].") from None
    if not isinstance(idx, list) or not idx:
        raise gr.Error("Select some points first: drag a lasso or a box around them on the map.")
    if len(idx) > MAX_SELECTION:
        raise gr.Error(f"At most {MAX_SELECTION} points can be selected.")
    return [whole(i, "point index", n - 1) for i in idx]


def selection(name, proj, dim, indices, digits="test"):
    """Points selected with the lasso or box: a grid of their digits (the first 100), the count
    of each true digit, and a CSV file of index, label, prediction and map coordinates (and, in the
    map of all digits, which set each point is from and its index there)."""
    m, proj, dim, _ = _check_view(name, proj, dim, "label", digits)
    idx = _indices(indices, len(m.labels))
    coords = m.coords[f"{proj}_{dim}d"]
    picked = torch.tensor(idx)
    grid = mosaic(digit_images(m, picked[:100]).float() / 255, 10)
    labels = m.labels[picked]
    counts = np.bincount(labels.numpy(), minlength=10)
    wrong = int((m.pred[picked] != labels).sum())
    train = int((picked >= m.n_test).sum())
    text = (
        f"**{len(idx)} points** selected ({wrong} predicted wrong{f'; {train} training digits' if train else ''}); by true digit: "
        + ", ".join(f"{d}: {c}" for d, c in enumerate(counts) if c)
        + ("" if len(idx) <= 100 else ". The first 100 are shown.")
    )
    out = Path(tempfile.mkdtemp(prefix="selection-")) / f"{name}-{proj}-{dim}d-{m.split}-selection.csv"
    sets = m.split == "all"
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", *(["set", "set_index"] if sets else []), "label", "prediction", *"xyz"[:dim]])
        for i in idx:
            where = (["test", i] if i < m.n_test else ["train", i - m.n_test]) if sets else []
            w.writerow(
                [i, *where, int(m.labels[i]), int(m.pred[i]), *(round(float(v), 4) for v in coords[i])]
            )
    return served(to_uint8(grid, scale=2)), text, str(out)


@torch.no_grad()
def placed(name, proj, dim, colour, image: torch.Tensor, digits="test"):
    """A new digit (1, 28, 28) encoded and put into the map at the distance-weighted position of
    its 8 nearest test latents, with those neighbours marked and shown."""
    m, proj, dim, colour = _check_view(name, proj, dim, colour, digits)
    model = runtime.model_or_error(name)
    z = model.encode(image.reshape(1, 1, 28, 28).to(runtime.device())).float().cpu()
    coords = m.coords[f"{proj}_{dim}d"]
    pos, dist, idx = place(m.latents, coords[: m.n_test], z, N_NEIGHBOURS)
    votes = np.bincount(m.labels[idx[0]].numpy(), minlength=10)
    overlay = {"drawn": _xyz(coords, pos=pos[0]), "neighbours": _neighbour_overlay(coords, idx[0])}
    info = (
        f"Your digit lands at ({', '.join(f'{v:.2f}' for v in pos[0])}); its {N_NEIGHBOURS} nearest test digits "
        f"in latent space vote **{int(votes.argmax())}** ({int(votes.max())} of {N_NEIGHBOURS}).\n\n"
        f"Code: `{_code_hex(z[0])}`"
    )
    return (
        map_json(name, proj, dim, colour, overlay, digits=m.split),
        served(to_uint8(image, scale=6)),
        info,
        _gallery(m, idx[0], dist[0]),
    )


@runtime.gpu
def explorer_drawing(name, proj, dim, colour, sketch, digits="test"):
    return placed(name, proj, dim, colour, from_sketch(sketch), digits)


@runtime.gpu
def explorer_upload(name, proj, dim, colour, path, digits="test"):
    return placed(name, proj, dim, colour, from_upload(path), digits)


@torch.no_grad()
def decode_code(name, code_hex):
    """Decode a latent given as little-endian float32 hex (what the point view shows) to an image."""
    model = runtime.model_or_error(name)
    if not hasattr(model, "decode"):
        raise gr.Error(f"{name} cannot decode a latent on its own (its decoder also reads skip connections).")
    d = load_map(name).latents.shape[1]
    text = "".join(str(code_hex or "").split())
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise gr.Error("The code must be hexadecimal digits (0-9, a-f).") from None
    if len(raw) != 4 * d:
        raise gr.Error(
            f"{name}'s code is {d} float32 numbers = {4 * d} bytes = {8 * d} hex digits; got {len(raw)} bytes."
        )
    z = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())
    if not torch.isfinite(z).all() or z.abs().max() > 1e6:
        raise gr.Error("The code holds a NaN, an infinity or a huge number; edit it back to ordinary values.")
    return served(to_uint8(model.decode(z.reshape(1, d).to(runtime.device()))[0], scale=8))


def export_html(name, proj, dim, colour, digits="test"):
    """A standalone page of the current map (plotly.js, the points and the sprites inlined): it opens
    offline in any browser, with hover images."""
    import base64

    m, *_ = _check_view(name, proj, dim, colour, digits)
    sprites = json.dumps(
        ["data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() for p in sprite_paths(m.split)]
    )
    # written piece by piece: the map of all digits makes a 20 MB page, and joining it into one string
    # first cost a third of the time
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>MNIST latent lab: {name} {proj} {dim}-d</title><script>",
        plotly_js().read_text(),
        "</script><script>",
        (STATIC / "latent_map.js").read_text(),
        "</script></head>",
        "<body style='margin:0;font-family:sans-serif'><div id='map' style='width:100vw;height:100vh'></div><script>",
        "const data = ",
        _points_json(name, proj, dim, colour, m.split),
        ";\ndata.sprites = ",
        sprites,
        ";\nLatentMap.render(document.getElementById('map'), data, {});</script></body></html>",
    ]
    out = (
        Path(tempfile.mkdtemp(prefix="map-"))
        / f"mnist-latent-lab-{name}-{proj}-{dim}d{'-all' if m.split == 'all' else ''}.html"
    )
    with out.open("w") as f:
        f.writelines(parts)
    return str(out)


def usable(m: Map, proj: str, dim: int, colour: str, point: int) -> tuple[str, int, str, int]:
    """The closest view a map offers: its first projection when it lacks this one, the true digit
    when its units are not neurons, no point when the index is out of range."""
    if f"{proj}_{dim}d" not in m.coords:
        proj, dim = projections_of(m)[0]
    if colour == "neuron" and m.neuron is None:
        colour = "label"
    return proj, dim, colour, point if point is not None and 0 <= point < len(m.labels) else -1


def model_switched(name, proj, dim, colour, point, digits="test"):
    """The UI's model and digit-set pickers: the same view of the new map where it has one, else the
    closest (the test digits when the model has no map of all digits), with the controls following."""
    digits = "all" if digits == "all" and has_all(name) else "test"
    proj, dim, colour, point = usable(load_map(name, digits), proj, dim, colour, point)
    return (proj, dim, colour, digits, *view(name, proj, dim, colour, point, digits))


def restore(request: gr.Request):
    """On page load: the view named by the URL's query parameters (the tab is selected too), or the
    default view. Outputs: tabs, the four controls, point, digit set, then scatter, quality, link and
    the point's digit, reconstruction, text, neighbours and code."""
    v = parse_query(getattr(request, "query_params", None) or {})
    names = available()
    keep = (gr.update(),) * 15  # one per output
    if not names:
        return keep
    shown = v or {
        "model": names[0],
        "proj": "umap",
        "dim": 2,
        "color": "label",
        "point": -1,
        "digits": "test",
    }
    digits = "all" if shown["digits"] == "all" and has_all(shown["model"]) else "test"
    try:
        m = load_map(shown["model"], digits)
    except gr.Error:
        return keep
    controls = [shown["model"], *usable(m, shown["proj"], shown["dim"], shown["color"], shown["point"])]
    tab = gr.update(selected="latent_explorer") if v else gr.update()
    if controls[4] >= 0:
        scatter, original, recon, info, gallery, code, link = point_view(*controls, digits)
        return (
            tab,
            *controls,
            digits,
            scatter,
            quality_text(shown["model"], digits),
            link,
            original,
            recon,
            info,
            gallery,
            code,
        )
    scatter, quality, link = view(*controls, digits)
    return (tab, *controls, digits, scatter, quality, link, *(gr.update(),) * 5)


def warm() -> None:
    """Load the maps and make the sprite sheets (for the app's warm-up thread)."""
    for name in available():
        try:
            _points_json(name, "umap", 2, "label")
        except gr.Error:
            pass
    sprite_paths("all" if any(has_all(n) for n in available()) else "test")


COPY_JS = """(link) => {
  const url = link.startsWith('?') ? window.location.origin + window.location.pathname + link : link;
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url);
  return url;
}"""

ON_LOAD = """
const draw = () => {
  if (!props.value || typeof Plotly === 'undefined' || typeof LatentMap === 'undefined') return;
  LatentMap.render(element.querySelector('.lm-plot'), JSON.parse(props.value), {
    pick: i => trigger('pick', {index: i}),
    select: ids => trigger('lasso', {indices: ids}),
  });
};
watch('value', draw);
draw();
"""


def build(demo: gr.Blocks, tabs: gr.Tabs):
    """Lay out the tab; call inside the gr.Blocks context `demo`; `tabs` is selected by shared links."""
    scripts = served_scripts()
    gr.set_static_paths([sprite_dir()])
    names = available()
    gr.Markdown(
        "Each test digit is a point: the model encodes it, and UMAP, PCA or t-SNE draws that latent in "
        "2-d or 3-d; or take all 70,000 digits, the training set too, in 2-d. Hover a point to see the "
        "digit, click it for its reconstruction and nearest neighbours, lasso a region to list it, or "
        "draw a digit and watch where it lands."
    )
    if not names:
        gr.Markdown(
            "⚠️ No maps yet. Train a model (for example `python -m training autoencoder`) and make its "
            "map with `python -m training export`."
        )
    with gr.Row():
        model = gr.Dropdown(names, value=names[0] if names else None, label="Model", scale=2)
        proj = gr.Radio(PROJECTIONS, value="umap", label="Projection", scale=3)
        dim = gr.Radio([("2-d", 2), ("3-d", 3)], value=2, label="Map", scale=1)
        colour = gr.Radio(COLOURS, value="label", label="Colour by", scale=3)
        digits = gr.Radio(DIGITS, value="test", label="Digits", scale=2)
    with gr.Row():
        with gr.Column(scale=3):
            head = "".join(f"<script src='{file_url(path)}'></script>" for path in scripts)
            scatter = gr.HTML(
                value="",
                html_template="<div class='lm-plot' style='width:100%;height:640px'></div>",
                js_on_load=ON_LOAD,
                head=head,
                elem_id="latent-map",
                min_height=640,
            )
            quality = gr.Markdown()
        with gr.Column(scale=2):
            with gr.Row():
                point = gr.Number(
                    value=-1,
                    label="Point (test index, or 10000 + training index among all digits; -1 for none)",
                    precision=0,
                    minimum=-1,
                    maximum=MAX_SELECTION - 1,
                )
                show_btn = gr.Button("Show point", scale=0)
            info = gr.Markdown()
            with gr.Row():
                original = gr.Image(
                    label="Digit", interactive=False, format="png", height=180, elem_id="explorer-digit"
                )
                recon = gr.Image(label="Reconstruction", interactive=False, format="png", height=180)
            # png keeps figures.served's unique text chunk (webp would drop it and let equal answers share a file)
            gallery = gr.Gallery(
                label=f"{N_NEIGHBOURS} nearest test digits in latent space {GALLERY_KEY}",
                columns=4,
                height=260,
                elem_id="explorer-neighbours",
                format="png",
            )
            with gr.Row():
                code = gr.Textbox(label="Code (float32, hex): edit and decode", max_lines=2, scale=3)
                decode_btn = gr.Button("Decode", scale=0)
            decoded = gr.Image(label="Decoded code", interactive=False, format="png", height=180)
    with gr.Row():
        with gr.Column():
            gr.Markdown(
                "**Selection**: drag a lasso or a box on the 2-d map (or list point indices and press Enter)."
            )
            selected = gr.Textbox(label="Selected points (JSON list of point indices)", max_lines=3)
            sel_text = gr.Markdown()
            sel_grid = gr.Image(label="Selected digits", interactive=False, format="png", height=300)
            sel_csv = gr.File(label="Selection as CSV")
        with gr.Column():
            sketch, draw_btn, upload, upload_btn = draw_or_upload("Place it on the map")
            seen = gr.Image(
                label="As the model sees it", interactive=False, format="png", height=168, width=168
            )
            placed_text = gr.Markdown()
            placed_gallery = gr.Gallery(
                label=f"Its nearest test digits {GALLERY_KEY}",
                columns=4,
                height=220,
                format="png",
                elem_id="explorer-placed",
            )
    with gr.Row():
        link = gr.Textbox(label="Link to this view", interactive=False, scale=4, elem_id="explorer-link")
        copy_btn = gr.Button("Copy link", scale=1)
        html_btn = gr.Button("Export HTML", scale=1)
        html_file = gr.File(label="Standalone map", scale=2)

    controls = [model, proj, dim, colour]
    point_out = [scatter, original, recon, info, gallery, code, link]
    # the digit set comes last in every event's inputs, so API calls that leave it out get the test digits
    gr.on(
        [c.input for c in controls[1:]],
        view,
        [*controls, point, digits],
        [scatter, quality, link],
        api_name="explorer_view",
        show_progress="minimal",
    )
    gr.on(
        [model.input, digits.input],
        model_switched,
        [*controls, point, digits],
        [proj, dim, colour, digits, scatter, quality, link],
        api_name=False,
        show_progress="minimal",
    )
    show_btn.click(point_view, [*controls, point, digits], point_out, api_name="explorer_point")
    point.submit(point_view, [*controls, point, digits], point_out, api_name=False)
    scatter.pick(point_clicked, None, point, api_name=False).then(
        point_view, [*controls, point, digits], point_out, api_name=False
    )
    scatter.lasso(selection_clicked, None, selected, api_name=False).then(
        selection, [model, proj, dim, selected, digits], [sel_grid, sel_text, sel_csv], api_name=False
    )
    selected.submit(
        selection,
        [model, proj, dim, selected, digits],
        [sel_grid, sel_text, sel_csv],
        api_name="explorer_selection",
    )
    raw = {"preprocess": False}  # the handlers check raw values and files themselves (see denoise.py)
    placed_out = [scatter, seen, placed_text, placed_gallery]
    draw_btn.click(
        explorer_drawing, [*controls, sketch, digits], placed_out, api_name="explorer_drawing", **raw
    )
    upload_btn.click(
        explorer_upload, [*controls, upload, digits], placed_out, api_name="explorer_upload", **raw
    )
    decode_btn.click(decode_code, [model, code], decoded, api_name="explorer_decode")
    copy_btn.click(None, link, link, js=COPY_JS, api_name=False)
    html_btn.click(export_html, [*controls, digits], html_file, api_name="explorer_export")
    demo.load(
        restore,
        None,
        [tabs, *controls, point, digits, scatter, quality, link, original, recon, info, gallery, code],
        api_name=False,
    )
    return {"model": model, "scatter": scatter, "point": point, "link": link}
