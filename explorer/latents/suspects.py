"""The data-quality lens in the explorer: the scores of checkpoints/quality.safetensors (made by
`python -m training quality`) as colourings of the map, a digit's scores and rank in the inspector,
and the ranked gallery of the likeliest mislabelled digits."""

import csv
import json
import tempfile
from functools import cache
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import torch
from safetensors import SafetensorError, safe_open

from training import checkpoint

from .. import runtime
from ..figures import served, to_uint8
from .maps import SCORES, Map

SETS = [("Test digits", "test"), ("Training digits", "train")]
N_SUSPECTS = 100
HOW = "Make it with `python -m training quality` (a few minutes on two CPU cores)."


def path() -> Path:
    return checkpoint.CHECKPOINT_DIR / "quality.safetensors"


@cache
def _read(where: str) -> tuple[dict, dict]:
    with safe_open(where, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def scores() -> tuple[dict, dict]:
    """(tensors, header) of the quality file, read once; a gr.Error names the command when missing."""
    try:
        return _read(str(path()))
    except (SafetensorError, OSError, ValueError) as e:
        raise gr.Error(f"No data-quality scores ({path()} is missing or unreadable: {e}). {HOW}") from e


def has_scores() -> bool:
    return path().is_file()


def values(m: Map, key: str) -> torch.Tensor:
    """Score `key` of every point of map m (test digits first, then training digits)."""
    t, header = scores()
    if key not in t:
        raise gr.Error(f"The quality file has no score {key!r}; it has: {', '.join(sorted(t))}.")
    if int(header["n_test"]) != m.n_test or int(header["n_points"]) < len(m.labels):
        raise gr.Error(f"The quality file scores other digits than this map shows. {HOW}")
    return t[key][: m.n_test] if m.split == "test" else t[key][: len(m.labels)]


def card(i: int) -> str:
    """One digit's scores and its suspicion rank within its set (for the inspector)."""
    if not has_scores():
        return ""
    t, header = scores()
    n_test, n = int(header["n_test"]), int(header["n_points"])
    if i >= n:
        return ""
    lo, hi, what = (0, n_test, "test") if i < n_test else (n_test, n, "training")
    rank = int((t["suspicion"][lo:hi] > t["suspicion"][i]).sum()) + 1
    parts = [f"suspicion **{float(t['suspicion'][i]):.3f}** (rank {rank:,} of {hi - lo:,} {what} digits)"]
    parts.append(f"the models would say **{int(t['suggested'][i])}** instead")
    for key, fmt in (
        ("p_given", "p(label) {:.3f}"),
        ("vae_nll", "VAE {:.0f} nats"),
        ("ae_mse", "recon. MSE {:.4f}"),
    ):
        if key in t:
            parts.append(fmt.format(float(t[key][i])))
    return "Data quality: " + ", ".join(parts) + "."


def ranking(which: str) -> tuple[torch.Tensor, int]:
    """The points of a set (test or train) by suspicion, highest first, and the set's first point."""
    t, header = scores()
    n_test = int(header["n_test"])
    lo, hi = (0, n_test) if which == "test" else (n_test, int(header["n_points"]))
    return lo + t["suspicion"][lo:hi].argsort(descending=True, stable=True), n_test


class Suspects(NamedTuple):
    gallery: list  # (image, caption) of the N_SUSPECTS likeliest mislabelled digits
    text: str
    csv: str  # the whole set's ranking


@cache
def ranking_csv(which: str, created: str) -> Path:
    """The whole ranking of a set as a CSV file, written once per quality file (`created`): 60,000
    rows take about a second, the answer must not."""
    t, header = scores()
    order, n_test = ranking(which)
    labels = torch.cat([runtime.test_set().labels[:n_test], runtime.train_set().labels])
    out = Path(tempfile.mkdtemp(prefix="suspects-")) / f"mnist-{which}-suspects.csv"
    keys = [k for _, k in SCORES if k in t]
    columns = [t[k][order].double().numpy().round(5) for k in keys]  # (len(order),) each
    suggested, given = t["suggested"][order].tolist(), labels[order].tolist()
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "point", "set", "set_index", "label", "suggested", *keys])
        for rank, i in enumerate(order.tolist()):
            where = ["test", i] if i < n_test else ["train", i - n_test]
            w.writerow([rank + 1, i, *where, given[rank], suggested[rank], *(c[rank] for c in columns)])
    return out


def suspects(which: str = "test") -> Suspects:
    """The N_SUSPECTS likeliest mislabelled digits of a set: a gallery (image, '#index · given →
    suggested · suspicion'), a line of text, and the whole set's ranking as a CSV file."""
    if which not in dict(SETS).values():
        raise gr.Error(f"Unknown digit set {which!r}; choose test or train.")
    t, header = scores()
    order, n_test = ranking(which)
    test, train = runtime.test_set(), runtime.train_set()

    def image(i: int) -> torch.Tensor:
        return test.images[i] if i < n_test else train.images[i - n_test]

    def name(i: int) -> str:
        return f"#{i}" if i < n_test else f"train #{i - n_test}"

    labels = torch.cat([test.labels[:n_test], train.labels])
    gallery = [
        (
            served(to_uint8(image(i).float().div(255)[None], scale=3)),
            f"{name(i)} {int(labels[i])}→{int(t['suggested'][i])} {float(t['suspicion'][i]):.2f}",
        )
        for i in order[:N_SUSPECTS].tolist()
    ]
    out = ranking_csv(which, header["created"])
    above = int((t["suspicion"][order] > 0).sum())
    text = (
        f"The {N_SUSPECTS} likeliest mislabelled of the {len(order):,} {which} digits (`#index given→"
        f"suggested suspicion`); {above:,} of them have a suspicion above 0, where the models favour "
        f"another digit. Click one to inspect it. Scores: `{header['command']}`; {header['formula']}."
    )
    return Suspects(gallery, text, str(out))


def suspect_point(which: str, evt: gr.SelectData) -> tuple[int, str]:
    """The map point and digit set of the gallery's clicked suspect."""
    order, _ = ranking(which)
    k = evt.index if isinstance(evt.index, int) else json.loads(json.dumps(evt.index))[0]
    return int(order[int(k)]), "test" if which == "test" else "all"
