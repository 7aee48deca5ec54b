"""The data-quality lens in the explorer: the map coloured by a score, a digit's scores in the
inspector, the ranked suspects with their CSV, and a clear message when the scores are missing."""

import csv
import json

import gradio as gr
import pytest

from explorer import latents
from explorer.latents import suspects

pytestmark = pytest.mark.skipif(
    not (suspects.has_scores() and "autoencoder" in latents.available()),
    reason="needs checkpoints/quality.safetensors (python -m training quality) and the autoencoder's map",
)


def test_the_map_is_coloured_by_any_score():
    for _, key in latents.maps.SCORES:
        data = json.loads(latents.view("autoencoder", "umap", 2, key).scatter)
        assert len(data["v"]) == 10000 and data["legend"] == [] and data["colour"] == key
    data = json.loads(latents.view("autoencoder", "umap", 2, "suspicion", digits="all").scatter)
    assert len(data["v"]) == 70000


def test_the_inspector_gives_a_digits_scores_and_rank():
    order, _ = suspects.ranking("test")
    top = int(order[0])
    info = latents.point_view("autoencoder", "umap", 2, "label", top).info
    assert "suspicion" in info and "rank 1 of 10,000 test digits" in info


def test_suspects_are_ranked_with_their_given_and_suggested_label(tmp_path):
    result = suspects.suspects("test")
    assert len(result.gallery) == suspects.N_SUSPECTS
    captions = [caption for _, caption in result.gallery]
    assert all("→" in c and c.startswith("#") for c in captions)
    rows = list(csv.DictReader(open(result.csv)))
    assert len(rows) == 10000 and [int(r["rank"]) for r in rows[:3]] == [1, 2, 3]
    values = [float(r["suspicion"]) for r in rows]
    assert values == sorted(values, reverse=True)
    assert all(r["label"] != r["suggested"] for r in rows)
    train = suspects.suspects("train")
    assert train.gallery[0][1].startswith("train #")
    with pytest.raises(gr.Error, match="test or train"):
        suspects.suspects("elsewhere")


def test_missing_scores_name_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(suspects, "path", lambda: tmp_path / "quality.safetensors")
    with pytest.raises(gr.Error, match="python -m training quality"):
        latents.view("autoencoder", "umap", 2, "suspicion")
    with pytest.raises(gr.Error, match="python -m training quality"):
        suspects.suspects("test")
    assert "Data quality" not in latents.point_view("autoencoder", "umap", 2, "label", 0).info
