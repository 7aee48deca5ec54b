"""Denoise & classify tab: distort a digit (or a Fashion-MNIST item), reconstruct it, classify all
three versions."""

import json
import math
from functools import cache
from typing import NamedTuple

import gradio as gr
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from training import registry
from training.checkpoint import (
    CheckpointError,
    checkpoint_path,
    checkpoint_stem,
    parse_stem,
    read_metadata,
    total_samples,
)
from training.data import CLASS_NAMES
from training.distortions import DISTORTIONS, distort, translate

from . import familiar, runtime
from .figures import probs_frame, served, to_uint8
from .inputs import (
    choice,
    from_sketch,
    from_upload,
    on_stroke,
    remember_uploads,
    sketchpad,
    whole,
    your_digit_panel,
    yours,
)
from .outputs import outputs

MODEL = "denoiser"  # the tab's own network; the others are offered beside it when their checkpoint is there


def _networks() -> list[tuple[str, str]]:
    """(display label, key) of every network the registry shows in this tab, once per data set it
    has a label for: the MNIST networks first, then the others. A key is a checkpoint's name, which
    names its data set (checkpoint_stem, parse_stem)."""
    offered = [(spec, dataset) for spec in registry.shown_in("denoise") for dataset in spec.labels]
    offered.sort(key=lambda sd: sd[1] != "mnist")  # stable: registration order within each group
    return [(spec.labels[dataset], checkpoint_stem(spec.name, dataset)) for spec, dataset in offered]


NETWORKS = _networks()
CHOICES = [  # (display label, key): handlers branch on the key only
    ("Translate only", "translate"),
    ("Remove rows and columns", "rows_cols"),
    ("Clamped Gaussian noise", "clamp"),
    ("Fractional noise", "fractional"),
]
# Gradio 6.31 gives a plot's block the height asked for but draws the plot that tall below the
# block's label, so the block clips the bottom of the sweep's legend (the two inputs' names)
CSS = "#denoise-sweep { overflow: visible !important; margin-bottom: 24px; }"
N_TEST = 10000
MAX_SEED = 2**31 - 1
# translations and noise draws per strength: 16 x 16 strengths keep a sweep under a second on one CPU
# thread
SWEEP_DRAWS = 16
SIGMAS = [round(0.1 * i, 1) for i in range(16)]  # 0 to 1.5, the sigma slider's range
SWEEPS = {  # distortion -> the distort() argument a sweep varies, and the strengths it tries
    "rows_cols": ("n", list(range(0, 29, 2))),  # rows and columns removed, each
    "clamp": ("sigma", SIGMAS),
    "fractional": ("sigma", SIGMAS),
}


def _check_distortion(distortion) -> str:
    if distortion not in DISTORTIONS:
        raise gr.Error(f"Unknown distortion {distortion!r}; choose one of: {', '.join(DISTORTIONS)}.")
    return distortion


def _check_params(distortion: str, n_lines, sigma, seed) -> tuple[int, float, int]:
    _check_distortion(distortion)
    n_lines = whole(n_lines, "number of rows and columns to remove", 28)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma <= 2:  # NaN fails too
        raise gr.Error(f"The noise sigma must be a number from 0 to 2, got {sigma!r}.")
    return n_lines, float(sigma), _check_seed(seed)


def _check_seed(seed) -> int:
    return whole(seed, "seed", MAX_SEED)


def _check_network(network) -> tuple[str, str]:
    """The network's key and the key of the data set it reads (its test set, its input layout and
    its class names)."""
    network = choice(network, NETWORKS, "network")
    return network, parse_stem(network)[1]


def networks() -> list[tuple[str, str]]:
    """The networks whose checkpoint file is there (the tab's own always, so that a missing one
    gets its message from the handler)."""
    return [(label, key) for label, key in NETWORKS if key == MODEL or checkpoint_path(key).exists()]


@cache
def network_line(name: str) -> str:
    """One line on the network that answered: its size and its scores on the reference protocol,
    from the checkpoint's header (the model card's figures)."""
    try:
        meta = read_metadata(checkpoint_path(name))
        m = json.loads(meta["metrics"])
        return (
            f"Network `{name}`: {m['parameters']:,} parameters, trained on {total_samples(meta):,} "
            f"distorted images; on the test protocol {m['acc_clean']:.2f} % clean, "
            f"{m['acc_noisy']:.2f} % distorted, {m['acc_recon']:.2f} % reconstructed"
        )
    except (CheckpointError, KeyError, ValueError):  # a header without these figures: the answer stands
        return f"Network `{name}`"


