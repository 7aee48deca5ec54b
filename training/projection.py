"""Maps of a latent space as pure functions: projections to 2-d / 3-d, their quality, and placing a
new point into an existing map.

Arrays are float32 tensors of shape (N, D) on the CPU. UMAP and t-SNE are imported where they are
used: the app needs only `neighbours` and `place`, never a fit (umap-learn's first fit in a fresh
process spends over a minute compiling).
"""

import numpy as np
import torch

CHUNK = 512  # rows of a distance matrix held at once: CHUNK x N floats


def pca(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Coordinates on the first `dim` principal axes (N, dim), signs fixed so that each axis's
    largest loading is positive (an SVD's signs are otherwise arbitrary between runs)."""
    centred = x - x.mean(0)
    _, _, vt = torch.linalg.svd(centred.double(), full_matrices=False)
    axes = vt[:dim]
    axes = axes * torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
    return (centred.double() @ axes.T).float()


def umap(
    x: torch.Tensor, dim: int, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1
) -> torch.Tensor:
    """UMAP (McInnes et al. 2018) with its usual settings; a fixed seed makes it reproducible."""
    import warnings

    import umap as umap_learn

    # a seed makes umap-learn run single-threaded and say so; that is the price of reproducibility
    warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
    reducer = umap_learn.UMAP(n_components=dim, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed)
    return torch.from_numpy(reducer.fit_transform(x.numpy()).astype(np.float32))


def tsne(x: torch.Tensor, dim: int, seed: int = 0, perplexity: float = 30.0) -> torch.Tensor:
    """Barnes-Hut t-SNE (scikit-learn), initialised from PCA so that runs are stable."""
    from sklearn.manifold import TSNE

    t = TSNE(n_components=dim, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    return torch.from_numpy(t.fit_transform(x.numpy()).astype(np.float32))


PROJECTIONS = {"umap": umap, "pca": lambda x, dim, seed=0: pca(x, dim), "tsne": tsne}


def neighbours(
    points: torch.Tensor,
    queries: torch.Tensor,
    k: int,
    exclude_self: bool = False,
    own: torch.Tensor | None = None,
):
    """The k nearest points (Euclidean) of each query: (distances (Q, k), indices (Q, k)), nearest
    first. With exclude_self the queries are the points themselves and each skips its own row;
    `own` (Q,) names each query's own row among the points instead, for queries that are some of them."""
    if exclude_self:
        own = torch.arange(len(queries))
    dists, idx = [], []
    for start in range(0, len(queries), CHUNK):
        d = torch.cdist(queries[start : start + CHUNK], points)  # (c, N)
        if own is not None:
            d[torch.arange(len(d)), own[start : start + CHUNK]] = float("inf")
        top = d.topk(k, dim=1, largest=False)
        # cdist's fast matrix-product form is off by ~1e-3 at these scales (a point is not at distance
        # 0 from itself); the k chosen distances are recomputed exactly and re-sorted
        exact = (points[top.indices] - queries[start : start + CHUNK, None]).norm(dim=-1)
        order = exact.argsort(dim=1, stable=True)
        dists.append(exact.gather(1, order))
        idx.append(top.indices.gather(1, order))
    return torch.cat(dists), torch.cat(idx)


def trustworthiness(
    high: torch.Tensor, low: torch.Tensor, k: int = 15, queries: torch.Tensor | None = None
) -> float:
    """Venna & Kaski's trustworthiness in [0, 1] (the definition of sklearn.manifold.trustworthiness):
    1 - 2 / (n k (2n - 3k - 1)) * sum over points i and their k map neighbours j that are not
    among i's k nearest in the original space of (rank of j among i's original neighbours - k).
    1 means the map invents no neighbours. Computed in chunks. `queries` (indices) averages the
    same per-point term over those points only, their neighbours still sought among all n: a 70k map
    is scored on its 10k test digits at a seventh of the cost of all of them."""
    n = len(high)
    queries = torch.arange(n) if queries is None else torch.as_tensor(queries, dtype=torch.long)
    penalty = 0
    for start in range(0, len(queries), CHUNK):
        rows = queries[start : start + CHUNK]
        _, low_nn = neighbours(low, low[rows], k, own=rows)  # (c, k), each point's own row skipped
        d = torch.cdist(high[rows], high)  # (c, n), the point itself at distance 0
        dj = d.gather(1, low_nn)  # (c, k) original distance to each map neighbour
        # rank of j = how many points are nearer to i than j (i itself counts, which makes it 1-based)
        rank = (d[:, None, :] < dj[:, :, None]).sum(-1)  # (c, k)
        penalty += (rank - k).clamp(min=0).sum().item()
    return 1.0 - 2.0 * penalty / (len(queries) * k * (2 * n - 3 * k - 1))


def knn_accuracy(x: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float:
    """Leave-one-out accuracy (percent) of a k-nearest-neighbour vote (ties to the smaller digit)."""
    return float(100 * (knn_predict(x, labels, k) == labels).double().mean())


def knn_predict(x: torch.Tensor, labels: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Each point's label by the vote of its k nearest other points (N,)."""
    _, idx = neighbours(x, x, k, exclude_self=True)
    votes = torch.nn.functional.one_hot(labels[idx].long(), 10).sum(1)  # (N, 10)
    return votes.argmax(1)


def place(latents: torch.Tensor, coords: torch.Tensor, z: torch.Tensor, k: int = 8):
    """Put new latents z (Q, D) into a map without refitting it: each lands at the
    inverse-distance-weighted mean of the map positions of its k nearest latents (a point equal to
    one of them lands on it). Returns (positions (Q, dim), neighbour distances (Q, k), indices (Q, k))."""
    dist, idx = neighbours(latents, z, k)
    w = 1.0 / (dist + 1e-6)
    w = w / w.sum(1, keepdim=True)
    return (w[..., None] * coords[idx]).sum(1), dist, idx
