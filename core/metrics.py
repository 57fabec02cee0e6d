"""Metrics of a QD result or a sample of images: plain functions of arrays.

Each function's docstring gives its definition. Entropies use natural logarithms.

Vocabulary: a *bin* is a cell of a regular grid over measure space (``bins`` cells per
measure between each measure's ``(low, high)`` range); values outside a range fall into
the edge bin, as in pyribs' ``GridArchive``. A NaN measure falls into the lowest bin (the
search stores a non-finite evaluation at the range's low end, so the two agree).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "coverage",
    "qd_score",
    "normalized_qd_score",
    "bin_indices",
    "bin_counts",
    "normalized_entropy",
    "kl_from_uniform",
    "vendi_score",
    "pure_diversity",
    "mean_objective",
    "balanced_counts",
    "draw_counts",
    "archive_metrics",
]


def coverage(counts: np.ndarray) -> float:
    """Fraction of bins holding at least one sample.

    Args:
        counts: Array of per-bin counts, any shape (one entry per bin).

    Returns:
        ``(counts > 0).sum() / counts.size`` in [0, 1].
    """
    counts = np.asarray(counts)
    if counts.size == 0:
        raise ValueError("counts must hold at least one bin")
    return float((counts > 0).sum() / counts.size)


def qd_score(objective: np.ndarray, *, offset: float = 0.0) -> float:
    """QD score: the sum over elites of ``objective - offset`` (pyribs' definition).

    Args:
        objective: (n_elites,) objective of each elite of an archive.
        offset: Subtracted from every objective so that the score rewards coverage
            (pyribs' ``qd_score_offset``); should be below any objective worth keeping.
    """
    return float(np.sum(np.asarray(objective, dtype=np.float64) - offset))


def normalized_qd_score(objective: np.ndarray, *, cells: int, offset: float = 0.0) -> float:
    """Normalised QD score: :func:`qd_score` divided by the number of cells of the archive."""
    if cells < 1:
        raise ValueError(f"cells must be >= 1, got {cells}")
    return qd_score(objective, offset=offset) / cells


def _bins_tuple(bins: int | Sequence[int], k: int) -> tuple[int, ...]:
    if isinstance(bins, (int, np.integer)):
        return (int(bins),) * k
    bins = tuple(int(b) for b in bins)
    if len(bins) != k:
        raise ValueError(f"bins must give one count per measure ({k}), got {len(bins)}")
    return bins


def bin_indices(
    measures: np.ndarray, ranges: Sequence[tuple[float, float]], bins: int | Sequence[int]
) -> np.ndarray:
    """Grid cell of each sample.

    Args:
        measures: (n, k) measures.
        ranges: k pairs (low, high).
        bins: Bins per measure (one int for all, or k ints).

    Returns:
        (n, k) int array, entry j in [0, bins_j), whatever the input: values outside a range
        (infinities included) are clipped to the edge bin, NaN goes to bin 0, and a range of
        zero width (or with non-finite ends) puts every value in bin 0.
    """
    measures = np.asarray(measures, dtype=np.float64)
    if measures.ndim != 2:
        raise ValueError(f"measures must be (n, k), got shape {measures.shape}")
    k = measures.shape[1]
    if len(ranges) != k:
        raise ValueError(f"ranges must give one (low, high) per measure ({k}), got {len(ranges)}")
    dims = np.array(_bins_tuple(bins, k))
    lo = np.array([r[0] for r in ranges], dtype=np.float64)
    hi = np.array([r[1] for r in ranges], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (np.clip(measures, lo, hi) - lo) / (hi - lo)  # NaN for NaN values and 0/0 ranges
    frac = np.nan_to_num(frac, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.floor(frac * dims), 0, dims - 1).astype(np.int64)


def bin_counts(
    measures: np.ndarray, ranges: Sequence[tuple[float, float]], bins: int | Sequence[int]
) -> np.ndarray:
    """Number of samples in each grid cell.

    Args:
        measures: (n, k) measures.
        ranges: k pairs (low, high).
        bins: Bins per measure.

    Returns:
        int array of shape (bins_0, ..., bins_{k-1}).
    """
    measures = np.asarray(measures, dtype=np.float64)
    dims = _bins_tuple(bins, measures.shape[1] if measures.ndim == 2 else len(ranges))
    counts = np.zeros(dims, dtype=np.int64)
    if len(measures):
        idx = bin_indices(measures, ranges, dims)
        np.add.at(counts, tuple(idx.T), 1)
    return counts


def _probabilities(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64).ravel()
    if counts.size == 0 or np.any(counts < 0):
        raise ValueError("counts must be a non-empty array of non-negative numbers")
    total = counts.sum()
    return counts / total if total > 0 else counts


def normalized_entropy(counts: np.ndarray) -> float:
    """Shannon entropy of the distribution over bins divided by its maximum, ``log(B)``.

    ``H = -sum_b p_b log p_b`` with ``p_b = counts_b / sum(counts)`` over all B bins
    (empty bins included). 1 means perfectly even over every bin, 0 means everything
    in one bin. Returns 0 for no samples, and 1 for a single bin holding samples.
    """
    p = _probabilities(counts)
    if p.sum() == 0:
        return 0.0
    if p.size == 1:
        return 1.0
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(p.size))


def kl_from_uniform(counts: np.ndarray) -> float:
    """KL divergence (nats) of the distribution over bins from the uniform one.

    ``KL(p || u) = sum_b p_b log(p_b B) = log B - H(p)``: 0 when even over all B bins,
    ``log B`` when everything falls in one bin. Returns ``log B`` for no samples.
    """
    p = _probabilities(counts)
    if p.sum() == 0:
        return float(math.log(p.size))
    nz = p[p > 0]
    return float((nz * np.log(nz * p.size)).sum())


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"embeddings must be (n, d) with n >= 1, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score (Friedman & Dieng, 2023) with the cosine-similarity kernel.

    ``VS = exp(-sum_i l_i log l_i)`` where ``l_i`` are the eigenvalues of ``K / n`` and
    ``K_ij = <x_i, x_j> / (|x_i| |x_j|)``. It is the "effective number of distinct
    samples": 1 for n identical rows, n for n mutually orthogonal rows.

    Args:
        embeddings: (n, d) array (rows are normalised here).
    """
    x = _unit_rows(embeddings)
    n = len(x)
    # K/n = X X^T / n has the same non-zero eigenvalues as X^T X / n (d x d): cheaper for n > d.
    gram = (x.T @ x) / n if x.shape[1] < n else (x @ x.T) / n
    lam = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    lam = lam[lam > 1e-12]
    return float(np.exp(-(lam * np.log(lam)).sum()))


def pure_diversity(embeddings: np.ndarray) -> float:
    """Pure diversity (after Wang, Jin & Yao, 2017) with Euclidean distance on unit rows.

    The definition is recursive: ``PD(X) = max_{s in X} [PD(X - s) + d(s, X - s)]`` with
    ``d(s, Y) = min_{y in Y} |s - y|`` and ``PD({x}) = 0``. Computed greedily: repeatedly
    remove the point farthest from its nearest remaining neighbour, adding that distance,
    until one point is left (a lower bound of the recursive maximum; exact for two
    points). Identical points add 0; n points pairwise ``sqrt(2)`` apart (orthogonal
    unit vectors) give ``(n - 1) sqrt(2)``.

    Args:
        embeddings: (n, d) array (rows are normalised here).
    """
    x = _unit_rows(embeddings)
    n = len(x)
    if n < 2:
        return 0.0
    sq = np.sum(x**2, axis=1)
    dist = x @ x.T  # (n, n); turned into distances in place: one n x n array, however large n
    dist *= -2.0
    dist += sq[:, None]
    dist += sq[None, :]
    np.clip(dist, 0.0, None, out=dist)
    np.sqrt(dist, out=dist)
    np.fill_diagonal(dist, np.inf)
    alive = np.ones(n, dtype=bool)
    nn_idx = dist.argmin(axis=1)  # nearest remaining neighbour of each point
    nn_dist = dist[np.arange(n), nn_idx]
    total = 0.0
    for _ in range(n - 1):
        i = int(np.argmax(np.where(alive, nn_dist, -np.inf)))
        total += float(nn_dist[i])
        alive[i] = False
        dist[:, i] = np.inf
        stale = np.flatnonzero(alive & (nn_idx == i))  # their nearest neighbour just left
        if len(stale):
            nn_idx[stale] = dist[stale].argmin(axis=1)
            nn_dist[stale] = dist[stale, nn_idx[stale]]
    return total


def mean_objective(objective: np.ndarray) -> float:
    """Arithmetic mean of the objective values; NaN for an empty array."""
    objective = np.asarray(objective, dtype=np.float64)
    return float(objective.mean()) if objective.size else float("nan")


def balanced_counts(available: np.ndarray, total: int) -> np.ndarray:
    """How many samples an even ("water-filling") draw of ``total`` takes from each bin.

    Every bin gets the same quota ``q``; bins holding fewer than ``q`` give all they have
    and the remainder is shared among the others, so the draw is as even as the
    available samples allow. Leftover units (when ``total`` does not divide evenly) go to
    the bins with the most samples available, ties broken by bin order.

    Args:
        available: Per-bin counts of usable samples, any shape.
        total: Samples wanted in all.

    Returns:
        int array shaped like ``available`` with ``sum = min(total, available.sum())``.
    """
    avail = np.asarray(available, dtype=np.int64)
    flat = avail.ravel()
    total = int(min(total, flat.sum()))
    take = np.zeros_like(flat)
    if total <= 0:
        return take.reshape(avail.shape)
    # Largest q with sum(min(avail, q)) <= total, by bisection on q.
    lo, hi = 0, int(flat.max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(flat, mid).sum() <= total:
            lo = mid
        else:
            hi = mid - 1
    take = np.minimum(flat, lo)
    rest = total - int(take.sum())
    if rest > 0:
        spare = np.flatnonzero(flat > take)
        order = spare[np.argsort(-flat[spare], kind="stable")]
        take[order[:rest]] += 1
    return take.reshape(avail.shape)


def draw_counts(
    measures: np.ndarray, ranges: Sequence[tuple[float, float]], bins: int | Sequence[int], n: int, *, balanced: bool
) -> np.ndarray:
    """Per-bin counts of a draw of ``n`` samples: an even draw over bins, or the first ``n``.

    The figure behind every uniformity in the product: ``balanced=True`` is what a balanced
    selection can take from a pool (:func:`balanced_counts` of its bin counts), ``False``
    what plain sampling gives (the first ``n`` samples, as drawn).

    Args:
        measures: (m, k) measures of the pool, in the order drawn.
        ranges: k (low, high) ranges.
        bins: Bins per measure.
        n: Samples drawn (at most m are).
        balanced: Even draw, or the first n.
    """
    measures = np.asarray(measures, dtype=np.float64)
    n = min(int(n), len(measures))
    if balanced:
        return balanced_counts(bin_counts(measures, ranges, bins), n)
    return bin_counts(measures[:n], ranges, bins)


def archive_metrics(archive) -> dict[str, float]:
    """Coverage, QD score, normalised QD score, max and mean objective of a pyribs archive.

    Read from ``archive.stats`` (pyribs computes them with the archive's
    ``qd_score_offset``).
    """
    s = archive.stats
    return {
        "coverage": float(s.coverage),
        "qd_score": float(s.qd_score),
        "normalized_qd_score": float(s.norm_qd_score),
        "num_elites": int(s.num_elites),
        "best_objective": None if s.obj_max is None else float(s.obj_max),
        "mean_objective": None if s.obj_mean is None else float(s.obj_mean),
    }
