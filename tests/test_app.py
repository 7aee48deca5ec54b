"""The app through gradio_client against a live server: every endpoint with good and bad input."""

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from refusals import assert_refused

from explorer import inputs, runtime
from training import checkpoint

pytestmark = pytest.mark.skipif(
    not runtime.checkpoint_path("denoiser").exists(), reason="no denoiser checkpoint"
)


def test_digit(index: int) -> tuple[np.ndarray, int]:
    test = runtime.test_set()
    return test.images[index].numpy(), int(test.labels[index])


test_digit.__test__ = False  # a helper, not a test


def check_result(result, label: int | None = None):
    clean, noisy, recon, p_noisy, p_recon, summary = result
    for path in (clean, noisy, recon):
        with Image.open(path) as im:
            assert im.size == (280, 280)  # 28x28 upscaled x10, nearest neighbour
    for plot in (p_noisy, p_recon):
        plot = json.loads(plot) if isinstance(plot, str) else plot
        digits = [row[0] for row in plot["data"]]
        probs = [row[1] for row in plot["data"]]
        assert digits == [str(d) for d in range(10)]
        assert abs(sum(probs) - 1) < 1e-3
    if label is not None:
        assert f"True label: {label}" in summary
        # the clean digit of the test set is classified correctly by the committed model
        assert f"prediction on the clean image **{label}**" in summary
    return summary


@pytest.mark.parametrize("distortion", ["translate", "rows_cols", "clamp", "fractional"])
def test_denoise_test_digit(client, distortion):
    _, label = test_digit(0)
    check_result(client.predict(0, distortion, 14, 0.5, 0, api_name="/denoise_test_digit"), label)


def test_same_seed_same_answer(client):
    a = client.predict(5, "clamp", 14, 0.5, 7, api_name="/denoise_test_digit")
    b = client.predict(5, "clamp", 14, 0.5, 7, api_name="/denoise_test_digit")
    assert a[5] == b[5]
    assert np.array_equal(np.asarray(Image.open(a[1])), np.asarray(Image.open(b[1])))


def test_random_index(client):
    values = {client.predict(api_name="/random_index") for _ in range(5)}
    assert all(0 <= v < 10000 for v in values)


def upload_of(img: np.ndarray, tmp_path) -> str:
    """A black-on-white photo-like upload of a test digit, 5x larger than MNIST: must be inverted and
    shrunk."""
    path = tmp_path / "digit.png"
    Image.fromarray(255 - img).resize((140, 140), Image.BILINEAR).convert("RGB").save(path)
    return handle_file(str(path))


def sketch_of(img: np.ndarray, tmp_path) -> dict:
    """What the Sketchpad sends for a test digit drawn on it: RGBA, opaque white canvas, black ink."""
    rgba = np.full((280, 280, 4), 255, np.uint8)
    ink = np.asarray(Image.fromarray(img).resize((280, 280), Image.BILINEAR)) > 100
    rgba[ink, :3] = 0
    path = tmp_path / "sketch.png"
    Image.fromarray(rgba).save(path)
    return {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}


def test_upload(client, tmp_path):
    img, label = test_digit(1)
    summary = check_result(
        client.predict(upload_of(img, tmp_path), "translate", 14, 0.5, 0, api_name="/denoise_upload")
    )
    assert f"prediction on the clean image **{label}**" in summary


def test_drawing(client, tmp_path):
    img, label = test_digit(2)
    summary = check_result(
        client.predict(sketch_of(img, tmp_path), "translate", 14, 0.5, 0, api_name="/denoise_drawing")
    )
    assert f"prediction on the clean image **{label}**" in summary


