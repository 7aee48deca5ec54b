"""Turn drawn or uploaded images into MNIST-format tensors (white digit on black, 28x28), or into
Fashion-MNIST's format (the item light on black, filling the 28x28 frame)."""

import io

import numpy as np
import torch
from PIL import Image

MAX_SIDE = 4096
MAX_PIXELS = 16_000_000
MIN_CONTRAST = 0.05  # weaker than this between background and ink counts as a blank image
# After normalising, pixels above this belong to the digit's bounding box; high enough that JPEG ringing
# (up to ~0.25 of full contrast at low quality) does not stretch the box.
INK_LEVEL = 0.3
BOX = 20  # MNIST fits the digit into 20x20 ...
SIZE = 28  # ... and centres it by mass in a 28x28 frame
CENTRE = 14.0
# Fashion-MNIST's conversion trims the product photo to the item, fits its longer side to 28 pixels
# and centres the item's box; dark parts of a garment count as the item, hence a lower threshold
FASHION_INK_LEVEL = 0.1

NO_INK = "The image is empty: draw a digit (or upload an image that contains one) first."


class PreprocessError(ValueError):
    """The input cannot be turned into an MNIST digit; the message is meant for end users."""


def to_mnist(image, dataset: str = "mnist") -> torch.Tensor:
    """Any PIL image, numpy array (H,W), (H,W,1), (H,W,3), (H,W,4) of uint8/uint16/float/bool, or a
    Gradio Sketchpad/ImageEditor value (a dict with a 'composite' key, possibly also
    'background'/'layers') -> (1, 28, 28) float32 in [0, 1], laid out as the data set's images are:
    MNIST ("mnist") or Fashion-MNIST ("fashion")."""
    ink = _normalise(_to_gray(_to_array(image)))
    placed = _fit_and_centre(ink) if dataset == "mnist" else _fit_frame(ink)
    return torch.from_numpy(placed).unsqueeze(0)


def _check_size(height, width):
    if height == 0 or width == 0:
        raise PreprocessError("The image is empty (it has no pixels).")
    if height > MAX_SIDE or width > MAX_SIDE or height * width > MAX_PIXELS:
        raise PreprocessError(
            f"The image is too large ({width}x{height} pixels): at most {MAX_SIDE} pixels per side "
            f"and {MAX_PIXELS // 1_000_000} megapixels in total are accepted."
        )


def _to_array(image):
    # Unwrap the supported input types into a numpy array (H,W) or (H,W,C), validated but not yet scaled.
    if isinstance(image, dict):  # Gradio Sketchpad / ImageEditor value
        if "composite" not in image:
            raise PreprocessError("Not an image: expected a sketch with a 'composite' image.")
        image = image["composite"]
    if image is None:
        raise PreprocessError(NO_INK)
    if isinstance(image, str):
        # Never touch the filesystem with a user-controlled path.
        raise PreprocessError("Not an image: file paths are not accepted, pass the image itself.")
    if isinstance(image, (bytes, bytearray)):
        image = _open_bytes(bytes(image))
    if isinstance(image, Image.Image):
        return _pil_to_array(image)
    if isinstance(image, np.ndarray):
        return _check_array(image)
    raise PreprocessError(
        f"Not an image: a value of type {type(image).__name__} was given, expected a picture."
    )


def _open_bytes(data):
    try:
        return Image.open(io.BytesIO(data))  # lazy: only the header is read here
    except Image.DecompressionBombError:
        raise PreprocessError(
            f"The image is too large: at most {MAX_SIDE} pixels per side are accepted."
        ) from None
    except Exception:
        raise PreprocessError("Not an image: the uploaded file could not be read as a picture.") from None


def _pil_to_array(im):
    width, height = im.size
    _check_size(height, width)  # before decoding any pixel data
    try:
        if im.mode in ("1", "L", "LA", "RGB", "RGBA", "I", "F") or im.mode.startswith("I;16"):
            return _check_array(np.asarray(im))
        # Palette (its transparency included), CMYK, YCbCr, ...: let PIL map them to colours.
        return _check_array(np.asarray(im.convert("RGBA")))
    except PreprocessError:
        raise
    except Exception:
        raise PreprocessError("Not an image: the picture could not be decoded.") from None


