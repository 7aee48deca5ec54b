"""Projections, their quality measures, placement, and `python -m training export`."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from training import export, projection
from training.checkpoint import save_checkpoint
from training.models import build_model


def blobs(n_per=60, dim=8, k=4, seed=0):
    """k well separated Gaussian clusters (labels 0..k-1)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, dim, generator=g) * 10
    x = torch.cat([c + torch.randn(n_per, dim, generator=g) for c in centres])
    return x, torch.arange(k).repeat_interleave(n_per)


def test_trustworthiness_matches_scikit_learn():
    from sklearn.manifold import trustworthiness

    x, _ = blobs()
    for low in (projection.pca(x, 2), torch.randn(len(x), 2, generator=torch.Generator().manual_seed(1))):
        ours = projection.trustworthiness(x, low, k=15)
        assert ours == pytest.approx(trustworthiness(x.numpy(), low.numpy(), n_neighbors=15), abs=1e-6)
    assert projection.trustworthiness(x, x.clone(), k=15) == pytest.approx(1.0)


def test_trustworthiness_over_some_points_is_their_share_of_the_whole():
    """Scored on a subset of query points (the 70k map's test digits), it averages the same
    per-point penalty: two complementary subsets recombine into the figure over all points."""
    x, _ = blobs()
    low = torch.randn(len(x), 2, generator=torch.Generator().manual_seed(1))
    a, b = torch.arange(100), torch.arange(100, len(x))
    t_a, t_b = projection.trustworthiness(x, low, 15, a), projection.trustworthiness(x, low, 15, b)
    whole = projection.trustworthiness(x, low, 15)
    assert 1 - (len(a) * (1 - t_a) + len(b) * (1 - t_b)) / len(x) == pytest.approx(whole, abs=1e-9)
    assert t_a != pytest.approx(t_b, abs=1e-4)  # the subsets differ, so the recombination is a real check


def test_pca_is_deterministic_and_ordered():
    x, _ = blobs()
    a, b = projection.pca(x, 3), projection.pca(x.clone(), 3)
    assert a.shape == (len(x), 3) and torch.allclose(a, b)
    var = a.var(0)
    assert var[0] >= var[1] >= var[2]


def test_knn_on_separated_clusters():
    x, y = blobs()
    assert projection.knn_accuracy(x, y, 5) == 100.0
    assert torch.equal(projection.knn_predict(x, y, 5), y)
    d, idx = projection.neighbours(x, x, 3, exclude_self=True)
    assert not (idx == torch.arange(len(x))[:, None]).any() and (d[:, :-1] <= d[:, 1:]).all()


def test_place_lands_on_known_points_and_between_neighbours():
    x, _ = blobs()
    coords = projection.pca(x, 2)
    pos, dist, idx = projection.place(x, coords, x[:5], k=8)
    assert torch.allclose(pos, coords[:5], atol=1e-3)  # a known latent lands on its own position
    assert (idx[:, 0] == torch.arange(5)).all() and (dist[:, 0] < 1e-3).all()
    new = x[:1] + 0.01
    pos, _, idx = projection.place(x, coords, new, k=8)
    lo, hi = coords[idx[0]].min(0).values, coords[idx[0]].max(0).values
    assert ((pos[0] >= lo) & (pos[0] <= hi)).all()  # a weighted mean stays inside its neighbours' box


