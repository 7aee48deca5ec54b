"""The VAE tab: its pure pieces, and every endpoint through gradio_client on the committed checkpoints."""

import numpy as np
import pytest
import torch
from PIL import Image
from refusals import assert_refused

from explorer import runtime, vae
from training.checkpoint import read_metadata, save_checkpoint
from training.evaluate import judged_samples, sample_quality
from training.models import build_model


def test_slerp_and_lerp_end_at_their_inputs():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=g), torch.randn(16, generator=g)
    t = torch.linspace(0, 1, 7)
    for path in (vae.slerp(a, b, t), vae.lerp(a, b, t)):
        assert (
            path.shape == (7, 16)
            and torch.allclose(path[0], a, atol=1e-5)
            and torch.allclose(path[-1], b, atol=1e-5)
        )
    # slerp keeps the norm of unit vectors; the straight line sags in the middle
    ua, ub = a / a.norm(), b / b.norm()
    assert torch.allclose(vae.slerp(ua, ub, t).norm(dim=1), torch.ones(7), atol=1e-5)
    assert vae.lerp(ua, ub, t).norm(dim=1)[3] < 0.99
    assert torch.allclose(
        vae.slerp(a, a, t), a.expand(7, 16), atol=1e-5
    )  # parallel ends: no division by zero


def test_sample_quality_reads_a_classifier():
    class Always3(torch.nn.Module):
        def classify(self, x):
            return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float() * 10

    q = sample_quality(build_model("vae2d"), Always3(), n=50)
    assert q["samples_class_counts"] == [0, 0, 0, 50, 0, 0, 0, 0, 0, 0]
    assert q["samples_confident_pct"] == 100.0 and q["samples_class_entropy"] == 0.0


def test_judged_samples_name_the_judge_checkpoint(tmp_path):
    judge = save_checkpoint(
        build_model("denoiser"),
        tmp_path / "denoiser.safetensors",
        {},
        command="test",
        device="cpu",
        wall_time_s=0.0,
        dataset="none",
    )
    q = judged_samples(build_model("vae2d"), judge)
    assert q["samples_classifier"] == f"denoiser.safetensors (created {read_metadata(judge)['created']})"
    assert sum(q["samples_class_counts"]) == q["samples_n"] == 1000
    assert (
        judged_samples(build_model("vae2d"), tmp_path / "missing.safetensors") == {}
    )  # no judge, no figures


NAMES = ["vae", "vae2d"]
trained = pytest.mark.skipif(
    not all(runtime.checkpoint_path(n).exists() for n in NAMES), reason="no VAE checkpoints"
)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=float)


@trained
@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_deterministic_under_a_seed(client, name):
    a = pixels(client.predict(name, 7, 1.0, 4, api_name="/vae_sample"))
    b = pixels(client.predict(name, 7, 1.0, 4, api_name="/vae_sample"))
    c = pixels(client.predict(name, 8, 1.0, 4, api_name="/vae_sample"))
    assert a.shape == (4 * 56, 4 * 56) and np.array_equal(a, b) and not np.array_equal(a, c)
    zero = pixels(
        client.predict(name, 7, 0.0, 2, api_name="/vae_sample")
    )  # temperature 0: the decoded origin 4 times
    assert np.array_equal(zero[:56, :56], zero[56:, 56:])


@trained
def test_interpolation_strip_and_gif(client):
    strip, gif = client.predict("vae", 0, 1, "slerp", 6, api_name="/vae_interpolate")
    assert Image.open(strip).size == (6 * 84, 84)
    with Image.open(gif) as g:
        assert g.n_frames == 2 * 6 - 2  # there and back
    # the ends are the reconstructions of the two test digits
    _, recon, _ = client.predict("vae", 1, api_name="/vae_reconstruct")
    end = pixels(strip)[:, -84:]
    small = np.asarray(Image.open(recon).convert("L").resize((84, 84), Image.NEAREST), float)
    assert np.abs(end - small).max() <= 2


