"""A drawn or uploaded picture that looks like no digit gets a plain warning beside the answer, on
the Denoise tab and the neurons tab; a digit gets none."""

import pytest
import torch
from gradio_client import handle_file
from PIL import Image, ImageDraw

from explorer import familiar, runtime

pytestmark = pytest.mark.skipif(
    not all(runtime.checkpoint_path(n).exists() for n in ("vae", "denoiser", "cluster_ae")),
    reason="needs the vae, denoiser and cluster_ae checkpoints",
)
WARNING = "looks unlike any digit the models know"


def star(tmp_path) -> str:
    """Three crossing strokes, dark on white: ink, but no digit."""
    page = Image.new("L", (200, 200), 255)
    draw = ImageDraw.Draw(page)
    for line in [(20, 20, 180, 180), (20, 180, 180, 20), (100, 10, 100, 190)]:
        draw.line(line, fill=0, width=10)
    page.save(tmp_path / "star.png")
    return handle_file(str(tmp_path / "star.png"))


def digit(tmp_path, index: int = 3) -> str:
    Image.fromarray(255 - runtime.test_set().images[index].numpy()).resize((140, 140)).save(
        tmp_path / "d.png"
    )
    return handle_file(str(tmp_path / "d.png"))


def test_test_digits_are_familiar_and_a_scribble_is_not():
    scores = familiar.test_scores("vae")
    assert scores.shape == (10000,) and torch.all(scores[1:] >= scores[:-1])  # sorted
    x = runtime.test_set().images[:200].float().div(255)[:, None]
    flagged = sum(bool(familiar.remark(img)) for img in x)
    assert flagged <= 2  # by its definition the threshold flags 0.1 % of the test digits
    assert familiar.remark(torch.rand(1, 28, 28))  # noise
    assert "unsure" in familiar.remark(x[0], top=0.3) and familiar.remark(x[0], top=0.9) == ""


def test_the_denoise_tab_warns_about_a_picture_that_is_no_digit(client, tmp_path):
    args = ("translate", 14, 0.5, 0)
    assert WARNING in client.predict(star(tmp_path), *args, api_name="/denoise_upload")[5]
    assert WARNING not in client.predict(digit(tmp_path), *args, api_name="/denoise_upload")[5]


def test_the_neurons_tab_warns_about_a_picture_that_is_no_digit(client, tmp_path):
    assert WARNING in client.predict("cluster_ae", star(tmp_path), api_name="/neurons_upload")[2]
    text = client.predict("cluster_ae", digit(tmp_path), api_name="/neurons_upload")[2]
    assert WARNING not in text and "of the softmax over the ten" in text