class Answer(NamedTuple):
    """One image through a network, in the order of the tab's outputs."""

    clean: Image.Image  # the translated input
    noisy: Image.Image  # distorted
    recon: Image.Image  # reconstructed
    p_noisy: pd.DataFrame  # class probabilities of the distorted image
    p_recon: pd.DataFrame  # and of the reconstruction
    summary: str


@torch.no_grad()
def run(
    image: torch.Tensor, distortion: str, n_lines, sigma, seed, label: int | None = None, network: str = MODEL
):
    """Translate (the clean image), distort, reconstruct and classify one (1, 28, 28) image with
    `network` (a key the handler has checked). Returns clean, distorted and reconstructed pictures,
    two probability frames and a summary."""
    n_lines, sigma, seed = _check_params(distortion, n_lines, sigma, seed)
    names = CLASS_NAMES[parse_stem(network)[1]]
    model = runtime.model_or_error(network)
    dev = runtime.device()
    gen = torch.Generator(device=dev).manual_seed(seed)
    x = image.reshape(1, 1, 28, 28).to(dev)
    clean = translate(x, gen)
    noisy = distort(clean, distortion, gen, n=n_lines, sigma=sigma)
    out = model(noisy)  # the decoder (a third of the net's work) runs on the distorted image only
    recon = out.recon
    # (3, 10): distorted, clean, reconstructed
    logits = torch.cat([out.logits, model.classify(torch.cat([clean, recon]))])
    p = F.softmax(logits, 1).cpu()
    pred = p.argmax(1).tolist()

    def psnr(a, b):
        return 10 * math.log10(1 / max(F.mse_loss(a, b).item(), 1e-10))

    head = f"**True label: {names[label]}** · " if label is not None else ""
    summary = (
        f"{head}prediction on the clean image **{names[pred[1]]}** ({p[1, pred[1]]:.1%}), "
        f"on the distorted **{names[pred[0]]}** ({p[0, pred[0]]:.1%}), "
        f"on the reconstruction **{names[pred[2]]}** ({p[2, pred[2]]:.1%})  \n"
        f"PSNR against the clean image: distorted {psnr(noisy, clean):.1f} dB, "
        f"reconstructed {psnr(recon, clean):.1f} dB  \n"
        f"{network_line(network)}"
    )
    if label is None:  # a drawing or an upload: say so when it looks like no digit the network knows
        note = familiar.remark(image, float(p[1, pred[1]]), parse_stem(network)[1])
        summary += f"  \n{note}" if note else ""
    return Answer(
        clean=served(to_uint8(clean)),
        noisy=served(to_uint8(noisy)),
        recon=served(to_uint8(recon)),
        p_noisy=probs_frame(p[0], names),
        p_recon=probs_frame(p[2], names),
        summary=summary,
    )


def _check_index(index) -> int:
    return whole(index, "test-set index", N_TEST - 1)


@runtime.gpu
def denoise_test_digit(index, distortion, n_lines, sigma, seed, network=MODEL):
    """A test image of the network's data set (MNIST, or Fashion-MNIST for denoiser_fashion)."""
    index = _check_index(index)
    network, dataset = _check_network(network)
    test = runtime.test_set(dataset)
    img = test.images[index].float().div(255).unsqueeze(0)
    return run(img, distortion, n_lines, sigma, seed, label=int(test.labels[index]), network=network)


@runtime.gpu
def denoise_drawing(sketch, distortion, n_lines, sigma, seed, network=MODEL):
    # a raw event (no Gradio preprocessing, whose decoder fails on a broken file without a message)
    network, dataset = _check_network(network)
    return run(from_sketch(sketch, dataset), distortion, n_lines, sigma, seed, network=network)


@runtime.gpu
def denoise_yours(mine, distortion, n_lines, sigma, seed, network=MODEL):
    """The visitor's digit, drawn or uploaded on any tab (explorer.inputs.your_digit)."""
    network, _ = _check_network(network)
    return run(yours(mine), distortion, n_lines, sigma, seed, network=network)


@runtime.gpu
def denoise_upload(path, distortion, n_lines, sigma, seed, network=MODEL):
    network, dataset = _check_network(network)
    return run(from_upload(path, dataset), distortion, n_lines, sigma, seed, network=network)