def test_drawing_from_the_canvas_store(client, tmp_path):
    """The page may send a drawing ahead to its canvas's store and then only its key: the handler
    reads it from there, once."""
    from gradio.components.image_editor import EditorDataBlobs

    img, label = test_digit(2)
    png = Path(sketch_of(img, tmp_path)["composite"]["path"]).read_bytes()
    inputs._CANVASES[0].blob_storage["k1"] = EditorDataBlobs(background=None, layers=[], composite=png)
    sent = ({"id": "k1"}, "translate", 14, 0.5, 0)
    summary = check_result(client.predict(*sent, api_name="/denoise_drawing"))
    assert f"prediction on the clean image **{label}**" in summary
    with pytest.raises(AppError, match="did not arrive"):
        client.predict(*sent, api_name="/denoise_drawing")


def bad_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "blank.png")
    huge = tmp_path / "huge.png"
    Image.new("1", (10000, 10000)).save(huge)  # compresses to a few kB, decodes to 100 megapixels
    full = tmp_path / "digit.png"
    Image.fromarray(test_digit(0)[0]).save(full)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(full.read_bytes()[:60])
    return {"text": text, "blank": tmp_path / "blank.png", "huge": huge, "truncated": truncated}


def test_bad_input_gets_message_and_server_survives(client, tmp_path):
    expectations = {
        "text": "Not an image",
        "blank": "empty",
        "huge": "too large",
        "truncated": "Not an image",
    }
    for name, path in bad_files(tmp_path).items():
        with pytest.raises(AppError, match=expectations[name]):
            client.predict(handle_file(str(path)), "clamp", 14, 0.5, 0, api_name="/denoise_upload")
    empty = {"background": None, "layers": [], "composite": None}
    with pytest.raises(AppError, match="empty"):
        client.predict(empty, "clamp", 14, 0.5, 0, api_name="/denoise_drawing")
    for args in [
        (-1, "clamp", 14, 0.5, 0),
        (10000, "clamp", 14, 0.5, 0),
        (0, "nope", 14, 0.5, 0),
        (0, "rows_cols", 99, 0.5, 0),
        (0, "clamp", 14, -1, 0),
        (0, "clamp", 14, 0.5, -5),
    ]:
        with pytest.raises(AppError):
            client.predict(*args, api_name="/denoise_test_digit")
    # still serving, and still right
    check_result(client.predict(0, "clamp", 14, 0.5, 0, api_name="/denoise_test_digit"), test_digit(0)[1])


def test_handlers_reject_nan_without_server():
    import gradio as gr

    from explorer import denoise

    with pytest.raises(gr.Error, match="sigma must be a number from 0 to 2, got nan"):
        denoise.denoise_test_digit(0, "clamp", 14, float("nan"), 0)
    with pytest.raises(gr.Error, match="whole number"):
        denoise.denoise_test_digit(float("nan"), "clamp", 14, 0.5, 0)
    with pytest.raises(gr.Error, match="NaN"):
        denoise.denoise_drawing(np.full((28, 28), np.nan, np.float32), "clamp", 14, 0.5, 0)


def test_summary_names_the_network_with_its_header_figures(client):
    from training.checkpoint import read_metadata

    summary = client.predict(0, "clamp", 14, 0.5, 0, api_name="/denoise_test_digit")[5]
    metrics = json.loads(read_metadata(runtime.checkpoint_path("denoiser"))["metrics"])
    assert f"Network `denoiser`: {metrics['parameters']:,} parameters" in summary
    assert f"{metrics['acc_noisy']:.2f} % distorted" in summary


def test_unknown_network_is_refused(client):
    with pytest.raises(AppError, match="Unknown network 'resnet'"):
        client.predict(0, "clamp", 14, 0.5, 0, "resnet", api_name="/denoise_test_digit")


@pytest.mark.skipif(not runtime.checkpoint_path("denoiser_ref").exists(), reason="no denoiser_ref checkpoint")
def test_reference_network_answers(client):
    img, label = test_digit(0)
    summary = check_result(
        client.predict(0, "translate", 14, 0.5, 0, "denoiser_ref", api_name="/denoise_test_digit"), label
    )
    assert "Network `denoiser_ref`: 2,062,859 parameters" in summary


