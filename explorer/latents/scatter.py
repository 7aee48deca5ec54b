"""What the explorer's scatter shows: a map as the JSON that explorer/static/latent_map.js draws,
the overlays of an answer (a point, its neighbours, a drawn digit), the quality table, and the share
links that reopen a view."""

import hashlib
import json
import os
import threading
import urllib.parse
from functools import lru_cache
from pathlib import Path

import gradio as gr
import torch

from .film import FILM, film_data, load_film
from .maps import (
    COLOURS,
    PROJECTIONS,
    SCORES,
    Map,
    available,
    explored,
    has_all,
    load_map,
    map_files,
    proj_label,
    projections_of,
)
from .sprites import SPRITE_BLOCK, SPRITE_COLUMNS, file_url, sprite_dir, sprite_paths


def categories(m: Map, colour: str) -> tuple[torch.Tensor, list[str], str]:
    if colour == "label":
        return m.labels, [str(d) for d in range(10)], "digit"
    if colour == "pred":
        return m.pred, [str(d) for d in range(10)], "predicted"
    if colour == "correct":
        return (m.pred != m.labels).long(), ["correct", "wrong"], "prediction"
    return m.neuron, [f"n{j}" for j in range(m.latents.shape[1])], "neuron"


def points_json(name: str, proj: str, dim: int, colour: str, digits: str = "test") -> str:
    """The points of one view as JSON."""
    m = load_map(name, digits)
    xyz = m.coords[f"{proj}_{dim}d"].double().numpy().round(3)  # float64, so that 1.651 prints as 1.651
    scale = dict((k, label) for label, k in SCORES).get(colour)
    if scale:  # a continuous score: one trace, its colour bar titled by the score
        from .suspects import values

        cats, legend, legend_title = torch.zeros(len(xyz), dtype=torch.long), [], scale
    else:
        cats, legend, legend_title = categories(m, colour)
    what = (
        "test digits"
        if m.split == "test"
        else f"digits ({m.n_test:,} test, then {len(xyz) - m.n_test:,} training)"
    )
    # plotly markup
    title = f"{name}: {proj_label(proj)} {dim}-d of the {m.latents.shape[1]}-d latent<br>{len(xyz):,} {what}"
    if proj == FILM:
        how = "itself" if m.latents.shape[1] == 2 else "by PCA, each frame turned onto the next"
        title = f"{name} while it trained: its {m.latents.shape[1]}-d latent {how}<br>{len(xyz):,} {what}"
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
    if scale:
        data["v"] = values(m, colour).double().numpy().round(4).tolist()
    return json.dumps(data, separators=(",", ":"))


@lru_cache(maxsize=32)  # a view of all digits is about 1.5 MB of JSON
def _points_json(name: str, proj: str, dim: int, colour: str, digits: str = "test") -> str:
    """points_json, cached: switching back and forth costs nothing. A 2-d map other than a training
    film is also written as a file the first time it is made (points_file), for shared links."""
    text = points_json(name, proj, dim, colour, digits)
    if int(dim) == 2 and proj != FILM:
        points_file(name, proj, dim, colour, digits, text)
    return text


# ---- points as files, for the first draw of a shared link ----------------------------------------


def points_dir() -> Path:
    """The folder of the views' points as files: a shared link's page fetches its map's points from
    here while the app starts, and draws them before the app's first answer (explorer/static/
    latent_map.js, preview). Named after the maps and scores the points come from, so that a file
    never outlives them (the folder is kept across restarts)."""
    stamp = hashlib.sha1()
    for path in map_files():
        st = path.stat()
        stamp.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return sprite_dir() / f"points-{stamp.hexdigest()[:12]}"


def points_name(name: str, proj: str, dim: int, colour: str, digits: str) -> str:
    """A view's file name in points_dir(); the page head builds the same from a link's parameters."""
    return f"{name}.{proj}.{int(dim)}.{colour}.{digits}.json"


def points_file(
    name: str, proj: str, dim: int, colour: str, digits: str = "test", text: str | None = None
) -> Path:
    """The file of a view's points (written once, from `text` when the JSON is made already): only
    2-d maps other than a training film have one, the maps the page can draw before plotly.js."""
    path = points_dir() / points_name(name, proj, dim, colour, digits)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # written aside first, so that a page never reads half a file
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text if text is not None else points_json(name, proj, dim, colour, digits))
        tmp.replace(path)
    return path


def write_points() -> None:
    """The files of each model's default view (UMAP 2-d by digit) of the test digits and of all
    digits, the views most links open on (for the app's warm-up thread); other views get theirs the
    first time they are shown."""
    for name in available():
        for digits in ("test", "all") if has_all(name) else ("test",):
            if "umap_2d" in load_map(name, digits).coords:
                points_file(name, "umap", 2, "label", digits)


def map_json(
    name: str,
    proj: str,
    dim: int,
    colour: str,
    overlay: dict | None = None,
    digits: str = "test",
    frame: int | None = None,
) -> str:
    """The full value of the scatter: cached points plus this answer's overlay and the sprite URLs;
    for a training film, where its frames are and the frame to open on (None: the frame the page
    shows already, else the last)."""
    points = _points_json(name, proj, dim, colour, digits)
    extra = {"overlay": overlay or {}, "sprites": [file_url(p) for p in sprite_paths(digits)]}
    if proj == FILM:
        extra["film"] = film_data(name, frame)
    extra = json.dumps(extra, separators=(",", ":"))
    return points[:-1] + "," + extra[1:]


