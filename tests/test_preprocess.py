import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.preprocess import MAX_SIDE, PreprocessError, to_mnist


def draw_seven(height=90, width=120, top=12, left=40):
    """A binary '7' (white on black, uint8): a horizontal bar and a slanted stroke, off-centre."""
    ys, xs = np.indices((height, width))
    bar = (ys >= top) & (ys < top + 6) & (xs >= left) & (xs < left + 34)
    # slanted stroke from the bar's right end down-left
    y0, x0, y1, x1 = top + 3, left + 31, top + 50, left + 12
    t = np.clip(((ys - y0) * (y1 - y0) + (xs - x0) * (x1 - x0)) / ((y1 - y0) ** 2 + (x1 - x0) ** 2), 0, 1)
    dist = np.hypot(ys - (y0 + t * (y1 - y0)), xs - (x0 + t * (x1 - x0)))
    return np.where(bar | (dist <= 3), 255, 0).astype(np.uint8)


def png_roundtrip(im, **save_args):
    buf = io.BytesIO()
    im.save(buf, format="PNG", **save_args)
    buf.seek(0)
    return Image.open(buf)


def centre_of_mass(t):
    img = t[0].numpy().astype(np.float64)
    ys, xs = np.indices(img.shape)
    return (ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()


def ink_bbox(t, level=0.0):
    img = t[0].numpy()
    rows = np.flatnonzero((img > level).any(axis=1))
    cols = np.flatnonzero((img > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


INK = draw_seven()


def assert_mnist_geometry(t):
    assert isinstance(t, torch.Tensor)
    assert t.shape == (1, 28, 28)
    assert t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert float(t.max()) > 0.9  # the stroke survives at full strength
    cy, cx = centre_of_mass(t)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    h, w = ink_bbox(t)
    assert h <= 20 and w <= 20
    assert max(h, w) >= 19  # scaled up/down to fill the 20x20 box


def test_white_on_black_reference_geometry():
    assert_mnist_geometry(to_mnist(INK))


@pytest.mark.parametrize(
    "size,top,left",
    [((90, 120), 12, 40), ((300, 200), 150, 10), ((64, 48), 0, 0)],
)
def test_geometry_independent_of_position_and_size(size, top, left):
    assert_mnist_geometry(to_mnist(draw_seven(*size, top=top, left=left)))


def sketchpad_value():
    """What gr.Sketchpad returns: an opaque white canvas with black strokes, plus its parts."""
    composite = np.full(INK.shape + (4,), 255, np.uint8)
    composite[..., :3] = 255 - INK[..., None]
    background = np.full(INK.shape + (4,), 255, np.uint8)
    layer = np.zeros(INK.shape + (4,), np.uint8)
    layer[..., 3] = INK
    return {"composite": composite, "background": background, "layers": [layer]}


def rgba_transparent(fill):
    """Black strokes on a transparent canvas whose hidden colour is `fill`."""
    rgba = np.zeros(INK.shape + (4,), np.uint8)
    rgba[..., :3] = np.where(INK[..., None] > 0, 0, fill)
    rgba[..., 3] = INK
    return rgba


VARIANTS = {
    "black on white grey": lambda: 255 - INK,
    "black on white RGB": lambda: np.repeat((255 - INK)[..., None], 3, axis=2),
    "(H,W,1)": lambda: INK[..., None],
    "float": lambda: INK.astype(np.float64) / 255,
    "bool": lambda: INK > 0,
    "uint16 black on white": lambda: 65535 - INK.astype(np.uint16) * 257,
    "int64 (numpy default)": lambda: INK.astype(np.int64),
    "RGBA transparent black canvas": lambda: rgba_transparent(0),
    "RGBA transparent white canvas": lambda: rgba_transparent(255),
    "white ink RGBA on transparent": lambda: np.dstack([np.full(INK.shape + (3,), 255, np.uint8), INK]),
    "PIL L": lambda: Image.fromarray(INK),
    "PIL 1": lambda: Image.fromarray(INK > 0),
    "PIL RGB black on white": lambda: Image.fromarray(255 - INK).convert("RGB"),
    "PIL LA transparent": lambda: Image.fromarray(np.dstack([np.zeros_like(INK), INK])),
    "palette PNG": lambda: png_roundtrip(Image.fromarray(255 - INK).convert("RGB").convert("P")),
    "palette PNG transparent": lambda: png_roundtrip(
        Image.fromarray(255 - INK).convert("P"), transparency=255
    ),
    "16-bit PNG": lambda: png_roundtrip(Image.fromarray(INK.astype(np.uint16) * 257)),
    "PIL F": lambda: Image.fromarray(INK.astype(np.float32) / 255),
    "PNG bytes": lambda: _png_bytes(Image.fromarray(255 - INK)),
    "Sketchpad dict": sketchpad_value,
    "Sketchpad dict of PIL": lambda: {
        "composite": Image.fromarray(sketchpad_value()["composite"]),
        "layers": [],
    },
}


def _png_bytes(im):
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("name", VARIANTS)
def test_variants_match_white_on_black(name):
    reference = to_mnist(INK)
    out = to_mnist(VARIANTS[name]())
    assert out.shape == (1, 28, 28) and out.dtype == torch.float32
    diff = (out - reference).abs()
    # Lossless encodings are pixel-identical up to float rounding; JPEG adds a little noise.
    assert float(diff.mean()) < 0.02, name
    assert float(diff.max()) < 0.15, name


def test_16bit_png_really_is_16bit():
    im = png_roundtrip(Image.fromarray(INK.astype(np.uint16) * 257))
    assert im.mode in ("I", "I;16")


def test_input_is_not_modified():
    arr = 255 - INK
    before = arr.copy()
    to_mnist(arr)
    assert np.array_equal(arr, before)


def test_tiny_image_with_ink():
    tiny = np.zeros((5, 5), np.uint8)
    tiny[1:4, 2] = 255
    out = to_mnist(tiny)
    assert_mnist_geometry(out)


def mnist_like_zero():
    """An antialiased '0' already in MNIST format: 28x28, exactly 20 px tall, mass centred on
    (13.5, 13.5) (a 20-px box cannot be centred on a whole pixel, so half a pixel off (14, 14) is as
    centred as it gets)."""
    sub = 8
    ys, xs = (
        np.indices((28 * sub, 28 * sub)) + 0.5
    ) / sub  # continuous coordinate 13.5 + 0.5 = pixel 13's centre
    r = np.hypot((ys - 14) / 9.5, (xs - 14) / 6.5)
    ring = ((r <= 1.0) & (r >= 0.7)).astype(np.float32)
    return ring.reshape(28, sub, 28, sub).mean(axis=(1, 3))


def test_mnist_like_digit_stays_the_same_up_to_a_pixel():
    digit = mnist_like_zero()
    assert ink_bbox(torch.from_numpy(digit)[None], level=0.3)[0] == 20
    out = to_mnist(digit)[0].numpy()
    # Centring may move it by the half pixel either way; otherwise nothing should change.
    shifted = [np.roll(out, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert min(float(np.abs(s - digit).max()) for s in shifted) < 0.02
    cy, cx = centre_of_mass(torch.from_numpy(out)[None])
    assert abs(cy - 14) <= 0.5 + 1e-6 and abs(cx - 14) <= 0.5 + 1e-6


def test_jpeg_matches_up_to_a_pixel():
    buf = io.BytesIO()
    Image.fromarray(255 - INK).save(buf, format="JPEG", quality=50)
    out = to_mnist(buf.getvalue())[0].numpy()
    reference = to_mnist(INK)[0].numpy()
    # JPEG noise can tip the centre-of-mass rounding by one pixel, and blurs edges a little.
    shifted = [np.roll(out, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert min(float(np.abs(s - reference).mean()) for s in shifted) < 0.01
    assert min(float(np.abs(s - reference).max()) for s in shifted) < 0.15


def test_faint_grey_drawing_is_stretched_to_full_range():
    faint = np.full(INK.shape, 0.6, np.float32)
    faint[INK > 0] = 0.3  # dark-grey ink on light-grey paper
    out = to_mnist(faint)
    assert float(out.max()) > 0.9
    assert float((out - to_mnist(INK)).abs().mean()) < 0.02


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(None, id="None"),
        pytest.param({"composite": None, "background": None, "layers": []}, id="empty sketch dict"),
        pytest.param(np.full((200, 200, 4), 255, np.uint8), id="blank white canvas"),
        pytest.param(np.zeros((200, 200), np.uint8), id="blank black canvas"),
        pytest.param(np.full((50, 60, 3), (40, 120, 200), np.uint8), id="one colour"),
        pytest.param(np.zeros((50, 50, 4), np.uint8), id="fully transparent"),
        pytest.param(Image.new("RGB", (100, 100), "white"), id="blank PIL"),
    ],
)
def test_no_ink_is_rejected(bad):
    with pytest.raises(PreprocessError, match="empty"):
        to_mnist(bad)


NAN = np.zeros((20, 20), np.float32)
NAN[5, 5] = np.nan
INF = np.zeros((20, 20, 3))
INF[5:9, 5] = np.inf


@pytest.mark.parametrize(
    "bad,message",
    [
        pytest.param(NAN, "NaN", id="NaN"),
        pytest.param(INF, "NaN or infinity", id="inf"),
        pytest.param("digit.png", "path", id="string"),
        pytest.param(np.arange(10, dtype=np.uint8), "shape", id="1-d array"),
        pytest.param(np.zeros((0, 10), np.uint8), "no pixels", id="0-size array"),
        pytest.param(np.zeros((10, 10, 5), np.uint8), "channels", id="5 channels"),
        pytest.param(np.zeros((2, 10, 10, 3), np.uint8), "shape", id="4-d array"),
        pytest.param(np.array([["a", "b"]]), "type", id="strings in array"),
        pytest.param(b"definitely not a picture", "could not be read", id="garbage bytes"),
        pytest.param([[0, 255], [255, 0]], "list", id="list"),
        pytest.param(12, "int", id="number"),
        pytest.param({"background": np.zeros((5, 5))}, "composite", id="dict without composite"),
    ],
)
def test_invalid_input_is_rejected(bad, message):
    with pytest.raises(PreprocessError, match=message):
        to_mnist(bad)


def test_existing_file_path_is_not_opened(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(INK).save(path)
    with pytest.raises(PreprocessError, match="path"):
        to_mnist(str(path))


def test_preprocess_error_is_value_error():
    assert issubclass(PreprocessError, ValueError)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: np.zeros((10_000, 10_000), np.uint8), id="10000x10000 array"),
        pytest.param(lambda: np.zeros((MAX_SIDE + 1, 3), np.uint8), id="too tall"),
        pytest.param(lambda: np.zeros((4000, 4001), np.uint8), id="too many pixels"),
        pytest.param(lambda: Image.new("1", (10_000, 10_000)), id="huge PIL"),
        pytest.param(lambda: _png_bytes(Image.new("L", (MAX_SIDE + 1, 1))), id="wide PNG bytes"),
    ],
)
def test_too_large_is_rejected_fast(make):
    image = make()
    start = time.perf_counter()
    with pytest.raises(PreprocessError, match=str(MAX_SIDE)):
        to_mnist(image)
    assert time.perf_counter() - start < 0.5


def test_oversized_file_is_rejected_before_decoding(monkeypatch):
    big = Image.open(io.BytesIO(_png_bytes(Image.new("1", (MAX_SIDE + 1, 8)))))

    def load():
        raise AssertionError("the pixels were decoded before the size check")

    monkeypatch.setattr(big, "load", load)
    with pytest.raises(PreprocessError, match="too large"):
        to_mnist(big)


def test_largest_allowed_side_works():
    img = np.zeros((MAX_SIDE, 100), np.uint8)
    img[100:3000, 40:60] = 255
    assert_mnist_geometry(to_mnist(img))


# --- Fashion-MNIST's layout ----------------------------------------------------------------------


def test_fashion_item_fills_the_frame_and_is_centred_by_its_box():
    """A wide item (a 'bag'), dark-grey body with a bright handle, off-centre on a big canvas: its
    longer side becomes 28 pixels and its box sits in the middle, the dark body included."""
    canvas = np.zeros((300, 400), np.uint8)
    canvas[150:250, 60:260] = 60  # body, a quarter of the handle's brightness
    canvas[110:150, 130:190] = 240  # handle
    out = to_mnist(canvas, "fashion")
    assert out.shape == (1, 28, 28)
    height, width = ink_bbox(out, 0.05)
    assert width == 28 and 19 <= height <= 20  # 200x140 -> 28x19.6 by the box, body and handle together
    top = np.flatnonzero((out[0].numpy() > 0.05).any(axis=1))[0]
    assert top == (28 - height + 1) // 2
    # the same canvas in MNIST's layout: a 20x20 box, centred by mass
    assert ink_bbox(to_mnist(canvas), 0.05)[1] == 20


def test_fashion_test_images_survive_a_photo_round_trip():
    """Fashion-MNIST test images printed dark on white at 5x, then read back in its layout, are the
    images again (the set's own centring is a pixel off here and there); in MNIST's layout they are not."""
    from training.data import load_dataset

    def correlations(dataset: str) -> np.ndarray:
        out = []
        for img in load_dataset("fashion").test.images[:50].numpy():
            photo = Image.fromarray(255 - img).resize((140, 140), Image.BILINEAR).convert("RGB")
            back = to_mnist(photo, dataset)[0].numpy()
            out.append(np.corrcoef(back.ravel(), img.ravel() / 255)[0, 1])
        return np.array(out)

    fashion, mnist = correlations("fashion"), correlations("mnist")
    assert np.median(fashion) > 0.93 and fashion.min() > 0.8
    assert np.median(mnist) < 0.7
