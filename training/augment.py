"""Train-time augmentations for handwriting that is not MNIST's: pen width, resolution, blur, slant.

Every MNIST digit was written with one kind of pen, scanned at one resolution and anti-aliased the
same way; a drawing made with a mouse or a finger, a photo of paper or a scan of a form differs in
exactly those ways. Each augmentation is a vectorised function of a batch (B, 1, 28, 28) in [0, 1]
and a torch.Generator, like training/distortions.py. `augment` applies each one to a random share
of the batch, before the translation and the distortion, so the clean target of the reconstruction
is the augmented digit.
"""

import math

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("thickness", "resample", "blur", "rotate", "elastic")


def _pick(x: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(len(x), generator=gen, device=x.device) < share


def thickness(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Thicker (grey dilation, a 3x3 max) or thinner (grey erosion, a 3x3 min) strokes, half each,
    blended with the original by a random amount so that widths in between occur too."""
    thick = F.max_pool2d(x, 3, stride=1, padding=1)
    # erosion pads with 1 so the frame's edge does not eat ink; MNIST has no ink there anyway
    thin = -F.max_pool2d(F.pad(-x, (1, 1, 1, 1), value=-1.0), 3, stride=1)
    B = len(x)
    grow = torch.rand(B, 1, 1, 1, generator=gen, device=x.device) < 0.5
    amount = 0.4 + 0.6 * torch.rand(B, 1, 1, 1, generator=gen, device=x.device)
    target = torch.where(grow, thick, thin)
    return x + amount * (target - x)


def resample(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Down to a random 10..20-pixel side and back up: the blocky or smeared look of a small scan or
    a photo taken from afar. One size per batch call keeps it vectorised; the caller's subsets vary."""
    side = int(torch.randint(10, 21, (1,), generator=gen, device=x.device))
    small = F.interpolate(x, size=(side, side), mode="area")
    mode = "nearest" if torch.rand(1, generator=gen, device=x.device) < 0.3 else "bilinear"
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(small, size=x.shape[-2:], mode=mode, **kwargs).clamp(0, 1)


def blur(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A Gaussian blur of random width (sigma 0.5..1.3 pixels), its peak renormalised so a blurred
    stroke is not just fainter: scans and photos lose sharpness, not ink."""
    B = len(x)
    sigma = 0.5 + 0.8 * torch.rand(B, generator=gen, device=x.device)
    r = torch.arange(-3, 4, device=x.device, dtype=x.dtype)
    k = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)  # (B, 7), one separable kernel per image
    # grouped convolution: image b is filtered by kernel b
    y = F.conv2d(x.transpose(0, 1), k[:, None, :, None], padding=(3, 0), groups=B)
    y = F.conv2d(y, k[:, None, None, :], padding=(0, 3), groups=B).transpose(0, 1)
    peak = x.amax((2, 3), keepdim=True) / y.amax((2, 3), keepdim=True).clamp_min(1e-6)
    return (y * peak).clamp(0, 1)


def _warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotate(x: torch.Tensor, gen: torch.Generator, degrees: float = 15.0) -> torch.Tensor:
    """A random rotation of up to +-degrees with a little shear and scale (0.9..1.1): slant and size
    vary between writers far more than within MNIST."""
    B = len(x)
    u = torch.rand(B, 3, generator=gen, device=x.device) * 2 - 1
    a = u[:, 0] * math.radians(degrees)
    shear, scale = 0.15 * u[:, 1], 1 + 0.1 * u[:, 2]
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear, torch.zeros_like(a)], 1),
            torch.stack([sin, cos, torch.zeros_like(a)], 1),
        ],
        1,
    )  # (B, 2, 3): the sampling grid, so it maps output to input coordinates
    return _warp(x, F.affine_grid(theta, list(x.shape), align_corners=False))


def elastic(x: torch.Tensor, gen: torch.Generator, alpha: float = 2.0, sigma: float = 4.0) -> torch.Tensor:
    """Simard et al.'s elastic distortion: a random displacement field, smoothed by a Gaussian of
    sigma pixels and scaled so a pixel moves about alpha pixels at most: the wobble of a hand."""
    B, _, H, W = x.shape
    field = torch.rand(B, 2, H, W, generator=gen, device=x.device) * 2 - 1
    r = torch.arange(-8, 9, device=x.device, dtype=x.dtype)
    k = torch.exp(-(r**2) / (2 * sigma**2))
    k = k / k.sum()
    field = F.conv2d(field.reshape(-1, 1, H, W), k[None, None, :, None], padding=(8, 0))
    field = F.conv2d(field, k[None, None, None, :], padding=(0, 8)).reshape(B, 2, H, W)
    field = field / field.abs().amax((1, 2, 3), keepdim=True).clamp_min(1e-6) * alpha
    ys, xs = torch.meshgrid(
        torch.linspace(-1 + 1 / H, 1 - 1 / H, H, device=x.device),
        torch.linspace(-1 + 1 / W, 1 - 1 / W, W, device=x.device),
        indexing="ij",
    )
    base = torch.stack([xs, ys], -1)[None]  # (1, H, W, 2) in grid_sample's (x, y) order
    shift = torch.stack([field[:, 0] * 2 / W, field[:, 1] * 2 / H], -1)
    return _warp(x, base + shift)


FUNCTIONS = {f.__name__: f for f in (thickness, resample, blur, rotate, elastic)}


def augment(x: torch.Tensor, shares: dict[str, float], gen: torch.Generator) -> torch.Tensor:
    """Apply each named augmentation to its share of the batch (independent draws, so an image may
    get several), in a fixed order: geometry first, then pen width, then the scan's resolution and
    blur. Values stay in [0, 1]."""
    unknown = set(shares) - set(FUNCTIONS)
    if unknown:
        raise ValueError(f"unknown augmentation {sorted(unknown)}; known: {', '.join(AUGMENTATIONS)}")
    out = x
    for name in ("rotate", "elastic", "thickness", "resample", "blur"):
        share = shares.get(name, 0.0)
        if share <= 0:
            continue
        sel = _pick(out, share, gen)
        if sel.any():
            out = out.clone() if out is x else out
            out[sel] = FUNCTIONS[name](out[sel], gen)
    return out
