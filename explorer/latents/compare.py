"""Two models side by side: the second model's map beside the first, and how far the two latent
spaces agree on each test digit's neighbourhood (the Jaccard overlap of its K nearest test
neighbours in either latent itself, not in the 2-d maps)."""

import json
from functools import cache, lru_cache
from typing import NamedTuple

import gradio as gr
import pandas as pd
import torch

from training.projection import neighbours

from ..inputs import choice, whole
from .handlers import _gallery
from .maps import Map, available, check_view, load_map, usable
from .scatter import map_json, point_overlay, share_query

K = 15  # neighbours compared per digit
N_DISAGREE = 24  # digits in the gallery of the strongest disagreements
COMPARE_COLOURS = [
    ("The first map's colouring", "same"),
    (f"Neighbourhood agreement (k={K}), the second map", "agreement"),
    (f"Neighbourhood agreement (k={K}), both maps", "both"),
]


@cache
def knn(name: str) -> torch.Tensor:
    """(n_test, K) the K nearest test digits of each test digit in `name`'s latent (itself left out):
    as `python -m training export` stored them, else computed once per process from the map's
    latents (1 to 5 s for 10,000 digits; the app's warm-up does it for maps exported before)."""
    m = load_map(name)
    if m.knn is not None and m.knn.shape[1] >= K:
        return m.knn[:, :K]
    return neighbours(m.latents, m.latents, K, exclude_self=True)[1]


@lru_cache(maxsize=32)
def agreement(a: str, b: str) -> torch.Tensor:
    """(n_test,) float: per test digit, |N_a & N_b| / |N_a | N_b| of its K nearest neighbours in the
    latents of models a and b; 1 when both find the same neighbours, 0 when they share none."""
    return jaccard(knn(a), knn(b))


def jaccard(na: torch.Tensor, nb: torch.Tensor) -> torch.Tensor:
    """Row by row, |A & B| / |A | B| of two (n, k) lists of distinct indices."""
    shared = (na[:, :, None] == nb[:, None, :]).any(-1).sum(-1).float()
    return shared / (na.shape[1] + nb.shape[1] - shared)


class Compared(NamedTuple):
    scatter: str  # the second model's map as JSON for latent_map.js
    text: str
    histogram: pd.DataFrame  # digits by number of shared neighbours (0..K)
    gallery: list[tuple]  # the digits the two models disagree about most, captioned
    link: str  # the share link, the second model included


def check_pair(name, other) -> tuple[Map, Map]:
    names = available()
    choice(name, [(n, n) for n in names], "model")
    choice(other, [(n, n) for n in names], "model to compare with")
    if other == name:
        raise gr.Error(f"Choose a second model other than {name} to compare with.")
    return load_map(name), load_map(other)


def _agreement_json(other: str, proj: str, dim: int, name: str, values: torch.Tensor, overlay) -> str:
    """The second map coloured by its agreement with `name` on a continuous scale."""
    data = json.loads(map_json(other, proj, dim, "label", overlay))
    data.update(
        colour="agreement",
        legend=[],
        legend_title=f"agreement with {name}",
        v=values.double().numpy().round(4).tolist(),
    )
    return json.dumps(data, separators=(",", ":"))


def compare(name, other, proj, dim, colour, by="same", point=-1):
    """The second model's map of the test digits (its own projection of the same kind where it has
    one), coloured as the first or by agreement, with the selected point marked; the agreement's
    mean, its histogram and the digits the two disagree about most."""
    m, mo = check_pair(name, other)
    check_view(name, proj, dim, colour)  # the first model's view, which the second follows
    by = choice(by, COMPARE_COLOURS, "colouring of the second map")
    if point is not None and point != -1:
        whole(point, "point index", len(m.labels) - 1)
    proj2, dim2, colour2, i = usable(mo, proj, dim, colour, point)
    agree = agreement(name, other)
    overlay = None
    if i >= 0 and i < mo.n_test:
        overlay = point_overlay(mo.coords[f"{proj2}_{dim2}d"], i, knn(other)[i, :8].tolist())
    scatter = (
        _agreement_json(other, proj2, dim2, name, agree, overlay)
        if by in ("agreement", "both")
        else map_json(other, proj2, dim2, colour2, overlay)
    )
    shared = (2 * K * agree / (1 + agree)).round().long()  # back from Jaccard to a count
    counts = torch.bincount(shared, minlength=K + 1)
    histogram = pd.DataFrame(
        {"shared neighbours": [str(s) for s in range(K + 1)], "test digits": counts.tolist()}
    )
    worst = torch.argsort(agree, stable=True)[:N_DISAGREE]
    gallery = _gallery(m, worst.tolist(), agree[worst].tolist())
    text = (
        f"**{name}** and **{other}** share on average **{float(shared.float().mean()):.1f} of the {K}** "
        f"nearest test neighbours of a test digit in their latents (mean Jaccard overlap "
        f"**{float(agree.mean()):.3f}**; {int((shared == 0).sum())} digits share none). The gallery: the "
        f"{N_DISAGREE} digits on whose neighbours they agree least (#index · digit · Jaccard); click one "
        "to inspect it in both maps."
    )
    link = share_query(name, proj, dim, colour, point, compare=other)
    return Compared(scatter, text, histogram, gallery, link)


def compare_view(name, other, proj, dim, colour, by="same", point=-1):
    """compare() while a second model is chosen; nothing (the outputs as they are) while none is."""
    if not other:
        return tuple(gr.skip() for _ in Compared._fields)
    return compare(name, other, proj, dim, colour, by, point)


def first_by_agreement(name, other, proj, dim, colour, by="same", point=-1):
    """The first map coloured by its agreement with the second, its point marked, when both maps are
    to be (`by` "both"); nothing otherwise (the first map keeps its own colouring)."""
    if not other or by != "both":
        return gr.skip()
    m, _ = check_pair(name, other)
    m, proj, dim, _ = check_view(name, proj, dim, colour)
    i = -1 if point is None or point == -1 else whole(point, "point index", len(m.labels) - 1)
    overlay = point_overlay(m.coords[f"{proj}_{dim}d"], i, knn(name)[i, :8].tolist()) if i >= 0 else None
    return _agreement_json(name, proj, dim, other, agreement(name, other), overlay)


def disagreement_point(name, other, evt: gr.SelectData) -> int:
    """The test index of a clicked digit of the disagreement gallery."""
    check_pair(name, other)
    k = evt.index if isinstance(evt.index, int) else evt.index[0]
    return int(torch.argsort(agreement(name, other), stable=True)[int(k)])
