"""Drawn and uploaded digits as they reach a handler (raw Gradio values) -> MNIST tensors."""

import functools
import io
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


EMPTY = "The image is empty: draw a digit first."

# Every canvas sketchpad() made: a drawing can reach a handler as {"id": ...}, the key of images the
# page sent beforehand to its canvas's own store (Gradio's accept_blobs), not as file records
_CANVASES: list[gr.Sketchpad] = []


def _stored(key) -> Image.Image:
    """The composite a canvas's store holds under `key`, taken out of it (a key is used once, as
    Gradio's own preprocessing does), opened lazily like a cached file."""
    for canvas in _CANVASES if isinstance(key, str) else ():
        blobs = canvas.blob_storage.pop(key, None)
        if blobs is not None:
            if not blobs.composite:
                raise gr.Error(EMPTY)
            return _open(io.BytesIO(blobs.composite))
    raise gr.Error("The drawing did not arrive: draw it again.")


def from_sketch(sketch, dataset: str = "mnist") -> torch.Tensor:
    """A Sketchpad value from an event with preprocess=False (the composite is a file record of
    Gradio's cache, or the key of a canvas's store; opened here), or an already decoded one ->
    (1, 28, 28) in [0, 1], laid out as the images of `dataset` are (explorer.preprocess.to_mnist)."""
    if isinstance(sketch, dict) and sketch.get("id") and not sketch.get("composite"):
        with _stored(sketch["id"]) as image:
            return _to_mnist({"composite": image}, dataset)
    composite = sketch.get("composite") if isinstance(sketch, dict) else None
    if isinstance(composite, dict):
        if not composite.get("path"):
            raise gr.Error(EMPTY)
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


# A canvas wider than its 280x280 drawing square (a full-width row) leaves most of it dead: a stroke
# begun beside the square draws nothing. Capped, the square fills the canvas in every tab
CSS = ".lab-sketch { max-width: 420px; } .lab-live { display: none !important; }"


def sketchpad(label: str = "Draw a digit", **kw) -> gr.Sketchpad:
    """The tabs' drawing canvas: a fixed black brush on a 280x280 canvas, RGBA so that an untouched
    background is told apart from ink. PICK_BRUSH_JS selects its brush."""
    canvas = gr.Sketchpad(
        label=label,
        type="numpy",
        image_mode="RGBA",
        canvas_size=(280, 280),
        brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
        elem_classes=["lab-sketch"],
        **kw,
    )
    _CANVASES.append(canvas)
    return canvas


# Gradio's Sketchpad opens with no tool chosen ("select the draw tool to start"), and its "Clear
# canvas" button drops the tool again: a visitor's next strokes draw nothing and the run then says
# the image is empty. This page-load script gives every canvas that has no tool chosen its brush,
# whenever the page changes (a tab mounts its canvas when first shown; clearing removes the brush's
# colour and size buttons), a moment later so that the editor's own start-up does not undo the
# choice. The brush is found by place, the first tool button of a Sketchpad's toolbar, not by its
# label, which Gradio translates into the visitor's language ("Brush", "Pincel", ...). A chosen
# tool is highlighted, the pan button too, so a visitor's own choice is left alone.
# Run by launch(js=PAGE_JS).
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


def live(handler, n_outputs: int):
    """The handler of a canvas's live event (a stroke ended): the answer of `handler`, but a canvas
    that cannot be read yet (empty, cleared, a first dot) leaves the outputs as they are instead of
    raising the message the button would: nobody should get an error popup while still drawing."""
    nothing = gr.skip() if n_outputs == 1 else tuple(gr.skip() for _ in range(n_outputs))

    @functools.wraps(handler)
    def on_stroke(*args):
        try:
            return handler(*args)
        except gr.Error:
            return nothing

    return on_stroke


def on_stroke(sketch: gr.Sketchpad, handler, inputs, outputs, mine: gr.State | None = None) -> None:
    """Answer `handler` each time the pen lifts from `sketch` (and after its clear and undo buttons).
    Not the Sketchpad's own .input/.change: with either listener Gradio 6's editor sends each drawing
    ahead to its store and the next event only its key, which races the upload (the event often
    arrives first and its drawing is lost) and leaves the buttons an empty composite. Instead a hidden
    button, `<canvas elem_id>-live`, is pressed by LIVE_JS: its event reads the canvas as the buttons
    do. Only the last of a burst of strokes is answered (one made while an answer is on its way
    replaces the waiting one), without a progress veil, which would flicker at every stroke. With
    `mine` (your_digit()), the drawing also becomes the visitor's digit for every tab."""
    trigger = gr.Button("Read the drawing", elem_id=f"{sketch.elem_id}-live", elem_classes=["lab-live"])
    quiet = {"preprocess": False, "trigger_mode": "always_last", "show_progress": "hidden", "api_name": False}
    trigger.click(live(handler, len(outputs)), inputs, outputs, **quiet)
    if mine is not None:
        trigger.click(keep_drawing, sketch, mine, **quiet)


