"""The Latent explorer's handlers: a view of a map, a point of it, a lasso selection, a drawn or
uploaded digit placed on it, a latent decoded, a standalone page, and the view a page opens on.
Each returns a named result (a NamedTuple in the order of the event's outputs); layout.py routes
them to the components."""

import base64
import csv
import json
import tempfile
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np
import torch
from PIL import Image

from training.projection import neighbours, place
from training.registry import Decoder

from .. import runtime
from ..figures import mosaic, served, to_uint8
from ..inputs import from_sketch, from_upload, whole, yours
from . import suspects
from .film import FILM, film_data, load_film
from .maps import Map, available, check_view, digit_images, has_all, load_map, point_name, usable
from .scatter import (
    _points_json,
    drawn_overlay,
    map_json,
    parse_query,
    point_overlay,
    quality_text,
    share_query,
    write_points,
)
from .sprites import latent_map_js, plotly_js, sprite_paths

N_NEIGHBOURS = 8  # shown for a clicked point and for a drawn digit
MAX_SELECTION = 70_000
DEFAULT_VIEW = {
    "proj": "umap",
    "dim": 2,
    "color": "label",
    "point": 0,
    "digits": "test",
    "compare": "",
    "frame": None,
}


class View(NamedTuple):
    scatter: str  # the map as JSON for latent_map.js
    quality: str
    link: str  # the share link's query string


class PointView(NamedTuple):
    scatter: str
    original: Image.Image  # the digit
    recon: Image.Image  # its reconstruction
    info: str
    gallery: list[tuple]  # its nearest test digits, captioned
    code: str  # its latent as float32 hex
    link: str


class Selection(NamedTuple):
    grid: Image.Image  # the first 100 selected digits
    text: str
    csv: str  # path of the CSV file


class Placed(NamedTuple):
    scatter: str
    seen: Image.Image  # the digit as the model sees it
    text: str
    gallery: list[tuple]


class Switched(NamedTuple):
    """The view after the model or the digit set changed: the controls follow, then the view."""

    proj: str
    dim: int
    colour: str
    digits: str
    scatter: str
    quality: str
    link: str


class Restored(NamedTuple):
    """The view a page opens on: the controls, the view and, when the link names a point, its panel."""

    select_tab: bool  # the link named an explorer view: its tab is shown
    model: str
    proj: str
    dim: int
    colour: str
    point: int
    digits: str
    compare: str  # the model shown beside it ("" for none)
    frame: int  # a training film's frame to open on (-1: the last, or no film)
    view: View
    point_view: PointView | None