@torch.no_grad()
def _sweep(image: torch.Tensor, label: int | None, distortion: str, seed, network: str) -> pd.DataFrame:
    """How much of a distortion one (1, 28, 28) digit survives: at each strength, the share of
    SWEEP_DRAWS random translations and distortions that the network reads as `label` from the
    distorted image and from its reconstruction. Without a label (a drawing or an upload), the
    digit is what the network reads on the undistorted image. All strengths go through the network
    as one batch. `network` is a key the handler has checked."""
    if _check_distortion(distortion) not in SWEEPS:  # translate only
        raise gr.Error(
            "Translate only has no strength to sweep; choose rows and columns, clamped or fractional noise."
        )
    seed = _check_seed(seed)
    model = runtime.model_or_error(network)
    arg, strengths = SWEEPS[distortion]
    dev = runtime.device()
    x = image.reshape(1, 1, 28, 28).to(dev)
    if label is None:
        label = int(model.classify(x).argmax())
    gen = torch.Generator(device=dev).manual_seed(seed)
    x = x.expand(SWEEP_DRAWS, 1, 28, 28)
    # (S * D, 1, 28, 28)
    noisy = torch.cat([distort(translate(x, gen), distortion, gen, **{arg: s}) for s in strengths])
    out = model(noisy)
    rows = []
    for name, logits in (("distorted", out.logits), ("reconstructed", model.classify(out.recon))):
        right = (logits.argmax(1) == label).float().reshape(len(strengths), SWEEP_DRAWS).mean(1).cpu()
        rows += [
            {"strength": s, "input": name, "read correctly %": round(100 * float(r), 1)}
            for s, r in zip(strengths, right)
        ]
    return pd.DataFrame(rows)


@runtime.gpu
def denoise_sweep(index, distortion, seed, network=MODEL) -> pd.DataFrame:
    """The strength sweep of a test image of the network's data set, scored against its true label."""
    index = _check_index(index)
    network, dataset = _check_network(network)
    test = runtime.test_set(dataset)
    return _sweep(test.images[index].float().div(255), int(test.labels[index]), distortion, seed, network)


@runtime.gpu
def denoise_sweep_drawing(sketch, distortion, seed, network=MODEL) -> pd.DataFrame:
    """The strength sweep of a drawing, scored against the network's reading of the drawing itself."""
    network, dataset = _check_network(network)
    return _sweep(from_sketch(sketch, dataset), None, distortion, seed, network)


@runtime.gpu
def denoise_sweep_upload(path, distortion, seed, network=MODEL) -> pd.DataFrame:
    """The strength sweep of an uploaded picture, scored like a drawing's."""
    network, dataset = _check_network(network)
    return _sweep(from_upload(path, dataset), None, distortion, seed, network)


def random_index() -> int:
    return int(np.random.default_rng().integers(N_TEST))


def status_note() -> str:
    """A warning for the top of the tab when the checkpoint cannot be served, else ''."""
    problem = runtime.problem(MODEL)
    return f"⚠️ {problem}" if problem else ""