@trained
def test_manifold_and_a_point_of_it(client):
    plane = pixels(client.predict(3, 5, api_name="/vae_manifold"))
    assert plane.shape == (5 * 56, 5 * 56)
    image, text = client.predict(0.25, -1.5, api_name="/vae_decode_point")
    assert text == "z = (0.25, -1.50)" and Image.open(image).size == (224, 224)


@trained
def test_sliders_start_from_the_encoded_digit(client):
    values = client.predict("vae2d", 3, api_name="/vae_encode")
    image = runtime.test_set().images[3].float().div(255).reshape(1, 1, 28, 28)
    mu = runtime.model("vae2d").encode(image.to(runtime.device()))[0].tolist()
    assert np.allclose(values[:2], mu, atol=0.006)  # the sliders hold the posterior mean (2 decimals)
    at_mu = pixels(client.predict("vae2d", 3, *values[:2], 0, 0, 0, 0, 0, 0, api_name="/vae_slide"))
    moved = pixels(client.predict("vae2d", 3, -3.0, 3.0, 0, 0, 0, 0, 0, 0, api_name="/vae_slide"))
    # the sliders round the mean to 2 decimals: a few grey levels of 255 at most in the decoded digit
    assert np.abs(at_mu - pixels(values[-1])).max() <= 3 and np.abs(at_mu - moved).max() > 50


@trained
def test_a_large_latent_gets_sliders_on_its_most_used_dimensions(client):
    latents, _ = vae._test_latents("vae")
    dims = vae.slider_dims("vae")
    assert latents.shape[1] > vae.N_SLIDERS and len(set(dims)) == len(dims) == vae.N_SLIDERS
    spread = latents.var(0)
    assert spread[dims].min() >= spread[[d for d in range(latents.shape[1]) if d not in dims]].max()
    assert spread[dims].tolist() == sorted(spread[dims].tolist(), reverse=True)  # most used first
    values = client.predict("vae", 7, api_name="/vae_encode")
    image = runtime.test_set().images[7].float().div(255).reshape(1, 1, 28, 28)
    mu = runtime.model("vae").encode(image.to(runtime.device()))[0]
    assert np.allclose(values[: vae.N_SLIDERS], mu[dims].clamp(-4, 4).tolist(), atol=0.006)
    # the most used dimension changes the digit; the first slider moves it
    at_mu = pixels(client.predict("vae", 7, *values[: vae.N_SLIDERS], api_name="/vae_slide"))
    moved = pixels(
        client.predict(
            "vae", 7, -3.0 if values[0] > 0 else 3.0, *values[1 : vae.N_SLIDERS], api_name="/vae_slide"
        )
    )
    assert np.abs(at_mu - moved).max() > 50
    labels = vae.slider_labels("vae")
    assert labels[0]["label"].startswith(f"z{dims[0] + 1} ") and all(u["visible"] for u in labels)
    assert [u["visible"] for u in vae.slider_labels("vae2d")] == [True, True] + [False] * (vae.N_SLIDERS - 2)


BAD = [
    ("/vae_sample", ("nope", 0, 1.0, 4), "Unknown model|not in the list of choices"),
    ("/vae_sample", ("vae", -1, 1.0, 4), "whole number|less than minimum"),
    ("/vae_sample", ("vae", 0, 5.0, 4), "temperature|greater than maximum"),
    ("/vae_interpolate", ("vae", 0, 10_000, "slerp", 5), "whole number|greater than maximum"),
    ("/vae_interpolate", ("vae", 0, 1, "cubic", 5), "Unknown interpolation|not in the list of choices"),
    (
        "/vae_interpolate_drawing",
        ("vae", {"background": None, "layers": [], "composite": None}, 1, "slerp", 5),
        "empty",
    ),
    ("/vae_manifold", (9.0, 5), "range|greater than maximum"),
    ("/vae_decode_point", (99.0, 0), "z1 must be a number from -50 to 50"),
    ("/vae_slide", ("vae", 0, 9.0, 0, 0, 0, 0, 0, 0, 0), "slider|greater than maximum"),
]


@trained
@pytest.mark.parametrize("api, args, message", BAD)
def test_bad_input_gets_a_message(client, api, args, message):
    assert_refused(client, api, args, message)
