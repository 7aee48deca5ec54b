"""The linear baseline of the explorer's autoencoder: PCA fitted on the training split, test MSE
per pixel of the reconstruction from k components, beside the committed autoencoder's figure.

    .venv/bin/python benchmarks/pca_baseline.py [--k 5 6 12]
"""

import argparse
import json

import torch
from common import ROOT, table

from training.checkpoint import read_metadata
from training.data import load_mnist, to_float, train_val_split


def pca_mse(train: torch.Tensor, test: torch.Tensor, k: int) -> float:
    """(N, 784) float rows: project the test rows on the top-k principal axes of train and back."""
    mean = train.mean(0)
    _, _, v = torch.linalg.svd(train - mean, full_matrices=False)  # rows of v: principal axes
    axes = v[:k]
    recon = (test - mean) @ axes.T @ axes + mean
    return torch.mean((recon - test) ** 2).item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--k", type=int, nargs="+", default=[5, 6, 12])
    ks = p.parse_args().k
    data = load_mnist()
    train, _ = train_val_split(data.train, 5000, seed=0)  # the split every trainer uses
    x_train = to_float(train.images).reshape(len(train.images), -1).double()
    x_test = to_float(data.test.images).reshape(len(data.test.images), -1).double()
    rows = [[f"PCA, {k} components", f"{pca_mse(x_train, x_test, k):.4f}"] for k in ks]
    ckpt = ROOT / "checkpoints" / "autoencoder.safetensors"
    if ckpt.exists():
        m = json.loads(read_metadata(ckpt)["metrics"])
        rows.append([f"autoencoder (checkpoint), {m['latent_dim']}-d code", f"{m['mse']:.4f}"])
    print(table(["model", "test MSE per pixel"], rows))


if __name__ == "__main__":
    main()
