"""Drawn and uploaded digits as they reach a handler (raw Gradio values) -> MNIST tensors."""

import math

import gradio as gr
import torch
from PIL import Image

from .preprocess import PreprocessError, to_mnist


def _open(path) -> Image.Image:
    """Open a file Gradio has cached (never a path from the request itself) lazily, so that
    to_mnist can refuse a huge image from its header before any pixel is decoded."""
    try:
        return Image.open(path)
    except (OSError, Image.DecompressionBombError, ValueError):
        raise gr.Error("Not an image: the uploaded file could not be read as a picture.") from None


def _to_mnist(image, dataset: str = "mnist") -> torch.Tensor:
    try:
        return to_mnist(image, dataset)
    except PreprocessError as e:
        raise gr.Error(str(e)) from e


def from_sketch(sketch, dataset: str = "mnist") -> torch.Tensor:
    """A Sketchpad value from an event with preprocess=False (the composite is a file record of
    Gradio's cache, opened here), or an already decoded one -> (1, 28, 28) in [0, 1], laid out as
    the images of `dataset` are (explorer.preprocess.to_mnist)."""
    composite = sketch.get("composite") if isinstance(sketch, dict) else None
    if isinstance(composite, dict):
        if not composite.get("path"):
            raise gr.Error("The image is empty: draw a digit first.")
        with _open(composite["path"]) as image:
            return _to_mnist({**sketch, "composite": image}, dataset)
    return _to_mnist(sketch, dataset)


def from_upload(path, dataset: str = "mnist") -> torch.Tensor:
    """A gr.File value (a path, or the raw file record of Gradio's cache) -> (1, 28, 28) in [0, 1],
    laid out as the images of `dataset` are."""
    if isinstance(path, dict):
        path = path.get("path")
    if not path:
        raise gr.Error("Upload an image of a digit first.")
    with _open(path) as image:
        return _to_mnist(image, dataset)


def whole(v, what: str, hi: int) -> int:
    """A whole number in [0, hi] from a request (floats like 3.0 pass), else a gr.Error naming it."""
    if (
        isinstance(v, bool)
        or not isinstance(v, (int, float))
        or not math.isfinite(v)
        or int(v) != v
        or not 0 <= v <= hi
    ):
        raise gr.Error(f"The {what} must be a whole number from 0 to {hi}, got {v!r}.")
    return int(v)


def choice(value, options, what: str) -> str:
    """One of the keys of a list of (label, key) options, else a gr.Error listing them."""
    keys = [k for _, k in options]
    if value not in keys:
        raise gr.Error(f"Unknown {what} {value!r}; choose one of: {', '.join(map(str, keys))}.")
    return value


def sketchpad(label: str = "Draw a digit", **kw) -> gr.Sketchpad:
    """The tabs' drawing canvas: a fixed black brush on a 280x280 canvas, RGBA so that an untouched
    background is told apart from ink. PICK_BRUSH_JS selects its brush."""
    return gr.Sketchpad(
        label=label,
        type="numpy",
        image_mode="RGBA",
        canvas_size=(280, 280),
        brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
        elem_classes=["lab-sketch"],
        **kw,
    )


# Gradio's Sketchpad opens with no tool chosen ("select the draw tool to start"), and its "Clear
# canvas" button drops the tool again: a visitor's next strokes draw nothing and the run then says
# the image is empty. This page-load script gives every canvas that has no tool chosen its brush,
# whenever the page changes (a tab mounts its canvas when first shown; clearing removes the brush's
# colour and size buttons), a moment later so that the editor's own start-up does not undo the
# choice. The brush is found by place, the first tool button of a Sketchpad's toolbar, not by its
# label, which Gradio translates into the visitor's language ("Brush", "Pincel", ...). A chosen
# tool is highlighted, the pan button too, so a visitor's own choice is left alone.
# Run by launch(js=...).
PICK_BRUSH_JS = """
() => {
  const waiting = new WeakSet();
  const untooled = (sketch) => !sketch.querySelector('button.highlight');
  const check = () => document.querySelectorAll('.lab-sketch').forEach((sketch) => {
    if (waiting.has(sketch) || !untooled(sketch) || !sketch.querySelector('button.quite-round')) return;
    waiting.add(sketch);
    setTimeout(() => {
      waiting.delete(sketch);
      const brush = sketch.querySelector('button.quite-round');
      if (brush && untooled(sketch)) brush.click();
    }, 200);
  });
  new MutationObserver(check).observe(document.body, {childList: true, subtree: true});
  check();
}
"""


def draw_or_upload(action: str):
    """A "Draw" and an "Upload" tab, each with a button labelled `action`:
    (sketch, draw button, upload, upload button). gr.File, not gr.Image: the handler opens the file
    itself, so a broken or huge file gets a clear message instead of a decoder traceback."""
    with gr.Tabs():
        with gr.Tab("Draw"):
            sketch = sketchpad()
            draw_btn = gr.Button(action, variant="primary")
        with gr.Tab("Upload"):
            upload = gr.File(label="Upload an image of a digit", file_types=["image"], type="filepath")
            upload_btn = gr.Button(action, variant="primary")
    return sketch, draw_btn, upload, upload_btn