def _xyz(coords: torch.Tensor, i: int | None = None, pos: torch.Tensor | None = None) -> dict:
    p = coords[i] if pos is None else pos
    return {k: round(float(v), 3) for k, v in zip("xyz", p)}


def neighbour_overlay(coords: torch.Tensor, idx) -> list[dict]:
    return [{"index": int(j), **_xyz(coords, int(j))} for j in idx]


def point_overlay(coords: torch.Tensor, i: int, idx) -> dict:
    """A selected map point and its neighbours (indices idx), marked."""
    return {"point": {"index": i, **_xyz(coords, i)}, "neighbours": neighbour_overlay(coords, idx)}


def drawn_overlay(coords: torch.Tensor, pos: torch.Tensor, idx) -> dict:
    """A drawn digit placed at pos, and its neighbours (indices idx), marked."""
    return {"drawn": _xyz(coords, pos=pos), "neighbours": neighbour_overlay(coords, idx)}


def quality_text(name: str, digits: str = "test") -> str:
    m = load_map(name, digits)
    q = m.quality
    rows = ["| map | trustworthiness (k=15) | kNN-5 accuracy in the map |", "|---|---|---|"]
    warn = m.stale
    for p, d in projections_of(m):
        if p == FILM:  # its figures are per frame (the film's chart); the trained model's frame here
            film = load_film(name)
            rows.append(
                f"| {proj_label(p)}, {film.frames} frames: the last | {film.trust[-1]:.4f} (first 2,000 "
                f"digits) | kNN-5 in the latent {film.knn5[-1]:.2f} % |"
            )
            warn = warn or film.stale
            continue
        s = q[f"{p}_{d}d"]
        rows.append(f"| {proj_label(p)} {d}-d | {s['trustworthiness']:.4f} | {s['knn5']:.2f} % |")
    over = (
        ""
        if m.split == "test"
        else (
            f" Over all {len(m.labels):,} digits; trustworthiness averaged over the {m.n_test:,} test "
            f"digits, points {m.n_test} and up are training digits (the set the models learned from)."
        )
    )
    return (
        f"**{name}**: {m.latents.shape[1]}-d latent, kNN-5 accuracy in the latent itself "
        f"**{q['latent_knn5']:.2f} %**; predictions from {q['pred_source']} ({q['pred_accuracy']:.2f} % "
        f"correct).{over} Made by `{m.header['command']}`.\n\n"
        + "\n".join(rows)
        + (f"\n\n⚠️ {warn}" if warn else "")
    )


# ---- share links -------------------------------------------------------------------------------


def share_query(name, proj, dim, colour, point, digits="test", compare="", frame=None) -> str:
    """The query string that reopens this view (the tab, model, projection, dimension, colouring,
    selected point and, for the map of all digits, the digit set; the model compared with, if any;
    a training film's frame)."""
    q = {"tab": "explorer", "model": name, "proj": proj, "dim": int(dim), "color": colour}
    if point is not None and point >= 0:
        q["point"] = int(point)
    if digits == "all":
        q["digits"] = "all"
    if compare:
        q["compare"] = compare
    if proj == FILM and frame is not None and frame >= 0:
        q["frame"] = int(frame)
    return "?" + urllib.parse.urlencode(q)


def with_extras(link: str, compare: str, frame=None):
    """The share link `link` naming the second model (none for "") and, when it shows a training
    film, the frame on screen (the page moves through frames without asking the server); a skip
    when it already does, so that the link's own change event stops there. Every handler that
    answers with a link makes it for the first model's view; this follows each of them."""
    if not link:
        return gr.skip()
    query = dict(urllib.parse.parse_qsl(link.lstrip("?")))
    want = dict(query)
    want.pop("compare", None)
    want.pop("frame", None)
    if compare:
        want["compare"] = compare
    if want.get("proj") == FILM and isinstance(frame, (int, float)) and frame >= 0:
        want["frame"] = str(int(frame))
    if want == query:
        return gr.skip()
    return "?" + urllib.parse.urlencode(want)


def parse_query(params) -> dict | None:
    """A view from a page's query parameters (a mapping), or None when they name no explorer view.
    Unknown or malformed values fall back to the defaults rather than failing the page."""
    params = dict(params or {})
    if params.get("tab") != "explorer" and "model" not in params:
        return None
    names = available() or explored()
    view = {
        "model": params.get("model") if params.get("model") in names else names[0],
        "proj": params.get("proj") if params.get("proj") in dict(PROJECTIONS).values() else "umap",
        "dim": 3 if params.get("dim") == "3" else 2,
        "color": params.get("color") if params.get("color") in dict(COLOURS).values() else "label",
        "point": -1,
        "digits": "all" if params.get("digits") == "all" else "test",
        "compare": params.get("compare") if params.get("compare") in names else "",
        "frame": None,
    }
    if str(params.get("point", "")).isdigit():
        view["point"] = int(params["point"])
    if view["proj"] == FILM and str(params.get("frame", "")).isdigit():
        view["frame"] = int(params["frame"])
    return view
