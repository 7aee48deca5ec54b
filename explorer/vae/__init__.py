"""VAE tab: sample from the prior, interpolate between digits, walk the 2-d latent plane, move the
latent with sliders, reconstruct a digit. Every answer is one small batch through a decoder.

handlers.py computes (each handler returns a named result), layout.py lays the tab out and routes
those results to its components."""

from .handlers import (
    MANIFOLD,
    METHODS,
    MODEL,
    MODELS,
    N_SLIDERS,
    SLIDER_RANGE,
    _test_latents,  # the tests read a VAE's cached test latents
    decode_point,
    first_view,
    interpolate,
    lerp,
    manifold,
    manifold_clicked,
    other_views,
    reconstruct,
    reroll,
    sample,
    scores,
    slerp,
    slide,
    slider_dims,
    slider_labels,
    slider_start,
    vae_interpolate,
    vae_interpolate_drawing,
    vae_reconstruct,
    vae_reconstruct_drawing,
    warm,
)
from .layout import build

__all__ = [
    "MANIFOLD",
    "METHODS",
    "MODEL",
    "MODELS",
    "N_SLIDERS",
    "SLIDER_RANGE",
    "decode_point",
    "first_view",
    "interpolate",
    "lerp",
    "manifold",
    "manifold_clicked",
    "other_views",
    "reconstruct",
    "reroll",
    "sample",
    "scores",
    "slerp",
    "slide",
    "slider_dims",
    "slider_labels",
    "slider_start",
    "vae_interpolate",
    "vae_interpolate_drawing",
    "vae_reconstruct",
    "vae_reconstruct_drawing",
    "warm",
    "_test_latents",
    "build",
]
