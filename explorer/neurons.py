"""Latent neurons tab: do ten bottleneck neurons, trained without labels, find the ten digits?

For each 10-neuron model the test set's most active neuron is computed once; the tab shows the
confusion matrix of true digit x argmax neuron (raw or Hungarian-matched column order, counts or
row shares), the neuron -> digit mappings and their accuracies, the digits of any cell, and the
activations of a drawn or uploaded digit.
"""

import json
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
import pandas as pd
import torch
from PIL import Image

from training import registry
from training.checkpoint import CheckpointError, checkpoint_path, read_metadata
from training.clustering import matched_order, scores
from training.evaluate import batched
from training.registry import NeuronCode

from . import familiar, runtime
from .figures import mosaic, served, to_uint8
from .inputs import choice, draw_or_upload, from_sketch, from_upload, on_stroke, whole, yours
from .outputs import outputs

# (display label, checkpoint name) of the models the registry shows in this tab, in its order
MODELS = [(spec.labels["mnist"], spec.name) for spec in registry.shown_in("neurons")]
ORDERS = [
    ("Raw neuron order", "raw"),
    ("Matched order (Hungarian: the diagonal is each digit's neuron)", "matched"),
]
VALUES = [("Counts", "counts"), ("Share of the row (%)", "shares")]
GRID = 10  # a cell's digits are shown as a GRID x GRID mosaic


@dataclass(frozen=True)
class Assignment:
    """The test set through one model: every image's most active neuron, and the scores."""

    neurons: np.ndarray  # (N,) argmax neuron
    labels: np.ndarray  # (N,) true digit
    scores: dict  # training.clustering.scores(): confusion, mappings, accuracies, NMI, ARI


_cache: dict[tuple[str, int], Assignment] = {}
_cache_lock = threading.Lock()


def _model(name: str) -> NeuronCode:
    model = runtime.model_or_error(choice(name, MODELS, "model"))
    if not isinstance(model, NeuronCode):  # a registry entry of this tab without digit neurons
        raise gr.Error(f"{name}'s latent units are not digit neurons.")
    return model


def assignment(name: str) -> Assignment:
    """Computed once per loaded model (about a second on the CPU) and kept."""
    model = _model(name)
    key = (name, id(model))  # a reloaded checkpoint is a new model and gets a fresh entry
    with _cache_lock:
        if key not in _cache:
            test = runtime.test_set()
            neurons = batched(model.neurons, test.images, runtime.device(), batch_size=1000).argmax(1).numpy()
            labels = test.labels.numpy()
            _cache[key] = Assignment(neurons, labels, scores(labels, neurons))
        return _cache[key]


def column_order(a: Assignment, order: str) -> np.ndarray:
    """Neuron index of each displayed column."""
    return matched_order(np.asarray(a.scores["confusion"])) if order == "matched" else np.arange(10)


# Gradio paints a selected cell's text on a white box; the darkest shades carry white text, which would
# vanish there, so the selected cell keeps its shade (app.py passes this to launch)
CSS = "#neurons-matrix .cell-selected .text { background: transparent !important; }"


def _styled(cm: np.ndarray, cols: np.ndarray, values: str):
    """The matrix as a table whose cells are shaded by their share of the row (a heatmap that
    also shows the numbers, and whose cells can be clicked)."""
    shares = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    shown = np.round(100 * shares, 1) if values == "shares" else cm
    frame = pd.DataFrame(shown[:, cols], columns=[f"n{j}" for j in cols])
    frame.insert(0, "digit", [str(d) for d in range(10)])

    def shade(_):
        css = [
            [""]
            + [
                f"background-color: rgba(67, 56, 202, {s:.2f}); color: {'white' if s > 0.5 else 'inherit'}"
                for s in row
            ]
            for row in shares[:, cols]
        ]
        return pd.DataFrame(css, index=frame.index, columns=frame.columns)

    return frame.style.apply(shade, axis=None)


def _mapping_frame(a: Assignment) -> pd.DataFrame:
    cm = np.asarray(a.scores["confusion"])
    return pd.DataFrame(
        {
            "neuron": [f"n{j}" for j in range(10)],
            "test images": cm.sum(0),
            "majority digit": a.scores["mapping_majority"],
            "matched digit": a.scores["mapping_matched"],
        }
    )


