"""Handwritten digits that are not MNIST, read through the app's own upload path.

    .venv/bin/python benchmarks/handwriting.py [--limit N]

Sources (held out: nothing is trained or tuned on them):
- optdigits: the test part of UCI's "Optical Recognition of Handwritten Digits", as scikit-learn
  ships it (`sklearn.datasets.load_digits`): 1,797 digits by 13 writers, written on forms and
  reduced to 8x8 counts (0-16) of inked pixels in 4x4 blocks of a 32x32 bitmap. Each is drawn
  here as that 32x32 block picture, dark ink on white paper.
- bwht: Debian's `fonts-bwht`, six typefaces made from the handwriting of six people (the "Because
  We Had To" fonts); the ten digits of each, dark on white, 96 px on a 128 px square. Typefaces,
  not pen strokes: every copy of a digit is the same drawing.
Each picture is saved as a PNG file and uploaded to a running `python app.py` by gradio_client
(/denoise_upload, translate only, the served network); the prediction the answer gives on the
clean image is compared with the label.
"""

import argparse
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import ROOT, free_port, start, stop, table, wait_http
from PIL import Image, ImageDraw, ImageFont

FONTS = Path("/usr/share/fonts/opentype/bwht")
WRITERS = {"optdigits": "13 writers", "bwht": "6 writers' typefaces"}
PREDICTION = re.compile(r"prediction on the clean image \*\*(\d)\*\*")


def optdigits() -> Iterator[tuple[Image.Image, int]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    for counts, label in zip(d.images, d.target):
        ink = np.kron(counts / 16, np.ones((4, 4)))  # (32, 32): each count as its 4x4 block
        yield Image.fromarray((255 * (1 - ink)).round().astype(np.uint8)), int(label)


def bwht() -> Iterator[tuple[Image.Image, int]]:
    for path in sorted(FONTS.glob("*.otf")):
        font = ImageFont.truetype(str(path), 96)
        for digit in range(10):
            page = Image.new("L", (128, 128), 255)
            ImageDraw.Draw(page).text((64, 64), str(digit), font=font, fill=0, anchor="mm")
            yield page, digit


SOURCES = {"optdigits": optdigits, "bwht": bwht}


def available() -> list[str]:
    """The sources this machine has (bwht needs Debian's fonts-bwht)."""
    return [name for name in SOURCES if name != "bwht" or any(FONTS.glob("*.otf"))]


def samples(name: str, step: int = 1) -> list[tuple[Image.Image, int]]:
    """Every `step`-th picture of a source with its label."""
    return list(SOURCES[name]())[::step]


def read(client, image: Image.Image, folder: Path, network: str = "denoiser") -> int | None:
    """The digit the app reads on an uploaded picture (None when its answer names none)."""
    from gradio_client import handle_file

    path = folder / "upload.png"
    image.save(path)
    summary = client.predict(
        handle_file(str(path)), "translate", 14, 0.5, 0, network, api_name="/denoise_upload"
    )[5]
    found = PREDICTION.search(summary)
    return int(found.group(1)) if found else None


def accuracy(client, pictures: list[tuple[Image.Image, int]], folder: Path) -> tuple[float, list]:
    """Percent read correctly, and the (index, label, read) of every miss."""
    misses = []
    for i, (image, label) in enumerate(pictures):
        got = read(client, image, folder)
        if got != label:
            misses.append((i, label, got))
    return 100 * (1 - len(misses) / len(pictures)), misses


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--step", type=int, default=1, help="every N-th picture of each source (1: all)")
    args = p.parse_args()
    from gradio_client import Client

    port = free_port()
    proc = start([str(ROOT / "app.py")], port)  # torch uses one thread per request, as served
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for name in available():
                pictures = samples(name, args.step)
                acc, misses = accuracy(client, pictures, Path(tmp))
                confused = ", ".join(f"{label}->{got}" for _, label, got in misses[:8])
                rows.append([name, WRITERS[name], len(pictures), f"{acc:.1f}", confused or "-"])
        print(table(["source", "writers", "digits", "read correctly %", "first misses (label->read)"], rows))
        print("\nnetwork: denoiser (translate only), through /denoise_upload")
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