def _check_array(arr):
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise PreprocessError(
            f"Not an image: an array of shape {arr.shape} was given, expected height x width "
            "with 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels."
        )
    _check_size(arr.shape[0], arr.shape[1])
    if arr.dtype.kind not in "biuf":
        raise PreprocessError(f"Not an image: pixel values of type {arr.dtype} are not supported.")
    return arr


def _to_unit(arr):
    # Scale pixel values to float32 in [0, 1].
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f":
        if not np.all(np.isfinite(arr)):
            raise PreprocessError("The image contains invalid pixel values (NaN or infinity).")
        out = arr.astype(np.float32)
    elif kind == "b":
        out = arr.astype(np.float32)
    elif size == 1:
        out = arr.astype(np.float32) / 255
    elif size == 2 or arr.max() > 255:
        out = arr.astype(np.float32) / 65535
    else:  # wider ints (numpy's default int64, PIL's mode I) holding 8-bit values
        out = arr.astype(np.float32) / 255
    return np.clip(out, 0.0, 1.0)


def _to_gray(arr):
    # Reduce to one grey channel in [0, 1], resolving transparency.
    arr = _to_unit(arr)
    if arr.ndim == 2:
        return arr
    channels = arr.shape[2]
    gray = arr[..., 0] if channels == 2 else arr[..., :3] @ np.float32([0.299, 0.587, 0.114])  # as PIL's "L"
    alpha = arr[..., -1] if channels in (2, 4) else None
    if alpha is not None and alpha.min() < 1.0:
        gray = _composite(gray, alpha)
    return gray


def _composite(gray, alpha):
    if gray.max() - gray.min() < MIN_CONTRAST:
        return (
            alpha  # colours are uniform (e.g. black strokes on a transparent black canvas): alpha is the ink
        )
    # Transparent pixels become background: put them behind the strokes in the colour that contrasts
    # with what is drawn, so the polarity step sees them as background.
    weight = float(alpha.sum())
    ink_level = float((gray * alpha).sum()) / weight if weight > 0 else 0.0
    background = 1.0 if ink_level < 0.5 else 0.0
    return gray * alpha + background * (1.0 - alpha)


def _normalise(gray):
    # Make the digit light on a dark background, stretched so background is 0 and the brightest ink 1.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on a light canvas (Sketchpad, paper): MNIST wants the opposite
        gray = 1.0 - gray
        background = 1.0 - background
    peak = float(gray.max())
    if peak - background < MIN_CONTRAST:
        raise PreprocessError(NO_INK)
    return np.clip((gray - background) / (peak - background), 0.0, 1.0).astype(np.float32)


def _crop_and_fit(ink, level: float, box: int):
    """The box of the pixels above `level`, resized so that its longer side is `box` pixels."""
    rows = np.flatnonzero((ink > level).any(axis=1))
    cols = np.flatnonzero((ink > level).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = crop.shape
    scale = box / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fitted = np.asarray(
        Image.fromarray(np.ascontiguousarray(crop)).resize(new_size, Image.LANCZOS), dtype=np.float32
    )
    return np.clip(fitted, 0.0, 1.0)  # Lanczos overshoots a little around sharp edges


def _fit_frame(ink):
    """Fashion-MNIST's layout: the item's longer side fills the frame, its box centred."""
    item = _crop_and_fit(ink, FASHION_INK_LEVEL, SIZE)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    top, left = (
        (SIZE - item.shape[0] + 1) // 2,
        (SIZE - item.shape[1] + 1) // 2,
    )  # odd margins: one more above / left
    out[top : top + item.shape[0], left : left + item.shape[1]] = item
    return out


def _fit_and_centre(ink):
    digit = _crop_and_fit(ink, INK_LEVEL, BOX)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    mass = digit.sum()
    if mass == 0:  # cannot happen for real ink, but keep the geometry well-defined
        return out
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    # Move the centre of mass to the frame's centre, but never push the digit out of the frame.
    top = int(np.clip(np.floor(CENTRE - cy + 0.5), 0, SIZE - digit.shape[0]))  # round half up on both axes
    left = int(np.clip(np.floor(CENTRE - cx + 0.5), 0, SIZE - digit.shape[1]))
    out[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return out
