"""The Latent neurons tab through gradio_client: the matrix, cells, drawings, and bad input."""

import json

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from refusals import assert_refused

from explorer import runtime
from training import checkpoint
from training.checkpoint import read_metadata

NAMES = ["cluster_ae", "neuron_ae"]
pytestmark = pytest.mark.skipif(
    not all(runtime.checkpoint_path(n).exists() for n in NAMES), reason="no neuron checkpoints"
)


def header_metrics(name: str) -> dict:
    return json.loads(read_metadata(runtime.checkpoint_path(name))["metrics"])


def table(value) -> np.ndarray:
    """A Dataframe answer (headers + rows) -> the number columns as an array."""
    return np.asarray([row[1:] for row in value["data"]], dtype=float)


@pytest.mark.parametrize("name", NAMES)
def test_view_agrees_with_the_checkpoint_header(client, name):
    """The tab recomputes the test set's neurons; they must give the figures training stored."""
    metrics = header_metrics(name)
    matrix, mapping, summary = client.predict(name, "raw", "counts", api_name="/neurons_view")
    assert np.array_equal(table(matrix), np.asarray(metrics["confusion"]))
    assert f"{metrics['acc_majority']:.2f} %" in summary and f"{metrics['acc_matched']:.2f} %" in summary
    assert [row[3] for row in mapping["data"]] == metrics["mapping_matched"]
    # matched order puts each digit's neuron on the diagonal: its trace is the matched accuracy
    matched, _, _ = client.predict(name, "matched", "counts", api_name="/neurons_view")
    cm = table(matched)
    assert cm.sum() == 10000 and abs(100 * np.trace(cm) / 10000 - metrics["acc_matched"]) < 0.01
    assert sorted(matched["headers"][1:]) == sorted(f"n{j}" for j in range(10))
    shares, _, _ = client.predict(name, "matched", "shares", api_name="/neurons_view")
    assert np.allclose(table(shares).sum(1), 100, atol=0.6)


def test_cluster_model_beats_the_baseline():
    ours, base = header_metrics("cluster_ae"), header_metrics("neuron_ae")
    assert ours["acc_matched"] >= 94.5 > base["acc_matched"]
    assert (
        json.loads(read_metadata(runtime.checkpoint_path("cluster_ae"))["recipe"])["labels_used_in_training"]
        is False
    )


def test_cell_shows_its_digits(client):
    cm = np.asarray(header_metrics("cluster_ae")["confusion"])
    d, n = np.unravel_index(cm.argmax(), cm.shape)  # the fullest cell
    path, caption = client.predict("cluster_ae", int(d), int(n), api_name="/neurons_cell")
    assert f"{cm[d, n]} test images" in caption
    with Image.open(path) as im:
        assert im.size == (560, 560)
        assert np.asarray(im.convert("L")).mean() > 10  # a full mosaic of digits, not a blank picture
    empty = np.argwhere(cm == 0)
    if len(empty):
        path, caption = client.predict(
            "cluster_ae", int(empty[0][0]), int(empty[0][1]), api_name="/neurons_cell"
        )
        assert "0 test images" in caption


def test_drawing_and_upload_read_the_neurons(client, tmp_path):
    test = runtime.test_set()
    img, label = test.images[3].numpy(), int(test.labels[3])
    path = tmp_path / "digit.png"
    Image.fromarray(255 - img).resize((140, 140), Image.BILINEAR).save(path)  # dark ink on white
    seen, bars, text = client.predict("cluster_ae", handle_file(str(path)), api_name="/neurons_upload")
    bars = json.loads(bars) if isinstance(bars, str) else bars
    assert [row[0] for row in bars["data"]] == [f"n{j}" for j in range(10)]
    values = [row[1] for row in bars["data"]]
    assert f"**n{int(np.argmax(values))}**" in text
    assert f"read as digit **{label}** by the one-to-one mapping" in text
    sketch = {"background": None, "layers": [], "composite": handle_file(str(path))}
    _, _, text2 = client.predict("cluster_ae", sketch, api_name="/neurons_drawing")
    assert text2 == text


# (endpoint, arguments, what the message must say); gradio's own checks of choices and ranges count too
BAD = [
    ("/neurons_view", ("nope", "raw", "counts"), "Unknown model|not in the list of choices"),
    ("/neurons_view", ("cluster_ae", "sideways", "counts"), "Unknown order|not in the list of choices"),
    ("/neurons_view", ("cluster_ae", "raw", "percent"), "Unknown value kind|not in the list of choices"),
    ("/neurons_cell", ("cluster_ae", 10, 0), "whole number from 0 to 9|greater than maximum"),
    ("/neurons_cell", ("cluster_ae", 0, -1), "whole number from 0 to 9|less than minimum"),
    ("/neurons_cell", ("cluster_ae", None, 0), "whole number from 0 to 9"),
    ("/neurons_cell", ("nope", 1, 1), "Unknown model|not in the list of choices"),
    ("/neurons_drawing", ("cluster_ae", {"background": None, "layers": [], "composite": None}), "empty"),
    ("/neurons_drawing", ("cluster_ae", {}), "empty"),
    ("/neurons_upload", ("cluster_ae", None), "Upload an image"),
    ("/neurons_upload", ("unknown", None), "Unknown model|Upload an image"),
]


@pytest.mark.parametrize("api, args, message", BAD)
def test_bad_input_gets_a_message(client, api, args, message):
    assert_refused(client, api, args, message)


def test_junk_upload_is_refused(client, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture at all")
    with pytest.raises(AppError, match="Not an image"):
        client.predict("cluster_ae", handle_file(str(junk)), api_name="/neurons_upload")


def test_missing_checkpoint_names_file_and_command(tmp_path, monkeypatch):
    import gradio as gr

    from explorer import neurons

    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", tmp_path)
    runtime.model.cache_clear()
    try:
        with pytest.raises(gr.Error, match="python -m training cluster_ae") as err:
            neurons.view("cluster_ae", "raw", "counts")
        assert str(tmp_path / "cluster_ae.safetensors") in str(err.value)
        assert "not trained yet: `python -m training neuron_ae`" in neurons.comparison()
    finally:
        runtime.model.cache_clear()
