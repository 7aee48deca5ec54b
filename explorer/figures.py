"""Image grids and small charts shared by the tabs."""

import numpy as np
import pandas as pd
import torch


def to_uint8(img: torch.Tensor, scale: int = 10) -> np.ndarray:
    """(1, 28, 28) or (28, 28) float in [0, 1] -> (28*scale, 28*scale) uint8, nearest-neighbour
    upscaled so every MNIST pixel stays a crisp square."""
    a = img.detach().float().cpu().reshape(img.shape[-2], img.shape[-1]).clamp(0, 1).numpy()
    a = np.rint(a * 255).astype(np.uint8)
    return np.kron(a, np.ones((scale, scale), dtype=np.uint8))


def probs_frame(probs: torch.Tensor) -> pd.DataFrame:
    """(10,) probabilities -> a frame for gr.BarPlot, digits in fixed order 0..9."""
    return pd.DataFrame({"digit": [str(d) for d in range(10)], "probability": probs.detach().cpu().double().numpy().round(4)})