def view(name, proj, dim, colour, point=-1, digits="test", frame=None):
    """The map of one model in one projection and colouring, over the test digits or all digits,
    with the selected point (if any, -1 for none) and its neighbours marked (`frame`: a training
    film's frame to open on; None keeps the page's)."""
    m, proj, dim, colour = check_view(name, proj, dim, colour, digits)
    i = -1 if point is None or point == -1 else whole(point, "point index", len(m.labels) - 1)
    overlay = None
    if i >= 0:
        coords = m.coords[f"{proj}_{dim}d"]
        overlay = point_overlay(coords, i, neighbours_of(m, point_latent(name, m, i), i)[1])
    return View(
        map_json(name, proj, dim, colour, overlay, digits=m.split, frame=frame),
        quality_text(name, m.split),
        share_query(name, proj, dim, colour, i, m.split, frame=frame),
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


@runtime.gpu
@torch.no_grad()
def point_view(name, proj, dim, colour, index, digits="test", frame=None):
    """A digit of the map: the map with it and its neighbours marked, its image and
    reconstruction, label and prediction, its code and its 8 nearest test digits in latent space
    (`frame`: a training film's frame to open on; None keeps the page's)."""
    m, proj, dim, colour = check_view(name, proj, dim, colour, digits)
    i = whole(index, "point index", len(m.labels) - 1)
    coords = m.coords[f"{proj}_{dim}d"]
    z = point_latent(name, m, i)
    dist, idx = neighbours_of(m, z, i)
    model = runtime.model_or_error(name)
    x = digit_input(m, i)
    # a model that decodes its latent alone decodes z (stored, or just encoded: no second encoder
    # pass); the denoiser's decoder also reads skip connections, so it runs whole
    recon = (
        model.decode(z.reshape(1, -1).float().to(x.device)) if isinstance(model, Decoder) else model(x).recon
    )[0]
    info = (
        f"**{point_name(m, i)}**: true digit **{int(m.labels[i])}**, predicted **{int(m.pred[i])}** "
        f"({'correct' if m.pred[i] == m.labels[i] else 'wrong'}; by {m.quality['pred_source']}).\n\n"
        f"Latent ({len(z)}-d): `{latent_text(z)}`"
    )
    scores = suspects.card(i)
    info += f"\n\n{scores}" if scores else ""
    return PointView(
        map_json(name, proj, dim, colour, point_overlay(coords, i, idx), digits=m.split, frame=frame),
        served(to_uint8(x[0], scale=8)),
        served(to_uint8(recon, scale=8)),
        info,
        _gallery(m, idx, dist),
        _code_hex(z),
        share_query(name, proj, dim, colour, i, m.split, frame=frame),
    )


def point_clicked(evt: gr.EventData) -> int:
    """The index of the point clicked in the scatter (the JS sends it as `index`)."""
    index = getattr(evt, "_data", {}).get("index") if evt is not None else None
    if isinstance(index, bool) or not isinstance(index, int):
        raise gr.Error("The click did not carry a point index.")
    return index


def frame_moved(evt: gr.EventData) -> int:
    """The training film's frame the page settled on (the JS sends it as `frame`)."""
    frame = getattr(evt, "_data", {}).get("frame") if evt is not None else None
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
        raise gr.Error("The frame event did not carry a frame index.")
    return frame


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
    m, proj, dim, _ = check_view(name, proj, dim, "label", digits)
    idx = _indices(indices, len(m.labels))
    coords = m.coords[f"{proj}_{dim}d"]
    picked = torch.tensor(idx)
    grid = mosaic(digit_images(m, picked[:100]).float() / 255, 10)
    labels = m.labels[picked]
    counts = np.bincount(labels.numpy(), minlength=10)
    wrong = int((m.pred[picked] != labels).sum())
    train = int((picked >= m.n_test).sum())
    text = (
        f"**{len(idx)} points** selected ({wrong} predicted wrong"
        + (f"; {train} training digits" if train else "")
        + "); by true digit: "
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
    return Selection(served(to_uint8(grid, scale=2)), text, str(out))


@torch.no_grad()
def placed(name, proj, dim, colour, image: torch.Tensor, digits="test"):
    """A new digit (1, 28, 28) encoded and put into the map at the distance-weighted position of
    its 8 nearest test latents, with those neighbours marked and shown."""
    m, proj, dim, colour = check_view(name, proj, dim, colour, digits)
    model = runtime.model_or_error(name)
    z = model.encode(image.reshape(1, 1, 28, 28).to(runtime.device())).float().cpu()
    coords = m.coords[f"{proj}_{dim}d"]
    pos, dist, idx = place(m.latents, coords[: m.n_test], z, N_NEIGHBOURS)
    votes = np.bincount(m.labels[idx[0]].numpy(), minlength=10)
    info = (
        f"Your digit lands at ({', '.join(f'{v:.2f}' for v in pos[0])}); its {N_NEIGHBOURS} nearest "
        f"test digits in latent space vote **{int(votes.argmax())}** ({int(votes.max())} of "
        f"{N_NEIGHBOURS}).\n\nCode: `{_code_hex(z[0])}`"
    )
    return Placed(
        map_json(name, proj, dim, colour, drawn_overlay(coords, pos[0], idx[0]), digits=m.split),
        served(to_uint8(image, scale=6)),
        info,
        _gallery(m, idx[0], dist[0]),
    )


@runtime.gpu
def explorer_drawing(name, proj, dim, colour, sketch, digits="test"):
    return placed(name, proj, dim, colour, from_sketch(sketch), digits)


@runtime.gpu
def explorer_yours(name, proj, dim, colour, mine, digits="test"):
    """The visitor's digit, drawn or uploaded on any tab (explorer.inputs.your_digit)."""
    return placed(name, proj, dim, colour, yours(mine), digits)


@runtime.gpu
def explorer_upload(name, proj, dim, colour, path, digits="test"):
    return placed(name, proj, dim, colour, from_upload(path), digits)


@torch.no_grad()
def decode_code(name, code_hex):
    """Decode a latent given as little-endian float32 hex (what the point view shows) to an image."""
    model = runtime.model_or_error(name)
    if not isinstance(model, Decoder):
        raise gr.Error(f"{name} cannot decode a latent on its own (its decoder also reads skip connections).")
    d = load_map(name).latents.shape[1]
    text = "".join(str(code_hex or "").split())
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise gr.Error("The code must be hexadecimal digits (0-9, a-f).") from None
    if len(raw) != 4 * d:
        raise gr.Error(
            f"{name}'s code is {d} float32 numbers = {4 * d} bytes = {8 * d} hex digits; "
            f"got {len(raw)} bytes."
        )
    z = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())
    if not torch.isfinite(z).all() or z.abs().max() > 1e6:
        raise gr.Error("The code holds a NaN, an infinity or a huge number; edit it back to ordinary values.")
    return served(to_uint8(model.decode(z.reshape(1, d).to(runtime.device()))[0], scale=8))


def export_html(name, proj, dim, colour, digits="test", other=""):
    """A standalone page of the current map (plotly.js, the points and the sprites inlined): it opens
    offline in any browser, with hover images; with `other`, that model's map beside it (its own
    projection of the same kind), hover and lasso linked between the two as in the app."""
    m, *_ = check_view(name, proj, dim, colour, digits)
    views = [(name, proj, dim, colour)]
    if other:
        if other == name or other not in available():
            raise gr.Error(f"Compare with one of: {', '.join(n for n in available() if n != name)}.")
        if m.split != "test":
            raise gr.Error(
                "Two models are compared on the 10,000 test digits; choose those to export the pair."
            )
        views.append((other, *usable(load_map(other), proj, dim, colour, -1)[:3]))
    sprites = json.dumps(
        ["data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() for p in sprite_paths(m.split)]
    )
    width = 100 / len(views)
    # written piece by piece: the map of all digits makes a 20 MB page, and joining it into one string
    # first cost a third of the time
    # the points are painted first (latent_map.js's preview, a few milliseconds); plotly.js (4.8 MB)
    # travels as text and runs after that frame, then draws the interactive maps over them
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>MNIST latent lab: {' vs '.join(f'{n} {p} {d}-d' for n, p, d, _ in views)}</title><script>",
        latent_map_js().read_text(),
        "</script></head>",
        "<body style='margin:0;font-family:sans-serif;display:flex'>",
        *(
            f"<div style='width:{width}vw'><div id='map{k or ''}' style='width:100%;height:100vh'></div>"
            "</div>"
            for k in range(len(views))
        ),
        "<script>\nconst sprites = ",
        sprites,
        ";\n",
    ]
    for k, (n, p, d, c) in enumerate(views):
        parts += [f"const data{k} = ", _points_json(n, p, d, c, m.split), f";\ndata{k}.sprites = sprites;\n"]
        if p == FILM:  # a training film travels whole, its frames in a data URL (about 3 MB for 60 frames)
            parts += [f"data{k}.film = ", json.dumps(film_data(n, inline=True)), ";\n"]
        parts.append(f"LatentMap.preview(document.getElementById('map{k or ''}'), data{k});\n")
    parts += [
        "</script><script type='text/plain' id='plotly-js'>",
        plotly_js().read_text(),
        "</script><script>\nrequestAnimationFrame(() => setTimeout(() => {\n"
        "  const s = document.createElement('script');\n"
        "  s.textContent = document.getElementById('plotly-js').textContent;\n"
        "  document.head.appendChild(s);\n",
        *(
            f"  LatentMap.render(document.getElementById('map{k or ''}'), data{k}, {{}});\n"
            for k in range(len(views))
        ),
        "}, 0));\n</script></body></html>",
    ]
    pair = f"-vs-{views[1][0]}-{views[1][1]}" if other else ""
    out = (
        Path(tempfile.mkdtemp(prefix="map-"))
        / f"mnist-latent-lab-{name}-{proj}-{dim}d{'-all' if m.split == 'all' else ''}{pair}.html"
    )
    with out.open("w") as f:
        f.writelines(parts)
    return str(out)


def model_switched(name, proj, dim, colour, point, digits="test"):
    """The UI's model and digit-set pickers: the same view of the new map where it has one, else the
    closest (the test digits when the model has no map of all digits), with the controls following."""
    digits = "all" if digits == "all" and has_all(name) else "test"
    proj, dim, colour, point = usable(load_map(name, digits), proj, dim, colour, point)
    return Switched(proj, dim, colour, digits, *view(name, proj, dim, colour, point, digits))


def restore(request: gr.Request) -> Restored | None:
    """On page load: the view named by the URL's query parameters (the tab is selected too), or the
    default view; None when there is no map to show (the page stays as it is)."""
    v = parse_query(getattr(request, "query_params", None) or {})
    names = available()
    if not names:
        return None
    shown = v or {"model": names[0], **DEFAULT_VIEW}
    digits = "all" if shown["digits"] == "all" and has_all(shown["model"]) else "test"
    try:
        m = load_map(shown["model"], digits)
    except gr.Error:
        return None
    # the inspector is never empty on load: the link's point, else the first digit
    asked = shown["point"] if shown["point"] >= 0 else DEFAULT_VIEW["point"]
    proj, dim, colour, point = usable(m, shown["proj"], shown["dim"], shown["color"], asked)
    other = shown["compare"] if shown["compare"] != shown["model"] else ""
    frame = -1
    if proj == FILM and shown.get("frame") is not None:  # a frame past the film's end opens on its last
        frame = min(shown["frame"], load_film(shown["model"]).frames - 1)
    controls = (shown["model"], proj, dim, colour, point, digits, other, frame)
    at_frame = frame if frame >= 0 else None
    if point >= 0:
        at = point_view(shown["model"], proj, dim, colour, point, digits, at_frame)
        return Restored(
            bool(v), *controls, View(at.scatter, quality_text(shown["model"], digits), at.link), at
        )
    return Restored(
        bool(v), *controls, view(shown["model"], proj, dim, colour, point, digits, at_frame), None
    )


def warm() -> None:
    """Load the maps, write their default views' points for shared links (scatter.write_points),
    make the sprite sheets and the suspects' rankings (for the app's warm-up thread)."""
    for name in available():
        try:
            _points_json(name, "umap", 2, "label")
        except gr.Error:
            pass
    try:
        write_points()
    except (gr.Error, OSError):
        pass  # a link then draws when the app answers, as any other view
    sprite_paths("all" if any(has_all(n) for n in available()) else "test")
    from .compare import knn  # not at the top: compare.py builds on this module

    for name in available():  # each model's neighbour lists, for a comparison of two models
        try:
            knn(name)
        except gr.Error:
            pass
    if suspects.has_scores():
        for which in ("test", "train"):
            suspects.suspects(which)