def build(demo: gr.Blocks, mine: gr.State):
    """Lay out the tab; call inside the gr.Blocks context `demo`; `mine` is the visitor's digit
    (explorer.inputs.your_digit), which every tab shares."""
    gr.Markdown(
        "A digit is translated (the **clean** image), then distorted. One network with a shared "
        "encoder classifies the distorted image and reconstructs the clean one; the reconstruction is "
        "classified again. Pick a test digit, draw one or upload a picture. The Fashion-MNIST network "
        "(under Network, when its checkpoint is there) reads clothes instead: its test images, drawings and "
        "uploads are Fashion-MNIST pictures, the item filling the frame."
    )
    note = status_note()
    if note:
        gr.Markdown(note)
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Tabs():
                with gr.Tab("Test digit"):
                    index = gr.Number(
                        value=0, label="Test-set index (0-9999)", precision=0, minimum=0, maximum=N_TEST - 1
                    )
                    with gr.Row():
                        random_btn = gr.Button("Random digit")
                        run_test_btn = gr.Button("Run", variant="primary")
                    sweep_btn = gr.Button("Sweep the strength")
                with gr.Tab("Draw"):
                    sketch = sketchpad(elem_id="denoise-sketch")
                    with gr.Row():
                        run_draw_btn = gr.Button("Run on drawing", variant="primary")
                        sweep_draw_btn = gr.Button("Sweep on drawing")
                with gr.Tab("Upload"):
                    # gr.File, not gr.Image: the handler opens the file itself, so a broken or huge file
                    # gets our own clear message instead of a decoder traceback
                    upload = gr.File(
                        label="Upload an image of a digit (PNG, JPEG, ...)",
                        file_types=["image"],
                        type="filepath",
                    )
                    with gr.Row():
                        run_upload_btn = gr.Button("Run on upload", variant="primary")
                        sweep_upload_btn = gr.Button("Sweep on upload")
                with gr.Tab("Your digit"):
                    run_mine_btn = your_digit_panel(mine, "Run on your digit")
            distortion = gr.Radio(CHOICES, value="clamp", label="Distortion")
            n_lines = gr.Slider(0, 28, value=14, step=1, label="Rows and columns removed (each)")
            sigma = gr.Slider(0, 1.5, value=0.5, step=0.05, label="Noise sigma")
            seed = gr.Number(
                value=0, label="Seed (translation and noise)", precision=0, minimum=0, maximum=MAX_SEED
            )
            # the last input of every event, so API callers that leave it out get the tab's own network
            nets = networks()
            network = gr.Radio(
                nets, value=MODEL, label="Network", visible=len(nets) > 1, elem_id="denoise-network"
            )
        with gr.Column(scale=2):
            picture = {"height": 280, "width": 280, "interactive": False, "format": "png"}
            with gr.Row():
                clean = gr.Image(label="Clean (translated)", elem_id="denoise-clean", **picture)
                noisy = gr.Image(label="Distorted", elem_id="denoise-noisy", **picture)
                recon = gr.Image(label="Reconstructed", elem_id="denoise-recon", **picture)
            summary = gr.Markdown(label="Summary", elem_id="denoise-summary")
            # bars in class order (the plot sorts names alphabetically otherwise), names slanted so that
            # Fashion-MNIST's long ones do not overlap; both fixed here, as an update from the handler
            # would change what API clients receive
            bars = {
                "x": "class",
                "y": "probability",
                "y_lim": [0, 1],
                "height": 240,
                "x_label_angle": -40,
                "sort": [name for names in CLASS_NAMES.values() for name in names],
            }
            with gr.Row():
                p_noisy = gr.BarPlot(label="Class probabilities: distorted", **bars)
                p_recon = gr.BarPlot(label="Class probabilities: reconstructed", **bars)
            sweep_plot = gr.LinePlot(
                x="strength",
                y="read correctly %",
                color="input",
                y_lim=[0, 100],
                height=300,
                elem_id="denoise-sweep",
                color_map={"distorted": "#2563eb", "reconstructed": "#ea580c"},
                x_title="rows/columns removed, or sigma",
                label=f"Sweep: share of {SWEEP_DRAWS} random draws of the distortion read correctly (a test "
                "image's true label; for a drawing or an upload, what the network reads on it undistorted), "
                "by its strength",
            )
    params = [distortion, n_lines, sigma, seed, network]
    answer = outputs(
        Answer, clean=clean, noisy=noisy, recon=recon, p_noisy=p_noisy, p_recon=p_recon, summary=summary
    )
    # preprocess=False: the handlers validate the raw values themselves, so that a wrong value from
    # an API client (None, out of range, a broken file) gets our message, not a bare "Error"
    raw = {"preprocess": False}
    run_test_btn.click(denoise_test_digit, [index, *params], answer, api_name="denoise_test_digit", **raw)
    # the tab answers on load: the chosen test digit (0) through the chosen distortion
    demo.load(denoise_test_digit, [index, *params], answer, api_name=False, **raw)
    random_btn.click(random_index, None, index, api_name="random_index").then(
        denoise_test_digit, [index, *params], answer, api_name=False, **raw
    )
    sweep_btn.click(
        denoise_sweep, [index, distortion, seed, network], sweep_plot, api_name="denoise_sweep", **raw
    )
    sweep_draw_btn.click(
        denoise_sweep_drawing,
        [sketch, distortion, seed, network],
        sweep_plot,
        api_name="denoise_sweep_drawing",
        **raw,
    )
    sweep_upload_btn.click(
        denoise_sweep_upload,
        [upload, distortion, seed, network],
        sweep_plot,
        api_name="denoise_sweep_upload",
        **raw,
    )
    # a sweep answers for one digit, distortion and network: it is cleared when any of them changes,
    # so the plot never shows another digit's curves. For the Sketchpad only its clear button: with a
    # change listener, Gradio 6.31's Sketchpad sent an empty composite to the next "Run on drawing"
    # (browser test)
    gr.on(
        [c.change for c in (index, upload, distortion, network)] + [sketch.clear],
        lambda: None,
        None,
        sweep_plot,
        api_name=False,
        queue=False,
    )
    run_draw_btn.click(denoise_drawing, [sketch, *params], answer, api_name="denoise_drawing", **raw)
    # the answer follows the pen: each finished stroke is read, the button stays for keyboards and the API
    on_stroke(sketch, denoise_drawing, [sketch, *params], answer, mine)
    remember_uploads(mine, upload)
    run_mine_btn.click(denoise_yours, [mine, *params], answer, api_name=False)
    upload.upload(denoise_upload, [upload, *params], answer, api_name=False, **raw)
    run_upload_btn.click(denoise_upload, [upload, *params], answer, api_name="denoise_upload", **raw)
    return {"index": index, "outputs": answer, "params": params}
