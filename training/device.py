"""The one device choice of the project (training and the app)."""

import torch


def pick_device(name: str = "auto") -> torch.device:
    """cuda > mps > cpu for "auto"; anything else is taken as a torch device name."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