# ---- your digit: the last digit a visitor drew or uploaded on any tab, offered by every tab ----

NO_DIGIT = "No digit of yours yet: draw or upload one on any tab."


def your_digit() -> gr.State:
    """The visitor's digit, one per visitor (a session's gr.State), shared by every tab: as MNIST
    sees it, a (28, 28) nested list in [0, 1] (a list, not an array, so that Gradio can tell a new
    digit from the same one). Call inside the gr.Blocks context, before the tabs."""
    return gr.State(None)


def keep_drawing(sketch):
    """A finished stroke's drawing as the visitor's digit; an unreadable canvas keeps the old one."""
    try:
        return from_sketch(sketch)[0].tolist()
    except gr.Error:
        return gr.skip()


def keep_upload(path):
    """An uploaded picture as the visitor's digit; an unreadable file keeps the old one (the tab's own
    answer to it says why)."""
    try:
        return from_upload(path)[0].tolist()
    except gr.Error:
        return gr.skip()


def yours(mine) -> torch.Tensor:
    """The visitor's digit as (1, 28, 28), else a gr.Error saying how to make one."""
    if mine is None:
        raise gr.Error(NO_DIGIT)
    return torch.tensor(mine, dtype=torch.float32).reshape(1, 28, 28)


def picture_of(mine):
    """The visitor's digit as a picture (None before there is one), shown 4x in a tab's "Your digit"."""
    if mine is None:
        return None
    ink = (255 * yours(mine)[0].clamp(0, 1)).round().to(torch.uint8).numpy()
    return Image.fromarray(ink).resize((112, 112), Image.NEAREST)


def your_digit_panel(mine: gr.State, action: str) -> gr.Button:
    """A tab's "Your digit" panel: the visitor's digit as it is now and a button `action` (returned)."""
    shown = gr.Image(label="Your digit (drawn or uploaded on any tab)", interactive=False, height=140)
    mine.change(picture_of, mine, shown, api_name=False, show_progress="hidden")
    return gr.Button(action, variant="primary")


def remember_uploads(mine: gr.State, *uploads: gr.File) -> None:
    """Each of these uploads also becomes the visitor's digit."""
    for upload in uploads:
        upload.upload(keep_upload, upload, mine, preprocess=False, api_name=False, show_progress="hidden")


# Presses a canvas's hidden live button (on_stroke) a moment after a pointer pressed on the canvas
# (a stroke, its clear or undo button) is lifted, wherever it is lifted: a stroke may leave the canvas
LIVE_JS = """
() => {
  let down = null;
  const timers = {};
  document.addEventListener('pointerdown', (e) => {
    down = e.target.closest ? e.target.closest('.lab-sketch') : null;
  }, true);
  document.addEventListener('pointerup', () => {
    const sketch = down;
    down = null;
    const trigger = sketch && sketch.id && document.getElementById(sketch.id + '-live');
    if (!trigger) return;
    clearTimeout(timers[sketch.id]);
    timers[sketch.id] = setTimeout(() => trigger.click(), 250);
  }, true);
}
"""

# The page's start-up script, given to launch(js=...): one function, so the two are called in turn
PAGE_JS = f"() => {{ ({PICK_BRUSH_JS.strip()})(); ({LIVE_JS.strip()})(); }}"


def draw_or_upload(action: str, name: str, mine: gr.State | None = None):
    """A "Draw" and an "Upload" tab, each with a button labelled `action`, the canvas's elem_id
    `<name>-sketch`, and with `mine` a "Your digit" tab (your_digit_panel):
    (sketch, draw button, upload, upload button, your-digit button or None). gr.File, not gr.Image:
    the handler opens the file itself, so a broken or huge file gets a clear message instead of a
    decoder traceback."""
    mine_btn = None
    with gr.Tabs():
        with gr.Tab("Draw"):
            sketch = sketchpad(elem_id=f"{name}-sketch")
            draw_btn = gr.Button(action, variant="primary")
        with gr.Tab("Upload"):
            upload = gr.File(label="Upload an image of a digit", file_types=["image"], type="filepath")
            upload_btn = gr.Button(action, variant="primary")
        if mine is not None:
            with gr.Tab("Your digit"):
                mine_btn = your_digit_panel(mine, f"{action}: your digit")
            remember_uploads(mine, upload)
    return sketch, draw_btn, upload, upload_btn, mine_btn