def test_network_choice_lists_only_checkpoints_that_exist(tmp_path, monkeypatch):
    from explorer import denoise

    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", tmp_path)
    assert [key for _, key in denoise.networks()] == ["denoiser"]  # the tab's own, even when missing
    (tmp_path / "denoiser_ref.safetensors").write_bytes(b"")
    assert [key for _, key in denoise.networks()] == ["denoiser", "denoiser_ref"]
    (tmp_path / "denoiser_fashion.safetensors").write_bytes(b"")
    assert [key for _, key in denoise.networks()] == ["denoiser", "denoiser_ref", "denoiser_fashion"]


def sweep_shares(plot: dict) -> dict[str, dict[float, float]]:
    """A sweep's plot as {input: {strength: read correctly %}}."""
    shares = {}
    for row in plot["data"]:
        r = dict(zip(plot["columns"], row))
        shares.setdefault(r["input"], {})[r["strength"]] = r["read correctly %"]
    return shares


@pytest.mark.parametrize("distortion", ["rows_cols", "clamp", "fractional"])
def test_sweep_reads_the_digit_at_strength_zero_and_loses_it_at_the_top(client, distortion):
    from explorer import denoise

    shares = sweep_shares(client.predict(0, distortion, 0, api_name="/denoise_sweep"))
    strengths = denoise.SWEEPS[distortion][1]
    for kind in ("distorted", "reconstructed"):
        share = shares[kind]
        assert sorted(share) == sorted(strengths)
        assert all(0 <= v <= 100 for v in share.values())
        # undistorted, the committed net reads test digit 0 in every translation; at the strongest
        # setting (every line removed, or sigma 1.5) it cannot read all of them
        assert share[strengths[0]] == 100, kind
        assert share[strengths[-1]] < 100, kind


def test_sweep_repeats_under_its_seed():
    from explorer import denoise

    a = denoise.denoise_sweep(3, "clamp", 11)
    assert a.equals(denoise.denoise_sweep(3, "clamp", 11))
    assert len(a) == 2 * len(denoise.SWEEPS["clamp"][1])


def test_sweep_refuses_what_it_cannot_sweep(client):
    assert_refused(client, "/denoise_sweep", (0, "translate", 0), "no strength to sweep")
    assert_refused(
        client, "/denoise_sweep", (10000, "clamp", 0), "test-set index must be a whole number from 0 to 9999"
    )
    assert_refused(client, "/denoise_sweep", (0, "clamp", -1), "seed must be")
    assert_refused(client, "/denoise_sweep", (0, "clamp", 0, "resnet"), "Unknown network 'resnet'")


@pytest.mark.parametrize("source", ["drawing", "upload"])
def test_sweep_of_a_drawing_or_an_upload(client, tmp_path, source):
    """Without a true label the sweep scores against the network's reading of the undistorted
    picture: every translation of it is read so, and the strongest noise defeats some draws."""
    from explorer import denoise

    img, _ = test_digit(2)
    value = sketch_of(img, tmp_path) if source == "drawing" else upload_of(img, tmp_path)
    shares = sweep_shares(client.predict(value, "clamp", 0, api_name=f"/denoise_sweep_{source}"))
    strengths = denoise.SWEEPS["clamp"][1]
    for kind in ("distorted", "reconstructed"):
        share = shares[kind]
        assert sorted(share) == strengths
        assert share[0.0] == 100, kind
        assert share[1.5] < 100, kind


def test_sweep_of_a_drawing_or_an_upload_refuses_what_it_cannot_sweep(client, tmp_path):
    assert_refused(
        client,
        "/denoise_sweep_drawing",
        ({"background": None, "layers": [], "composite": None}, "clamp", 0),
        "The image is empty: draw a digit",
    )
    assert_refused(client, "/denoise_sweep_upload", (None, "clamp", 0), "Upload an image of a digit first")
    text = bad_files(tmp_path)["text"]
    assert_refused(client, "/denoise_sweep_upload", (handle_file(str(text)), "clamp", 0), "Not an image")
    img, _ = test_digit(2)
    assert_refused(
        client, "/denoise_sweep_drawing", (sketch_of(img, tmp_path), "translate", 0), "no strength to sweep"
    )
    assert_refused(
        client,
        "/denoise_sweep_upload",
        (upload_of(img, tmp_path), "clamp", 0, "resnet"),
        "Unknown network 'resnet'",
    )


