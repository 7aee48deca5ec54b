"""The data-quality lens (training/quality.py): each score on a hand-made case, the scores
deterministic, and digits whose labels were flipped (in this test only) found near the top."""

import pytest
import torch
from safetensors import safe_open

from training import quality
from training.data import load_mnist

pytestmark = pytest.mark.skipif(not quality.models()["heads"], reason="needs a committed classifier")


def test_margin_is_the_best_other_class_minus_the_given_one():
    p = torch.tensor([[0.7, 0.2, 0.1] + [0.0] * 7, [0.1, 0.3, 0.6] + [0.0] * 7], dtype=torch.float64)
    suspicion, suggested = quality.margin(p, torch.tensor([0, 0]))
    assert torch.allclose(suspicion, torch.tensor([0.2 - 0.7, 0.6 - 0.1], dtype=torch.float64))
    assert suggested.tolist() == [1, 2]  # never the given label itself


def test_neighbour_shares_count_the_nearest_other_points():
    # two tight groups on a line; the last point of the first group carries the other label
    x = torch.tensor([[0.0], [0.1], [0.2], [0.3], [10.0], [10.1], [10.2]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    shares = quality.neighbour_shares(x, labels, k=2)
    assert shares[0].tolist()[:2] == [1.0, 0.0]  # both neighbours of point 0 are 0s
    assert shares[3].tolist()[:2] == [1.0, 0.0]  # the odd one out: its neighbours say 0
    assert shares[5].tolist()[:2] == [0.0, 1.0]


def test_flipped_labels_rank_near_the_top_and_scores_repeat():
    test = load_mnist().test
    roles = {**quality.models(), "vae": [], "autoencoder": []}  # suspicion does not read those
    labels = test.labels.clone()
    gen = torch.Generator().manual_seed(7)
    flipped = torch.randperm(len(labels), generator=gen)[:20]
    labels[flipped] = (labels[flipped] + torch.randint(1, 10, (20,), generator=gen)) % 10
    scores = quality.score(test.images, labels, roles, log=lambda *_: None)
    top = set(scores["suspicion"].argsort(descending=True)[:100].tolist())
    found = len(top & set(flipped.tolist()))
    assert found >= 15, f"only {found} of the 20 flipped digits in the top 100"
    # the suggested label of a flipped digit is mostly its true one
    assert (scores["suggested"][flipped] == test.labels[flipped]).float().mean() >= 0.75
    again = quality.score(test.images[:300], labels[:300], roles, log=lambda *_: None)
    first = quality.score(test.images[:300], labels[:300], roles, log=lambda *_: None)
    assert all(torch.equal(again[k], first[k]) for k in first)


def test_the_command_writes_every_score_with_its_provenance(tmp_path):
    out = quality.main(["--limit", "150", "--k", "5", "--out", str(tmp_path / "q.safetensors")])
    with safe_open(str(out), framework="pt") as f:
        header, names = f.metadata(), set(f.keys())
        suspicion = f.get_tensor("suspicion")
    assert {"suspicion", "suggested", "p_given", "vae_nll", "ae_mse", "disagreement"} <= names
    assert any(n.startswith("knn_other_") for n in names)
    assert suspicion.shape == (300,) and suspicion.dtype == torch.float32
    assert header["n_test"] == "150" and "suspicion" in header["formula"]
    assert header["command"] == "python -m training quality --limit 150 --k 5 --out " + str(out)


def test_the_scores_file_is_not_taken_for_a_model_checkpoint(tmp_path):
    from training.checkpoint import checkpoint_files

    for name in ("quality.safetensors", "vae.safetensors", "vae.map.safetensors", "vae.state.safetensors"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in checkpoint_files(tmp_path)] == ["vae.safetensors"]
