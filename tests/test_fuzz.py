"""Malformed input over every endpoint: each gets a clear message, the server stays healthy.

A few hundred cases are generated below (image modes and formats, sizes, truncations, junk
files, empty sketches, out-of-range numbers); odd but valid pictures (16-bit, palette, CMYK, ...)
must simply work.
"""

import io
import itertools
import json
import re

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from explorer import latents, runtime

pytestmark = pytest.mark.skipif(
    not runtime.checkpoint_path("denoiser").exists(), reason="no denoiser checkpoint"
)

# every refusal must say what is wrong; gradio's own generic text for a crash is not one of these
# ("validation error": a payload that does not fit the component's data model, refused by gradio)
CLEAR = re.compile(
    r"Not an image|empty|too large|invalid pixel|must be|Unknown distortion|Upload an image"
    r"|not in the list of choices|greater than|less than|not a valid|NaN|expected|Invalid file type"
    r"|validation error|Choose a|whole number|has no|Unknown",
    re.I,
)
GOOD = (14, 0.5, 0)  # rows/cols, sigma, seed
NEURONS = runtime.checkpoint_path(
    "cluster_ae"
).exists()  # the Latent neurons tab's upload gets the same files
EXPLORER = "autoencoder" in latents.available()  # and the explorer's


INDEX = 2  # a test digit the committed model reads right in every format below


def digit() -> np.ndarray:
    return runtime.test_set().images[INDEX].numpy()


def label() -> int:
    return int(runtime.test_set().labels[INDEX])


def encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def valid_pictures() -> dict[str, bytes]:
    """A test digit in many modes and formats: all must be read as that digit."""
    d = digit()
    big = Image.fromarray(d).resize((112, 112), Image.NEAREST)
    out = {}
    for mode, fmt in itertools.product(["L", "RGB", "RGBA", "LA", "P", "I;16", "I", "1"], ["PNG", "TIFF"]):
        if (mode, fmt) == ("I", "PNG"):
            continue  # Pillow no longer writes 32-bit PNGs
        out[f"{mode}-{fmt}"] = encode(
            big.convert(mode)
            if mode != "I;16"
            else Image.fromarray(d.astype(np.uint16) * 257).resize((112, 112)),
            fmt,
        )
    for fmt in ["JPEG", "BMP", "GIF", "WEBP"]:
        out[f"L-{fmt}"] = encode(big, fmt)
    out["CMYK-TIFF"] = encode(big.convert("CMYK"), "TIFF")
    out["F-TIFF"] = encode(Image.fromarray(d.astype(np.float32) / 255), "TIFF")
    out["inverted-RGB-PNG"] = encode(Image.fromarray(255 - d).convert("RGB"), "PNG")
    alpha = np.zeros((28, 28, 4), np.uint8)
    alpha[..., 3] = d  # ink only in the alpha channel, transparent background
    out["alpha-only-PNG"] = encode(Image.fromarray(alpha, "RGBA"), "PNG")
    tall, wide = np.zeros((600, 28), np.uint8), np.zeros((28, 900), np.uint8)
    tall[300:328], wide[:, 400:428] = d, d  # a digit on a long strip of background
    out["tall-PNG"], out["wide-PNG"] = (
        encode(Image.fromarray(tall), "PNG"),
        encode(Image.fromarray(wide), "PNG"),
    )
    return out


