"""Malformed input over every endpoint: each gets a clear message, the server stays healthy.

A few hundred cases are generated below (image modes and formats, sizes, truncations, junk
files, empty sketches, out-of-range numbers); odd but valid pictures (16-bit, palette, CMYK, ...)
must simply work.
"""

import io
import itertools
import re

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from explorer import runtime

pytestmark = pytest.mark.skipif(not runtime.checkpoint_path("denoiser").exists(), reason="no denoiser checkpoint")

# every refusal must say what is wrong; gradio's own generic text for a crash is not one of these
CLEAR = re.compile(
    r"Not an image|empty|too large|invalid pixel|must be|Unknown distortion|Upload an image|not in the list of choices"
    r"|greater than|less than|not a valid|NaN|expected",
    re.I,
)
GOOD = (14, 0.5, 0)  # rows/cols, sigma, seed


def digit() -> np.ndarray:
    return runtime.test_set().images[3].numpy()  # a 1


def encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def valid_pictures() -> dict[str, bytes]:
    """The test digit in many modes and formats: all must be read as that digit."""
    d = digit()
    big = Image.fromarray(d).resize((112, 112), Image.NEAREST)
    out = {}
    for mode, fmt in itertools.product(["L", "RGB", "RGBA", "LA", "P", "I;16", "I", "1"], ["PNG", "TIFF"]):
        out[f"{mode}-{fmt}"] = encode(big.convert(mode) if mode != "I;16" else Image.fromarray((d.astype(np.uint16) * 257)).resize((112, 112)), fmt)
    for fmt in ["JPEG", "BMP", "GIF", "WEBP"]:
        out[f"L-{fmt}"] = encode(big, fmt)
    out["CMYK-TIFF"] = encode(big.convert("CMYK"), "TIFF")
    out["F-TIFF"] = encode(Image.fromarray(d.astype(np.float32) / 255), "TIFF")
    out["inverted-RGB-PNG"] = encode(Image.fromarray(255 - d).convert("RGB"), "PNG")
    alpha = np.zeros((28, 28, 4), np.uint8)
    alpha[..., 3] = d  # ink only in the alpha channel, transparent background
    out["alpha-only-PNG"] = encode(Image.fromarray(alpha, "RGBA"), "PNG")
    out["tall-PNG"] = encode(Image.fromarray(d).resize((28, 600)), "PNG")
    out["wide-PNG"] = encode(Image.fromarray(d).resize((900, 28)), "PNG")
    return out


def malformed_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    full = encode(Image.fromarray(digit()), "PNG")
    for fmt in ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]:
        data = encode(Image.fromarray(digit()).convert("RGB" if fmt == "JPEG" else "L"), fmt)
        for cut in [0, 1, 8, 16, 40, len(data) // 2, len(data) - 10]:
            out[f"truncated-{fmt}-{cut}"] = data[:cut]
    for n in [1, 10, 100, 1000, 10000]:
        out[f"random-{n}"] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    for name, text in {"text": b"hello, this is not an image", "html": b"<html><body>7</body></html>",
                       "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><text>7</text></svg>',
                       "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj", "zip": b"PK\x03\x04" + bytes(40),
                       "json": b'{"image": [[0, 1], [1, 0]]}', "png-magic-only": full[:8] + bytes(100),
                       "corrupt-middle": full[:50] + bytes(len(full) - 50)}.items():
        out[name] = text
    for w, h in [(10000, 10000), (20000, 1), (1, 20000), (4097, 10)]:
        out[f"huge-{w}x{h}"] = encode(Image.new("1", (w, h)), "PNG")
    for value in [0, 255]:
        for mode in ["L", "RGB", "RGBA", "1"]:
            out[f"flat-{value}-{mode}"] = encode(Image.new(mode, (64, 64), value if mode != "RGB" else (value,) * 3), "PNG")
    transparent = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    out["fully-transparent"] = encode(transparent, "PNG")
    out["1x1"] = encode(Image.new("L", (1, 1), 255), "PNG")
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    paths = {}
    for kind, table in (("valid", valid_pictures()), ("bad", malformed_files())):
        for name, data in table.items():
            path = folder / f"{kind}-{name}.bin"
            path.write_bytes(data)
            paths[(kind, name)] = path
    return paths


def refused(client, *args, api_name):
    """Call an endpoint that must refuse; return the message."""
    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api_name)
    message = str(err.value)
    assert CLEAR.search(message), f"{api_name}{args!r}: unclear message {message!r}"
    return message


def test_counts_over_300():
    n_files = len(valid_pictures()) + len(malformed_files())
    n = 2 * n_files + len(NUMBERS) + len(SKETCHES)  # each file both uploaded and sketched
    assert n >= 300, n


def test_valid_pictures_are_read(client, files):
    for (kind, name), path in files.items():
        if kind != "valid":
            continue
        for api, value in (("/denoise_upload", handle_file(str(path))),
                           ("/denoise_drawing", {"background": None, "layers": [], "composite": handle_file(str(path))})):
            summary = client.predict(value, "translate", *GOOD, api_name=api)[5]
            assert "prediction on the clean image **1**" in summary, (api, name, summary)


def test_malformed_files_are_refused(client, files):
    for (kind, name), path in files.items():
        if kind != "bad":
            continue
        refused(client, handle_file(str(path)), "clamp", *GOOD, api_name="/denoise_upload")
        refused(client, {"background": None, "layers": [], "composite": handle_file(str(path))}, "clamp", *GOOD,
                api_name="/denoise_drawing")
    assert client.predict(api_name="/ping") == "ok"


NUMBERS = [  # (index, distortion, rows/cols, sigma, seed) for /denoise_test_digit
    *[(i, "clamp", *GOOD) for i in (-1, -10**9, 10000, 10**12, 0.5, 9999.5, None)],
    *[(0, d, *GOOD) for d in ("", "nope", "CLAMP", "rows cols", None)],
    *[(0, "rows_cols", n, 0.5, 0) for n in (-1, 29, 1000, 2.5, None)],
    *[(0, "clamp", 14, s, 0) for s in (-0.1, 2.1, 100, None)],
    *[(0, "clamp", 14, 0.5, s) for s in (-1, 2**31, 0.5, None)],
]
SKETCHES = [
    {"background": None, "layers": [], "composite": None},
    {"background": None, "layers": [None], "composite": None},
    {},
]


def test_numbers_out_of_range_are_refused(client):
    for args in NUMBERS:
        refused(client, *args, api_name="/denoise_test_digit")
    for sketch in SKETCHES:
        refused(client, sketch, "clamp", *GOOD, api_name="/denoise_drawing")
    refused(client, None, "clamp", *GOOD, api_name="/denoise_upload")
    # healthy and still right after all of it
    summary = client.predict(0, "clamp", *GOOD, api_name="/denoise_test_digit")[5]
    assert "True label: 7" in summary
