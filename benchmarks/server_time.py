"""Server time of the explorer's and the VAE tab's handlers, and of the Denoise tab's strength
sweep: each called in-process (what the server spends on an answer, without the network and the
client), median and worst of N calls after one warm-up call, with one torch thread as the app serves.

    .venv/bin/python benchmarks/server_time.py [--calls 20] [--tab live]

Targets: switching model, projection or colouring, and placing a drawn digit, <= 300 ms (the
explorer); every VAE action well under a second; a strength sweep (16 strengths x 16 draws through
the denoiser in one batch) under a second; the answer to a finished stroke on each tab's canvas (its
live event: the handler reads the canvas's PNG file as the page sends it), <= 300 ms.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import table
from PIL import Image

from explorer import denoise, latents, neurons, runtime, vae


def timed(fn, args, calls: int) -> tuple[float, float]:
    fn(*args)  # warm-up: loads the model, the map and the test set once
    laps = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn(*args)
        laps.append(1000 * (time.perf_counter() - t0))
    return statistics.median(laps), max(laps)


def uncached_view(name, proj, dim, colour, digits="test"):
    """A view whose points are not in the JSON cache yet (the first visit of that combination)."""
    latents._points_json.cache_clear()
    return latents.view(name, proj, dim, colour, -1, digits)


def first_film(name):
    """Switching to a model's film the first time: its frames read and written for the browser."""
    for cached in (latents.film._load, latents.film._bounds, latents.film.film_file, latents._points_json):
        cached.cache_clear()
    latents.film.film_file(name).unlink(missing_ok=True)
    return latents.view(name, "film", 2, "label", -1)


def canvas_file(digit: torch.Tensor, folder: Path) -> dict:
    """What a canvas's live event carries for `digit` drawn on it: the record of a 280x280 RGBA
    PNG, black ink on a transparent canvas."""
    ink = np.asarray(Image.fromarray((255 * digit[0].numpy()).astype(np.uint8)).resize((280, 280)))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = ink
    Image.fromarray(rgba).save(folder / "canvas.png")
    return {"background": None, "layers": [], "composite": {"path": str(folder / "canvas.png")}}