def malformed_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    full = encode(Image.fromarray(digit()), "PNG")
    for fmt in ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]:
        data = encode(Image.fromarray(digit()).convert("RGB" if fmt == "JPEG" else "L"), fmt)
        for cut in sorted(
            {
                0,
                1,
                2,
                4,
                8,
                12,
                16,
                24,
                33,
                40,
                57,
                len(data) // 4,
                len(data) // 2,
                3 * len(data) // 4,
                len(data) - 10,
                len(data) - 1,
            }
        ):
            # a file cut in its last quarter may still hold every pixel: then an answer is fine too
            out[f"truncated-{fmt}-{cut}" + ("-maybe" if cut >= 3 * len(data) // 4 else "")] = data[:cut]
    for n in [1, 2, 3, 10, 33, 100, 500, 1000, 5000, 10000]:
        out[f"random-{n}"] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    for name, text in {
        "text": b"hello, this is not an image",
        "html": b"<html><body>7</body></html>",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><text>7</text></svg>',
        "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj",
        "zip": b"PK\x03\x04" + bytes(40),
        "json": b'{"image": [[0, 1], [1, 0]]}',
        "png-magic-only": full[:8] + bytes(100),
        "corrupt-middle": full[:50] + bytes(len(full) - 50),
    }.items():
        out[name] = text
    for w, h in [(10000, 10000), (20000, 1), (1, 20000), (4097, 10)]:
        out[f"huge-{w}x{h}"] = encode(Image.new("1", (w, h)), "PNG")
    for value in [0, 255]:
        for mode in ["L", "RGB", "RGBA", "1"]:
            out[f"flat-{value}-{mode}"] = encode(
                Image.new(mode, (64, 64), value if mode != "RGB" else (value,) * 3), "PNG"
            )
    transparent = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    out["fully-transparent"] = encode(transparent, "PNG")
    out["1x1"] = encode(Image.new("L", (1, 1), 255), "PNG")
    for bad in [np.nan, np.inf, -np.inf]:
        arr = digit().astype(np.float32) / 255
        arr[10:12, 10:12] = bad
        out[f"float-{bad}-TIFF"] = encode(Image.fromarray(arr), "TIFF")
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    paths = {}
    for kind, table in (("valid", valid_pictures()), ("bad", malformed_files())):
        for name, data in table.items():
            # the extension a visitor's file would have (gr.File filters on it); junk poses as a PNG
            ext = {"TIFF": "tif", "JPEG": "jpg"}.get(name.split("-")[-1], name.split("-")[-1].lower())
            ext = ext if ext in ("png", "tif", "jpg", "bmp", "gif", "webp") else "png"
            path = folder / f"{kind}-{name}.{ext}"
            path.write_bytes(data)
            paths[(kind, name)] = path
    return paths


def refused(client, *args, api_name, maybe: bool = False):
    """Call an endpoint that must refuse with a clear message (or, when `maybe`, may also answer)."""
    try:
        result = client.predict(*args, api_name=api_name)
    except AppError as err:
        message = str(err)
        assert CLEAR.search(message), f"{api_name}{args!r}: unclear message {message!r}"
        return message
    assert maybe, f"{api_name}{args!r} was not refused"
    if "_sweep_" in api_name:  # a sweep answers with its plot: both inputs at every strength
        from explorer.denoise import SWEEPS

        assert len(result["data"]) == 2 * len(SWEEPS[args[1]][1]), result
        return None
    # a "maybe" file that is read after all gets an ordinary answer: the tab's summary text
    answer = result[{"/denoise": 5, "/neurons": -1, "/explorer": 2}[api_name.split("_")[0]]]
    assert any(
        s in answer for s in ("prediction on the clean image", "Most active neuron", "Your digit lands at")
    )
    return None


def test_counts_over_300():
    n_files = len(valid_pictures()) + len(malformed_files())
    n = (
        2 * n_files + len(NUMBERS) + len(NUMBERS_MAYBE) + len(SKETCHES)
    )  # each file both uploaded and sketched
    assert n >= 300, n


def test_valid_pictures_are_read(client, files):
    wrong = []
    for (kind, name), path in files.items():
        if kind != "valid":
            continue
        for api, value in (
            ("/denoise_upload", handle_file(str(path))),
            ("/denoise_drawing", {"background": None, "layers": [], "composite": handle_file(str(path))}),
        ):
            try:
                summary = client.predict(value, "translate", *GOOD, api_name=api)[5]
            except AppError as e:
                summary = f"refused: {e}"
            if (
                api == "/denoise_drawing"
                and name == "F-TIFF"
                and summary.startswith("refused: The image is empty")
            ):
                continue  # gradio turns a sketch into 8-bit RGBA first, which flattens [0, 1] floats to black
            if f"prediction on the clean image **{label()}**" not in summary:
                wrong.append((api, name, summary[:80]))
    assert not wrong


def test_malformed_files_are_refused(client, files):
    for (kind, name), path in files.items():
        if kind != "bad":
            continue
        maybe = name.endswith("-maybe")
        refused(client, handle_file(str(path)), "clamp", *GOOD, api_name="/denoise_upload", maybe=maybe)
        refused(
            client,
            {"background": None, "layers": [], "composite": handle_file(str(path))},
            "clamp",
            *GOOD,
            api_name="/denoise_drawing",
            maybe=maybe,
        )
        refused(client, handle_file(str(path)), "clamp", 0, api_name="/denoise_sweep_upload", maybe=maybe)
        if NEURONS:
            refused(client, "cluster_ae", handle_file(str(path)), api_name="/neurons_upload", maybe=maybe)
        if EXPLORER:
            refused(
                client,
                "autoencoder",
                "umap",
                2,
                "label",
                handle_file(str(path)),
                api_name="/explorer_upload",
                maybe=maybe,
            )
    assert client.predict(api_name="/ping") == "ok"


NUMBERS = [  # (index, distortion, rows/cols, sigma, seed) for /denoise_test_digit
    *[(i, "clamp", *GOOD) for i in (-1, -(10**9), 10000, 10**12, 9999.7, None)],
    *[(0, d, *GOOD) for d in ("", "nope", "CLAMP", "rows cols", None)],
    *[(0, "rows_cols", n, 0.5, 0) for n in (-1, 29, 1000, 2.5, None)],
    *[(0, "clamp", 14, s, 0) for s in (-0.1, 2.1, 100, None)],
    *[(0, "clamp", 14, 0.5, s) for s in (-1, 2**31, None)],
]
# the index and seed fields round to whole numbers (precision=0) before the handler sees them,
# so these may be answered for the rounded value
NUMBERS_MAYBE = [(0.5, "clamp", *GOOD), (2.4, "clamp", *GOOD), (0, "clamp", 14, 0.5, 0.5)]
SKETCHES = [
    {"background": None, "layers": [], "composite": None},
    {"background": None, "layers": [None], "composite": None},
    {},
]


def test_numbers_out_of_range_are_refused(client):
    for args in NUMBERS:
        refused(client, *args, api_name="/denoise_test_digit")
    for args in NUMBERS_MAYBE:
        refused(client, *args, api_name="/denoise_test_digit", maybe=True)
    for sketch in SKETCHES:
        refused(client, sketch, "clamp", *GOOD, api_name="/denoise_drawing")
        refused(client, sketch, "clamp", 0, api_name="/denoise_sweep_drawing")
    refused(client, None, "clamp", *GOOD, api_name="/denoise_upload")
    refused(client, None, "clamp", 0, api_name="/denoise_sweep_upload")
    # the sweep takes index, distortion and seed (it varies the strength itself)
    for index, distortion, n, sigma, seed in NUMBERS:
        if (n, sigma) == GOOD[:2]:
            refused(client, index, distortion, seed, api_name="/denoise_sweep")
    # healthy and still right after all of it
    summary = client.predict(0, "clamp", *GOOD, api_name="/denoise_test_digit")[5]
    assert "True label: 7" in summary


# (model, other, projection, dimension, colouring, colour of the second map, point) for /explorer_compare
COMPARE_BAD = [
    *[("autoencoder", o, "umap", 2, "label", "same", 5) for o in ("autoencoder", "nope", 3)],
    *[(m, "vae", "umap", 2, "label", "same", 5) for m in ("nope", "", None)],
    ("autoencoder", "vae", "mds", 2, "label", "same", 5),
    ("autoencoder", "vae", "umap", 7, "label", "same", 5),
    ("autoencoder", "vae", "umap", 2, "rainbow", "same", 5),
    ("autoencoder", "vae", "umap", 2, "label", "nope", 5),
    *[("autoencoder", "vae", "umap", 2, "label", "agreement", p) for p in (-2, 10_000, 10**12)],
]


@pytest.mark.skipif(not {"autoencoder", "vae"} <= set(latents.available()), reason="needs two maps")
def test_compare_and_film_refuse_bad_input(client):
    for args in COMPARE_BAD:
        refused(client, *args, api_name="/explorer_compare")
    # a film asked of a model that has none, and a point past the film's digits
    plain = [n for n in latents.available() if not latents.film.has_film(n)]
    if plain:
        refused(client, plain[0], "film", 2, "label", -1, api_name="/explorer_view")
    films = [n for n in latents.available() if latents.film.has_film(n)]
    if films:
        refused(client, films[0], "film", 2, "label", 10_000, api_name="/explorer_point")
        refused(client, films[0], "film", 2, "label", 0, "all", api_name="/explorer_point")
    # healthy and still right after all of it
    value, text, *_ = client.predict(
        "autoencoder", "vae", "umap", 2, "label", "agreement", 5, api_name="/explorer_compare"
    )
    assert json.loads(value)["model"] == "vae" and "share on average" in text