def _summary(name: str, a: Assignment) -> str:
    s = a.scores
    return (
        f"**{name}** on the 10,000 test digits: accuracy **{s['acc_majority']:.2f} %** with the "
        f"majority-vote mapping (each neuron reads as the digit it fires on most; two neurons may share a "
        f"digit), **{s['acc_matched']:.2f} %** with the best one-to-one mapping; NMI {s['nmi']:.3f}, "
        f"ARI {s['ari']:.3f}; {s['neurons_used']} of 10 neurons win for at least one digit. Click a cell "
        "to see its digits."
    )


class View(NamedTuple):
    matrix: Any  # the confusion matrix, styled (a pandas Styler)
    mapping: pd.DataFrame  # neuron -> digit
    summary: str


class Cell(NamedTuple):
    mosaic: Image.Image  # the cell's test digits
    caption: str


class ClickedCell(NamedTuple):
    mosaic: Image.Image
    caption: str
    digit: int  # the pickers follow the click
    neuron: int


class Activations(NamedTuple):
    seen: Image.Image  # the digit as the model sees it
    bars: pd.DataFrame  # its 10 activations
    winner: str


def view(name, order, values):
    """The confusion matrix, the mapping table and the summary of one model."""
    order, values = choice(order, ORDERS, "order"), choice(values, VALUES, "value kind")
    a = assignment(name)
    cm = np.asarray(a.scores["confusion"])
    return View(_styled(cm, column_order(a, order), values), _mapping_frame(a), _summary(name, a))


def cell(name, digit, neuron):
    """The test digits of one cell (true digit, most active neuron) as a mosaic, and a caption."""
    digit, neuron = whole(digit, "digit", 9), whole(neuron, "neuron", 9)
    a = assignment(name)
    idx = np.flatnonzero((a.labels == digit) & (a.neurons == neuron))
    test = runtime.test_set()
    shown = idx[: GRID * GRID]
    grid = mosaic(test.images[torch.from_numpy(shown)].float().div(255), GRID, rows=GRID)
    more = f" (the first {len(shown)} shown)" if len(idx) > len(shown) else ""
    caption = f"True digit **{digit}**, most active neuron **n{neuron}**: {len(idx)} test images{more}."
    return Cell(served(to_uint8(grid, scale=2)), caption)


def biggest_cell(name) -> "ClickedCell":
    """The cell holding the most test digits, shown on load so that the mosaic is never empty."""
    cm = np.asarray(assignment(name).scores["confusion"])
    digit, neuron = np.unravel_index(cm.argmax(), cm.shape)
    return ClickedCell(*cell(name, int(digit), int(neuron)), int(digit), int(neuron))


def cell_clicked(name, order, evt: gr.SelectData):
    """A click on the matrix: row = digit, column -> neuron (column 0 holds the digit itself)."""
    row, col = evt.index
    if col == 0:
        raise gr.Error("Click a count, not the digit column.")
    neuron = int(column_order(assignment(name), choice(order, ORDERS, "order"))[col - 1])
    return ClickedCell(*cell(name, row, neuron), row, neuron)


@torch.no_grad()
def activations(name, image: torch.Tensor):
    """The 10 neuron activations of one (1, 28, 28) digit as a bar frame, and which neuron wins."""
    model, a = _model(name), assignment(name)
    z = model.neurons(image.reshape(1, 1, 28, 28).to(runtime.device()))[0].cpu().double()
    win = int(z.argmax())
    maj, mat = a.scores["mapping_majority"][win], a.scores["mapping_matched"][win]
    frame = pd.DataFrame({"neuron": [f"n{j}" for j in range(10)], "activation": z.numpy().round(4)})
    share = float(z.softmax(0)[win])
    text = (
        f"Most active neuron: **n{win}** ({z[win]:.2f}; {share:.0%} of the softmax over the ten), read as "
        f"digit **{mat}** by the one-to-one mapping and **{maj}** by the majority vote."
    )
    note = familiar.remark(image)
    text += f"  \n{note}" if note else ""
    return Activations(served(to_uint8(image, scale=6)), frame, text)


@runtime.gpu
def neurons_drawing(name, sketch):
    return activations(name, from_sketch(sketch))


@runtime.gpu
def neurons_yours(name, mine):
    """The visitor's digit, drawn or uploaded on any tab (explorer.inputs.your_digit)."""
    return activations(name, yours(mine))


@runtime.gpu
def neurons_upload(name, path):
    return activations(name, from_upload(path))