# --- the network trained on Fashion-MNIST ---------------------------------------------------------

needs_fashion = pytest.mark.skipif(
    not runtime.checkpoint_path("denoiser_fashion").exists(), reason="no denoiser_fashion checkpoint"
)


@needs_fashion
def test_fashion_network_reads_fashion_test_images(client):
    """The index picks a Fashion-MNIST test image, answers speak of clothes, and the clean images are
    read about as well as the card says (its clean accuracy is near 90 %, so 20 of 24 at least)."""
    from training.data import CLASS_NAMES

    names, test = CLASS_NAMES["fashion"], runtime.test_set("fashion")
    right = 0
    for index in range(24):
        *_, p_noisy, p_recon, summary = client.predict(
            index, "translate", 14, 0.5, 0, "denoiser_fashion", api_name="/denoise_test_digit"
        )
        label = names[int(test.labels[index])]
        assert f"True label: {label}" in summary
        right += f"prediction on the clean image **{label}**" in summary
        for plot in (p_noisy, p_recon):
            plot = json.loads(plot) if isinstance(plot, str) else plot
            assert [row[0] for row in plot["data"]] == list(names)
    assert right >= 20, right
    assert "Network `denoiser_fashion`" in summary


@needs_fashion
def test_fashion_upload_is_laid_out_as_fashion_mnist(client, tmp_path):
    """A photo of Fashion-MNIST's first test image (an ankle boot, dark on white, 5x) is read as one."""
    img = runtime.test_set("fashion").images[0].numpy()
    summary = client.predict(
        upload_of(img, tmp_path), "translate", 14, 0.5, 0, "denoiser_fashion", api_name="/denoise_upload"
    )[5]
    assert "prediction on the clean image **Ankle boot**" in summary


@needs_fashion
def test_fashion_sweep(client):
    shares = sweep_shares(client.predict(0, "clamp", 0, "denoiser_fashion", api_name="/denoise_sweep"))
    assert shares["distorted"][0.0] == 100 and shares["distorted"][1.5] < 100


def test_your_digit_travels_between_tabs(tmp_path):
    """A drawing or an upload kept as the visitor's digit gives each tab the answer the drawing
    itself gives; an unreadable canvas keeps the old digit; none yet gets a message."""
    from explorer import denoise, neurons
    from explorer.vae import vae_reconstruct_drawing, vae_reconstruct_yours

    img, label = test_digit(3)
    sketch = {
        "background": None,
        "layers": [],
        "composite": {"path": sketch_of(img, tmp_path)["composite"]["path"]},
    }
    mine = inputs.keep_drawing(sketch)
    assert np.asarray(mine).shape == (28, 28)
    assert inputs.keep_upload(upload_of(img, tmp_path)["path"]) is not None
    assert isinstance(
        inputs.keep_drawing({"background": None, "layers": [], "composite": None}), type(gr.skip())
    )
    summary = denoise.denoise_yours(mine, "clamp", 14, 0.5, 0).summary
    assert summary == denoise.denoise_drawing(sketch, "clamp", 14, 0.5, 0).summary
    assert f"prediction on the clean image **{label}**" in summary
    assert vae_reconstruct_yours("vae", mine).text == vae_reconstruct_drawing("vae", sketch).text
    if runtime.checkpoint_path("cluster_ae").exists():
        assert (
            neurons.neurons_yours("cluster_ae", mine).winner
            == neurons.neurons_drawing("cluster_ae", sketch).winner
        )
    assert np.asarray(inputs.picture_of(mine)).shape == (112, 112)
    with pytest.raises(gr.Error, match="No digit of yours yet"):
        denoise.denoise_yours(None, "clamp", 14, 0.5, 0)
