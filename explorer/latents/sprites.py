"""The explorer's static files: sprite sheets of the digits (every digit one tile, so hovering needs
no request), the served scripts (plotly.js from the installed plotly package, so the map works
offline, and explorer/static/latent_map.js) and their URLs."""

import os
import shutil
import tempfile
import threading
import urllib.parse
from pathlib import Path

import torch
from PIL import Image

from .. import runtime

STATIC = Path(__file__).resolve().parent.parent / "static"  # explorer/static/
SPRITE_COLUMNS = 100
SPRITE_BLOCK = 10_000  # training digits per sprite sheet: the browser decodes a sheet only when it shows one

_sprite_lock = threading.Lock()


def sprite_dir() -> Path:
    return Path(tempfile.gettempdir()) / "mnist-latent-lab"


def _sheet(images: torch.Tensor, path: Path) -> Path:
    """A PNG of `images` (N, 28, 28) uint8, SPRITE_COLUMNS digits per row, made once per machine
    (the data set is never committed, so it is drawn from whatever source loaded it)."""
    with _sprite_lock:
        if not path.is_file():
            rows = -(-len(images) // SPRITE_COLUMNS)
            tiles = torch.zeros(rows * SPRITE_COLUMNS, 28, 28, dtype=torch.uint8)
            tiles[: len(images)] = images
            sheet = (
                tiles.reshape(rows, SPRITE_COLUMNS, 28, 28)
                .permute(0, 2, 1, 3)
                .reshape(rows * 28, SPRITE_COLUMNS * 28)
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            # zlib's default level: 3 % larger than optimize=True, at a sixth of the time (1 s a sheet here)
            Image.fromarray(sheet.numpy()).save(tmp, format="PNG")
            tmp.replace(path)
    return path


def sprite_paths(split: str = "test") -> list[Path]:
    """The sprite sheets of a map: the test set's, then (for all digits) one per SPRITE_BLOCK
    training digits."""
    test = runtime.test_set().images
    paths = [_sheet(test, sprite_dir() / f"test-sprite-{len(test)}.png")]
    if split == "all":
        train = runtime.train_set().images
        paths += [
            _sheet(
                train[i : i + SPRITE_BLOCK],
                sprite_dir() / f"train-sprite-{i}-{min(i + SPRITE_BLOCK, len(train))}.png",
            )
            for i in range(0, len(train), SPRITE_BLOCK)
        ]
    return paths


def file_url(path: Path) -> str:
    """A URL under which the app serves a static file (relative, so it works behind a proxy path)."""
    return "gradio_api/file=" + urllib.parse.quote(str(path))


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def latent_map_js() -> Path:
    return STATIC / "latent_map.js"


def served_scripts() -> list[Path]:
    """plotly.js and latent_map.js, copied into the sprite folder so that the app has one static
    path instead of three: Gradio checks every file an answer returns against each static path
    (resolving both paths each time, twice per file), so two fewer paths save 4 of the 9 checks of
    each returned image."""
    folder = sprite_dir()
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for src in (plotly_js(), latent_map_js()):
        dst = folder / src.name
        same = dst.is_file() and (dst.stat().st_size, dst.stat().st_mtime) == (
            src.stat().st_size,
            src.stat().st_mtime,
        )
        # a new plotly or a changed script; copied aside first, so a reader never sees half a file
        if not same:
            tmp = folder / f".{src.name}.{os.getpid()}.tmp"
            shutil.copy2(src, tmp)
            tmp.replace(dst)
        copies.append(dst)
    return copies
