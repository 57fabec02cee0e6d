"""Each metric on hand-made inputs whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import metrics


def test_coverage_counts_occupied_bins():
    assert metrics.coverage(np.array([[0, 3], [1, 0]])) == 0.5
    assert metrics.coverage(np.zeros(7)) == 0.0


def test_coverage_rejects_no_bins():
    with pytest.raises(ValueError, match="at least one bin"):
        metrics.coverage(np.zeros(0))


def test_qd_score_and_normalised():
    obj = np.array([1.0, 2.0, 3.0])
    assert metrics.qd_score(obj) == 6.0
    assert metrics.qd_score(obj, offset=-1.0) == 9.0
    assert metrics.normalized_qd_score(obj, cells=12, offset=-1.0) == 0.75
    with pytest.raises(ValueError, match="cells must be >= 1"):
        metrics.normalized_qd_score(obj, cells=0)


def test_bin_indices_and_counts_clip_to_edges():
    m = np.array([[0.0, 0.0], [0.99, 0.5], [1.0, 1.0], [-5.0, 7.0], [0.5, 0.25]])
    idx = metrics.bin_indices(m, [(0, 1), (0, 1)], 4)
    assert idx.tolist() == [[0, 0], [3, 2], [3, 3], [0, 3], [2, 1]]
    counts = metrics.bin_counts(m, [(0, 1), (0, 1)], (4, 2))
    assert counts.shape == (4, 2)
    assert counts.sum() == 5
    assert counts[0, 1] == 1 and counts[3, 1] == 2 and counts[0, 0] == 1
    with pytest.raises(ValueError, match="one .low, high. per measure"):
        metrics.bin_indices(m, [(0, 1)], 4)


def test_normalized_entropy_known_values():
    assert metrics.normalized_entropy(np.ones(10)) == pytest.approx(1.0)
    assert metrics.normalized_entropy(np.array([5, 0, 0, 0])) == 0.0
    # Half the bins evenly filled: log(2) / log(4) = 0.5.
    assert metrics.normalized_entropy(np.array([3, 3, 0, 0])) == pytest.approx(0.5)
    assert metrics.normalized_entropy(np.zeros(4)) == 0.0
    p = np.array([0.5, 0.25, 0.25])
    assert metrics.normalized_entropy(np.array([2, 1, 1])) == pytest.approx(-(p * np.log(p)).sum() / math.log(3))


def test_kl_from_uniform_known_values():
    assert metrics.kl_from_uniform(np.ones(8)) == pytest.approx(0.0)
    assert metrics.kl_from_uniform(np.array([4, 0, 0, 0])) == pytest.approx(math.log(4))
    assert metrics.kl_from_uniform(np.array([1, 1, 0, 0])) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="non-negative"):
        metrics.kl_from_uniform(np.array([1, -1]))


def test_vendi_score_identical_and_orthogonal():
    assert metrics.vendi_score(np.tile([[1.0, 2.0, 0.0]], (5, 1))) == pytest.approx(1.0)
    assert metrics.vendi_score(np.eye(4)) == pytest.approx(4.0)
    # Two identical pairs of orthogonal vectors: effective number 2.
    assert metrics.vendi_score(np.array([[1, 0], [1, 0], [0, 1], [0, 1]], float)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="embeddings must be"):
        metrics.vendi_score(np.zeros(3))


def test_pure_diversity_known_values():
    assert metrics.pure_diversity(np.eye(4)) == pytest.approx(3 * math.sqrt(2))
    assert metrics.pure_diversity(np.tile([[0.0, 1.0]], (6, 1))) == pytest.approx(0.0)
    assert metrics.pure_diversity(np.array([[1.0, 0.0]])) == 0.0
    # Two points at 90 degrees: their distance.
    assert metrics.pure_diversity(np.array([[1.0, 0.0], [0.0, 3.0]])) == pytest.approx(math.sqrt(2))


def test_mean_objective():
    assert metrics.mean_objective(np.array([1.0, 2.0, 6.0])) == 3.0
    assert math.isnan(metrics.mean_objective(np.array([])))


@pytest.mark.parametrize(
    "available, total, expected",
    [
        ([5, 5, 5, 5], 8, [2, 2, 2, 2]),
        ([1, 10, 10, 0], 9, [1, 4, 4, 0]),  # the short bin gives all it has; others share the rest
        ([1, 10, 10, 0], 10, [1, 5, 4, 0]),  # leftover unit to the first bin with the most
        ([2, 3], 100, [2, 3]),  # not enough samples in all
    ],
)
def test_balanced_counts_water_fills(available, total, expected):
    assert metrics.balanced_counts(np.array(available), total).tolist() == expected


def test_archive_metrics_reads_pyribs_stats():
    from ribs.archives import GridArchive

    archive = GridArchive(solution_dim=2, dims=[2, 2], ranges=[(0, 1), (0, 1)], qd_score_offset=-1.0)
    archive.add(solution=np.zeros((2, 2)), objective=np.array([1.0, 3.0]), measures=np.array([[0.1, 0.1], [0.9, 0.9]]))
    got = metrics.archive_metrics(archive)
    assert got["coverage"] == 0.5
    assert got["qd_score"] == pytest.approx(metrics.qd_score(np.array([1.0, 3.0]), offset=-1.0))
    assert got["normalized_qd_score"] == pytest.approx(6.0 / 4)
    assert got["best_objective"] == 3.0


@pytest.mark.parametrize(
    "measures, ranges, expected",
    [
        # NaN goes to the lowest bin; infinities to the edge bins
        ([[np.nan, 0.5], [np.inf, -np.inf], [-np.inf, np.inf]], [(0, 1), (0, 1)], [[0, 2], [4, 0], [0, 4]]),
        # a zero-width range (what two prompts the scorer reads alike give) puts everything in bin 0
        ([[0.0, 0.3], [0.0, 0.9], [1e9, 0.0]], [(0, 0), (0, 1)], [[0, 1], [0, 4], [0, 0]]),
        # a NaN range or a reversed one never gives an index out of [0, bins)
        ([[0.2, 0.5], [5.0, -5.0]], [(np.nan, 1.0), (1.0, 0.0)], [[0, 4], [0, 4]]),
        ([[3.0, 0.5]], [(-np.inf, np.inf), (0, 1)], [[0, 2]]),
    ],
)
def test_bin_indices_never_leave_the_grid(measures, ranges, expected):
    idx = metrics.bin_indices(np.array(measures), ranges, 5)
    assert idx.tolist() == expected
    counts = metrics.bin_counts(np.array(measures), ranges, 5)  # the call that crashed (IndexError)
    assert counts.sum() == len(measures)
