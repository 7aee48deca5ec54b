"""Distortions of the reference write-up as pure, vectorised tensor functions.

Every function takes a batch x of shape (B, 1, 28, 28) with values in [0, 1] and a
torch.Generator (on x's device) and returns a new batch of the same shape; no per-image
Python loops, so they cost little next to a forward pass.
"""

import torch

# Keys used by the training loop, the evaluation protocol and the app (never display labels).
DISTORTIONS = ("translate", "rows_cols", "clamp", "fractional")
NOISY = ("rows_cols", "clamp", "fractional")  # the three "true" distortions of the protocol


def _ink_bounds(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """First and last row / column holding a non-zero pixel, per image: four (B,) tensors.
    An empty image gets the bounds (0, H-1, 0, W-1) so that its only legal shift is zero."""
    B, _, H, W = x.shape
    rows = (x > 0).any(dim=3)[:, 0]  # (B, H)
    cols = (x > 0).any(dim=2)[:, 0]  # (B, W)
    ar_h = torch.arange(H, device=x.device)
    ar_w = torch.arange(W, device=x.device)
    big = max(H, W)
    top = torch.where(rows, ar_h, big).amin(1)
    bottom = torch.where(rows, ar_h, -1).amax(1)
    left = torch.where(cols, ar_w, big).amin(1)
    right = torch.where(cols, ar_w, -1).amax(1)
    empty = bottom < 0
    top = torch.where(empty, 0, top)
    bottom = torch.where(empty, H - 1, bottom)
    left = torch.where(empty, 0, left)
    right = torch.where(empty, W - 1, right)
    return top, bottom, left, right


def translate(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by a random whole number of pixels, uniformly among the shifts that keep
    every non-zero pixel inside the frame. The result is the protocol's *clean* image."""
    B, _, H, W = x.shape
    top, bottom, left, right = _ink_bounds(x)
    u = torch.rand(B, 2, generator=gen, device=x.device)
    # allowed dy in [-top, H-1-bottom]; pick uniformly among those integers
    dy = (-top + (u[:, 0] * (H - bottom + top)).long().clamp(max=H - 1 - bottom + top)).long()
    dx = (-left + (u[:, 1] * (W - right + left)).long().clamp(max=W - 1 - right + left)).long()
    # out[b, i, j] = x[b, i - dy, j - dx]; the pixels that wrap round are zero by construction
    rows = (torch.arange(H, device=x.device)[None, :] - dy[:, None]) % H  # (B, H)
    cols = (torch.arange(W, device=x.device)[None, :] - dx[:, None]) % W  # (B, W)
    b = torch.arange(B, device=x.device)[:, None, None]
    return x[b, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def remove_rows_cols(
    x: torch.Tensor, gen: torch.Generator, n: int = 14, distinct: bool = True
) -> torch.Tensor:
    """Zero n random rows and n random columns of each image: n distinct lines of each kind, or
    (distinct=False) n draws each that may repeat, which leaves 28 (1 - (27/28)^n) distinct lines on
    average (11.2 for n = 14): the write-up does not say which it meant."""
    B, _, H, W = x.shape
    if not (0 <= n <= min(H, W)):
        raise ValueError(f"n must be in [0, {min(H, W)}], got {n}")
    if distinct:
        # rank of a uniform draw = a random permutation; ranks below n pick n distinct lines
        row_rank = torch.rand(B, H, generator=gen, device=x.device).argsort(1).argsort(1)
        col_rank = torch.rand(B, W, generator=gen, device=x.device).argsort(1).argsort(1)
        keep_rows, keep_cols = row_rank >= n, col_rank >= n  # (B, H), (B, W)
    else:
        rows = torch.randint(0, H, (B, n), generator=gen, device=x.device)
        cols = torch.randint(0, W, (B, n), generator=gen, device=x.device)
        keep_rows = torch.ones(B, H, dtype=torch.bool, device=x.device).scatter(1, rows, False)
        keep_cols = torch.ones(B, W, dtype=torch.bool, device=x.device).scatter(1, cols, False)
    return x * keep_rows.to(x.dtype)[:, None, :, None] * keep_cols.to(x.dtype)[:, None, None, :]


def clamp_noise(x: torch.Tensor, gen: torch.Generator, sigma: float = 0.5) -> torch.Tensor:
    """Add N(0, sigma^2) noise and clamp to [0, 1]."""
    noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return (x + sigma * noise).clamp(0.0, 1.0)


def fractional_noise(x: torch.Tensor, gen: torch.Generator, sigma: float = 0.5) -> torch.Tensor:
    """Add N(0, sigma^2) noise, keep the fractional part of positive values and send negative
    values to 0 (0.9 + 0.2 -> 0.1; 0.1 - 0.2 -> 0)."""
    noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    # torch.frac keeps the sign, so negative sums land in (-1, 0] and the clamp zeroes them
    return torch.frac(x + sigma * noise).clamp(0.0, 1.0)


def distort(
    x: torch.Tensor, kind: str, gen: torch.Generator, n: int = 14, sigma: float = 0.5, distinct: bool = True
) -> torch.Tensor:
    """Apply one of the three true distortions (or none, for "translate") to an already
    translated batch; `distinct` is remove_rows_cols' reading of "n rows and n columns"."""
    if kind == "translate":
        return x.clone()
    if kind == "rows_cols":
        return remove_rows_cols(x, gen, n, distinct)
    if kind == "clamp":
        return clamp_noise(x, gen, sigma)
    if kind == "fractional":
        return fractional_noise(x, gen, sigma)
    raise ValueError(f"unknown distortion {kind!r}; known: {', '.join(DISTORTIONS)}")


def distort_mixed(
    x: torch.Tensor, kinds: torch.Tensor, names: tuple[str, ...], gen: torch.Generator
) -> torch.Tensor:
    """Distort each image of an already translated batch by its own kind: kinds is a (B,) long
    tensor of indices into names. Each kind is computed for the images that use it only."""
    if len(kinds) and not 0 <= int(kinds.min()) <= int(kinds.max()) < len(names):
        raise ValueError(
            f"distortion indices must be in [0, {len(names)}), got {kinds.min().item()}..{kinds.max().item()}"
        )
    out = torch.empty_like(x)
    for i, name in enumerate(names):
        sel = kinds == i
        if sel.any():
            out[sel] = distort(x[sel], name, gen)
    return out