def test_export_writes_finite_maps_of_the_right_shape(tmp_path):
    """A 2-d VAE (untrained: the map only needs encode) gives a t-SNE map and its own plane; PCA
    would only rotate the plane and 3-d maps would invent a dimension."""
    model = build_model("vae2d")
    save_checkpoint(
        model, tmp_path / "vae2d.safetensors", {}, command="test", device="cpu", wall_time_s=0, dataset="test"
    )
    out = export.export(
        "vae2d", ckpt_dir=tmp_path, limit=200, projections=("pca", "tsne"), dims=(2, 3), log=lambda *_: None
    )
    assert out == tmp_path / "vae2d.map.safetensors"
    with safe_open(str(out), framework="pt") as f:
        keys, header = set(f.keys()), f.metadata()
        tensors = {k: f.get_tensor(k) for k in keys}
    assert {"latents", "labels", "pred", "tsne_2d", "latent_2d", "knn"} == keys
    # each test digit's nearest other test latents, nearest first, for the explorer's comparison
    knn = tensors["knn"].long()
    assert knn.shape == (200, export.KNN_STORED) and not (knn == torch.arange(200)[:, None]).any()
    d = torch.cdist(tensors["latents"], tensors["latents"]).fill_diagonal_(float("inf"))
    assert torch.equal(knn[:, 0], d.argmin(1))
    for k in ("tsne_2d", "latent_2d"):
        assert tensors[k].shape == (200, 2) and torch.isfinite(tensors[k]).all()
    assert torch.equal(tensors["latent_2d"], tensors["latents"])
    quality = json.loads(header["quality"])
    assert 0 <= quality["tsne_2d"]["trustworthiness"] <= 1 and quality["latent_2d"][
        "trustworthiness"
    ] == pytest.approx(1.0)
    assert quality["pred_source"] == "the vote of its 5 nearest latents"
    assert header["checkpoint"] == "vae2d.safetensors" and header["n_points"] == "200"


def test_export_of_a_neuron_model_stores_the_argmax_neuron(tmp_path):
    model = build_model("neuron_ae")
    save_checkpoint(
        model,
        tmp_path / "neuron_ae.safetensors",
        {},
        command="test",
        device="cpu",
        wall_time_s=0,
        dataset="test",
    )
    out = export.export(
        "neuron_ae", ckpt_dir=tmp_path, limit=100, projections=("pca",), dims=(2, 3), log=lambda *_: None
    )
    with safe_open(str(out), framework="pt") as f:
        latents, neuron, pred = f.get_tensor("latents"), f.get_tensor("neuron"), f.get_tensor("pred")
        assert f.get_tensor("pca_3d").shape == (100, 3)
    assert torch.equal(neuron, latents.argmax(1))
    # the prediction is the neuron read through the one-to-one mapping: a bijection of neuron ids
    pairs = {(int(a), int(b)) for a, b in zip(neuron, pred)}
    assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})


def test_training_cli_runs_export(tmp_path, monkeypatch):
    from training.__main__ import main

    save_checkpoint(
        build_model("vae2d"),
        tmp_path / "vae2d.safetensors",
        {},
        command="t",
        device="cpu",
        wall_time_s=0,
        dataset="t",
    )
    main(
        [
            "export",
            "vae2d",
            "--checkpoints",
            str(tmp_path),
            "--limit",
            "50",
            "--projections",
            "pca",
            "tsne",
            "--dims",
            "2",
        ]
    )
    with safe_open(str(tmp_path / "vae2d.map.safetensors"), framework="pt") as f:
        assert f.metadata()["command"].startswith("python -m training export vae2d")
        assert np.isfinite(f.get_tensor("tsne_2d").numpy()).all() and "pca_2d" not in f.keys()


def test_export_of_all_digits_puts_the_test_set_first(tmp_path):
    """--split all: test digits, then training digits, 2-d maps only, small integers as bytes and no
    latents (the app takes those from the test map)."""
    from training.data import load_mnist

    save_checkpoint(
        build_model("vae2d"),
        tmp_path / "vae2d.safetensors",
        {},
        command="t",
        device="cpu",
        wall_time_s=0,
        dataset="t",
    )
    out = export.export(
        "vae2d",
        ckpt_dir=tmp_path,
        limit=60,
        projections=("pca", "tsne"),
        dims=(2, 3),
        split="all",
        log=lambda *_: None,
    )
    assert out == tmp_path / "vae2d.map-all.safetensors"
    tensors, header = export.read_map(out)
    data = load_mnist()
    assert set(tensors) == {
        "labels",
        "pred",
        "latent_2d",
    }  # t-SNE is not made for all digits; PCA would only rotate
    assert tensors["labels"].dtype == torch.uint8 and tensors["latent_2d"].shape == (120, 2)
    assert torch.equal(tensors["labels"].long(), torch.cat([data.test.labels[:60], data.train.labels[:60]]))
    assert (header["split"], header["n_points"], header["n_test"]) == ("all", "120", "60")
    assert json.loads(header["quality"])["latent_dim"] == 2
    from training.checkpoint import checkpoint_files

    assert checkpoint_files(tmp_path) == [
        tmp_path / "vae2d.safetensors"
    ]  # the map is not taken for a checkpoint
