"""Image grids and small charts shared by the tabs."""

import uuid

import numpy as np
import pandas as pd
import torch
from PIL import Image


def to_uint8(img: torch.Tensor, scale: int = 10) -> np.ndarray:
    """(1, 28, 28) or (28, 28) float in [0, 1] -> (28*scale, 28*scale) uint8, nearest-neighbour
    upscaled so every MNIST pixel stays a crisp square."""
    a = img.detach().float().cpu().reshape(img.shape[-2], img.shape[-1]).clamp(0, 1).numpy()
    a = np.rint(a * 255).astype(np.uint8)
    return np.kron(a, np.ones((scale, scale), dtype=np.uint8))


def mosaic(images: torch.Tensor, columns: int, rows: int | None = None) -> torch.Tensor:
    """(N, 28, 28) images -> one (rows*28, columns*28) grid, row by row; empty cells stay black."""
    rows = rows or max(1, -(-len(images) // columns))
    tiles = torch.zeros(rows * columns, 28, 28)
    tiles[: len(images)] = images[: rows * columns]
    return tiles.reshape(rows, columns, 28, 28).permute(0, 2, 1, 3).reshape(rows * 28, columns * 28)


def served(img: np.ndarray) -> Image.Image:
    """An image for a gr.Image output, tagged with a unique PNG text chunk. Gradio names cached
    output files by the hash of their bytes and rewrites the file in place, so two requests with
    the same answer at the same moment could serve each other a half-written file; unique bytes
    give every answer its own file."""
    im = Image.fromarray(img)
    im.info["answer"] = uuid.uuid4().hex
    return im


def probs_frame(probs: torch.Tensor, names=tuple(str(d) for d in range(10))) -> pd.DataFrame:
    """(10,) probabilities -> a frame for gr.BarPlot, classes in fixed order (digits 0..9 unless
    other class names are given)."""
    return pd.DataFrame({"class": list(names), "probability": probs.detach().cpu().double().numpy().round(4)})