def live_cases(sketch: dict, names: list[str]) -> list:
    """Each tab's handler of a finished stroke (explorer.inputs.on_stroke), where its models exist."""
    have = {n for n in ("denoiser", "vae", "cluster_ae") if runtime.checkpoint_path(n).exists()}
    cases = []
    if "denoiser" in have:
        cases.append(
            ("live: denoise a stroke", "live", denoise.denoise_drawing, (sketch, "clamp", 14, 0.5, 0))
        )
    if "vae" in have:
        cases += [
            ("live: VAE reconstruct a stroke", "live", vae.vae_reconstruct_drawing, ("vae", sketch)),
            (
                "live: VAE interpolate from a stroke",
                "live",
                vae.vae_interpolate_drawing,
                ("vae", sketch, 1, "slerp", 10),
            ),
        ]
    if "autoencoder" in names:
        cases.append(
            (
                "live: place a stroke on the map",
                "live",
                latents.explorer_drawing,
                ("autoencoder", "umap", 2, "label", sketch),
            )
        )
    if "cluster_ae" in have:
        cases.append(
            ("live: read the neurons of a stroke", "live", neurons.neurons_drawing, ("cluster_ae", sketch))
        )
    return cases


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--tab", choices=["explorer", "vae", "denoise", "live"], help="only this tab's handlers")
    args = p.parse_args()
    calls = args.calls
    torch.set_num_threads(1)
    names = latents.available()
    digit = runtime.test_set().images[0].float().div(255).reshape(1, 28, 28)
    cases = []
    for name in names:
        proj = "umap" if name != "vae2d" else "latent"
        cases += [
            (
                f"{name}: switch view (first visit)",
                "explorer",
                uncached_view,
                (name, proj, 3 if name != "vae2d" else 2, "pred"),
            ),
            (f"{name}: switch view (visited before)", "explorer", latents.view, (name, proj, 2, "label", -1)),
            (f"{name}: click a point", "explorer", latents.point_view, (name, proj, 2, "label", 42)),
            (f"{name}: place a drawn digit", "explorer", latents.placed, (name, proj, 2, "label", digit)),
        ]
    if "autoencoder" in names:
        cases += [
            (
                "autoencoder: lasso 500 points",
                "explorer",
                latents.selection,
                ("autoencoder", "umap", 2, list(range(500))),
            ),
            (
                "autoencoder: export HTML",
                "explorer",
                latents.export_html,
                ("autoencoder", "umap", 2, "label"),
            ),
        ]
    if {"autoencoder", "vae"} <= set(names):  # two models side by side (neighbour lists warmed up)
        latents.knn("autoencoder"), latents.knn("vae")
        cases.append(
            (
                "autoencoder vs vae: compare (new pair)",
                "explorer",
                lambda *a: (latents.agreement.cache_clear(), latents.compare(*a)),
                ("autoencoder", "vae", "umap", 2, "label", "agreement", 5),
            )
        )
    for name in [n for n in names if latents.film.has_film(n)]:  # a model's training as a film
        cases += [
            (f"{name}: switch to its training film (first visit)", "explorer", first_film, (name,)),
            (
                f"{name}: click a point of its film",
                "explorer",
                latents.point_view,
                (name, "film", 2, "label", 42),
            ),
        ]
    if "autoencoder" in names and latents.suspects.has_scores():  # the data-quality lens
        cases += [
            (
                "autoencoder: colour by suspicion",
                "explorer",
                uncached_view,
                ("autoencoder", "umap", 2, "suspicion"),
            ),
            (
                "autoencoder (70k): colour by suspicion",
                "explorer",
                uncached_view,
                ("autoencoder", "umap", 2, "suspicion", "all"),
            ),
            ("rank the 100 test suspects", "explorer", latents.suspects.suspects, ("test",)),
            ("rank the 100 training suspects", "explorer", latents.suspects.suspects, ("train",)),
        ]
    for name in [n for n in names if latents.has_all(n)]:  # the maps of all 70,000 digits
        proj = "umap"
        cases += [
            (
                f"{name} (70k): switch view (first visit)",
                "explorer",
                uncached_view,
                (name, proj, 2, "pred", "all"),
            ),
            (
                f"{name} (70k): click a training digit",
                "explorer",
                latents.point_view,
                (name, proj, 2, "label", 10_042, "all"),
            ),
            (
                f"{name} (70k): place a drawn digit",
                "explorer",
                latents.placed,
                (name, proj, 2, "label", digit, "all"),
            ),
        ]
    if latents.has_all("autoencoder"):
        cases += [
            (
                "autoencoder (70k): export HTML",
                "explorer",
                latents.export_html,
                ("autoencoder", "umap", 2, "label", "all"),
            )
        ]
    if all(runtime.checkpoint_path(n).exists() for n in ("vae", "vae2d")):
        cases += [
            ("vae: 8x8 prior samples", "vae", vae.sample, ("vae", 0, 1.0, 8)),
            ("vae: interpolate 10 steps + GIF", "vae", vae.vae_interpolate, ("vae", 0, 1, "slerp", 10)),
            ("vae2d: 15x15 manifold", "vae", vae.manifold, (3.0, 15)),
            ("vae2d: decode a clicked point", "vae", vae.decode_point, (0.5, -1.0)),
            ("vae: move a slider", "vae", vae.slide, ("vae", 3, *[0.1] * vae.N_SLIDERS)),
            ("vae: reconstruct", "vae", vae.vae_reconstruct, ("vae", 3)),
        ]
    if runtime.checkpoint_path("denoiser").exists():
        cases += [
            (f"denoiser: sweep {d}", "denoise", denoise.denoise_sweep, (0, d, 0)) for d in denoise.SWEEPS
        ]
    folder = Path(tempfile.mkdtemp())
    cases += live_cases(canvas_file(digit, folder), names)
    target = {"explorer": 300, "vae": 1000, "denoise": 1000, "live": 300}
    rows = []
    for label, tab, fn, fn_args in cases:
        if args.tab and tab != args.tab:
            continue
        median, worst = timed(fn, fn_args, calls)
        rows.append(
            [
                label,
                f"{median:.1f}",
                f"{worst:.1f}",
                f"<= {target[tab]}",
                "yes" if median <= target[tab] else "NO",
            ]
        )
    print(table(["handler", "median ms", "worst ms", "target ms", "met"], rows))
    print(f"\n{calls} calls each; device {runtime.device()}, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