def comparison() -> str:
    """Both models side by side, from their checkpoint headers (nothing is recomputed)."""
    rows = [
        "| model | parameters | majority-vote acc. | matched acc. | NMI | ARI | recon. MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, name in MODELS:
        try:
            m = json.loads(read_metadata(checkpoint_path(name))["metrics"])
        except (CheckpointError, KeyError, ValueError):
            rows.append(f"| {name} | not trained yet: `python -m training {name}` | | | | | |")
            continue
        rows.append(
            f"| {name} | {m['parameters']:,} | {m['acc_majority']:.2f} % | {m['acc_matched']:.2f} % | "
            f"{m['nmi']:.3f} | {m['ari']:.3f} | {m['mse']:.4f} |"
        )
    return "\n".join(rows)


def warm() -> None:
    """Load both models and their test-set assignments (for the app's warm-up thread)."""
    for _, name in MODELS:
        try:
            assignment(name)
        except gr.Error:
            pass


def build(demo: gr.Blocks, mine: gr.State):
    """Lay out the tab; call inside the gr.Blocks context `demo`; `mine` is the visitor's digit
    (explorer.inputs.your_digit), which every tab shares."""
    gr.Markdown(
        "Two autoencoders with a bottleneck of exactly ten neurons, trained without labels. For every "
        "test digit the most active neuron is its answer; the matrix counts true digit (rows) against "
        "that neuron (columns). The neurons come in no particular order, so they are read through a "
        "mapping to digits."
    )
    for _, name in MODELS:  # a missing or broken checkpoint: which file, and the command that makes it
        problem = runtime.problem(name)
        if problem:
            gr.Markdown(f"⚠️ {problem}")
    gr.Markdown(comparison())
    with gr.Row():
        model = gr.Radio(MODELS, value=MODELS[0][1], label="Model")
        order = gr.Radio(ORDERS, value="matched", label="Columns")
        values = gr.Radio(VALUES, value="counts", label="Cells")
    summary = gr.Markdown(elem_id="neurons-summary")
    with gr.Row():
        with gr.Column(scale=3):
            matrix = gr.Dataframe(
                label="True digit (rows) x most active neuron (columns)",
                interactive=False,
                elem_id="neurons-matrix",
                max_height=520,
            )
        with gr.Column(scale=2):
            mapping = gr.Dataframe(label="Neuron -> digit", interactive=False, max_height=520)
    with gr.Row():
        with gr.Column():
            with gr.Row():
                digit = gr.Number(value=0, label="True digit", precision=0, minimum=0, maximum=9)
                neuron = gr.Number(value=0, label="Neuron", precision=0, minimum=0, maximum=9)
            show_btn = gr.Button("Show this cell")
            caption = gr.Markdown()
            mosaic = gr.Image(
                label="Test digits of the cell",
                elem_id="neurons-mosaic",
                interactive=False,
                format="png",
                height=300,
            )
        with gr.Column():
            sketch, draw_btn, upload, upload_btn, mine_btn = draw_or_upload(
                "Read the neurons", "neurons", mine
            )
            seen = gr.Image(
                label="As the model sees it", interactive=False, format="png", height=168, width=168
            )
            winner = gr.Markdown(elem_id="neurons-winner")
            bars = gr.BarPlot(x="neuron", y="activation", label="Neuron activations", height=220)
    shown = outputs(View, matrix=matrix, mapping=mapping, summary=summary)
    gr.on(
        [model.change, order.change, values.change],
        view,
        [model, order, values],
        shown,
        api_name="neurons_view",
    )
    shown_cell = outputs(Cell, mosaic=mosaic, caption=caption)
    clicked = outputs(ClickedCell, mosaic=mosaic, caption=caption, digit=digit, neuron=neuron)
    # the tab answers on load: the matrix, then its biggest cell's digits
    demo.load(view, [model, order, values], shown, api_name=False).then(
        biggest_cell, model, clicked, api_name=False
    )
    read = outputs(Activations, seen=seen, bars=bars, winner=winner)
    show_btn.click(cell, [model, digit, neuron], shown_cell, api_name="neurons_cell")
    matrix.select(cell_clicked, [model, order], clicked, api_name=False)
    raw = {"preprocess": False}  # the handlers check raw values and files themselves (see denoise.py)
    draw_btn.click(neurons_drawing, [model, sketch], read, api_name="neurons_drawing", **raw)
    # read as the pen lifts; the button stays for keyboards and the API
    on_stroke(sketch, neurons_drawing, [model, sketch], read, mine)
    mine_btn.click(neurons_yours, [model, mine], read, api_name=False)
    upload_btn.click(neurons_upload, [model, upload], read, api_name="neurons_upload", **raw)
    return {"model": model, "matrix": matrix, "summary": summary}
