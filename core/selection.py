"""The balanced selection: which samples of a pool stand for each bin of measure space.

One function, :func:`select_balanced`, serves the QD export and the honest baseline alike:
the baseline is the run's random samples (the generator's prior, the same budget) pushed
through exactly this selection, so any difference between the two is the search's doing.

How a pool is turned into a selection of ``images`` samples over ``bins`` bins per measure:

1. **Quality**: samples whose objective is below the threshold are never taken.
2. **Clear ends**: a bin at an end of a measure claims that side of its prompt pair. A
   sample goes there only if the scorer finds it at least as similar to that side's prompt
   as the prior's clear examples are (``clear_levels``, see
   :func:`core.measures.clear_levels`): a measure, a *difference* of two similarities, puts
   cyan shapes beside blue ones and circles beside squares; each similarity alone does not.
3. **Most representative first**: within a bin, samples are ranked per measure (end bins:
   by similarity to the bin's side; bins in between: by closeness to the bin's centre) and
   ordered by their worst rank over the measures.
4. **Distinct**: a sample closer than ``min_distance`` (latent space) to one already taken
   in its bin is skipped.
5. **Verified** (optional): a judge's check; a sample the judge disagrees with is dropped.
6. **Even**: each bin gets an even share of ``images`` (:func:`core.metrics.balanced_counts`);
   a bin with fewer samples gives what it has and is reported *short*, never padded.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from . import metrics
from .checks import whole_number
from .errors import InputError
from .runs import Samples

__all__ = [
    "Selection",
    "select_balanced",
    "bin_label",
    "default_quality_threshold",
    "DEFAULT_QUALITY_PERCENTILE",
    "DEDUP_FRACTION",
    "MAX_BINS_TOTAL",
    "VERIFY_CHUNK",
]

DEFAULT_QUALITY_PERCENTILE = 10.0  # default threshold: this percentile of the random baseline's objective
DEDUP_FRACTION = 0.1  # near-duplicate latent distance, x prior std x sqrt(latent_dim)
MAX_BINS_TOTAL = 100_000  # bins ** measures above this is refused
VERIFY_CHUNK = 64  # candidates rendered and judged at a time when verifying

Verifier = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (pool indices, bin index rows) -> agrees (bool)


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which pool samples a balanced selection takes.

    Attributes:
        indices: (n,) pool indices, grouped by bin, most representative first.
        bin_index: (n, k) bin of each chosen sample.
        counts: Chosen per bin, shape (bins,) * k.
        available: Usable candidates per bin (after every filter), same shape.
        short_bins: Labels of bins holding fewer usable candidates than the even share.
        even_share: ``ceil(images / bins**k)``.
        quality_threshold: Threshold applied.
        min_distance: Near-duplicate distance applied.
        bins: Bins per measure.
        unclear: Candidates kept out of end bins for not being clear examples of the side.
        judged: Candidates the judge looked at (verified selections; else 0).
        rejected_by_judge: Of those, how many it disagreed with.
    """

    indices: np.ndarray
    bin_index: np.ndarray
    counts: np.ndarray
    available: np.ndarray
    short_bins: list[str]
    even_share: int
    quality_threshold: float
    min_distance: float
    bins: int = 0
    unclear: int = 0
    judged: int = 0
    rejected_by_judge: int = 0

    @property
    def labels(self) -> list[str]:
        """Bin label of each chosen sample."""
        return [bin_label(row, self.bins) for row in self.bin_index]


def bin_label(index: Sequence[int] | np.ndarray, bins: int) -> str:
    """Folder name of a bin, e.g. ``b03_07`` (bin 3 of measure 0, bin 7 of measure 1)."""
    width = len(str(bins - 1))
    return "b" + "_".join(str(int(i)).zfill(width) for i in index)


def default_quality_threshold(random_pool: Samples) -> float:
    """:data:`DEFAULT_QUALITY_PERCENTILE` of the random baseline's objective (-inf if empty)."""
    if not len(random_pool):
        return float("-inf")
    return float(np.percentile(random_pool.objective, DEFAULT_QUALITY_PERCENTILE))


def _within_bin_rank(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Percentile rank (0, 1] of each value among the values of its group (higher value: higher rank)."""
    out = np.zeros(len(values))
    order = np.lexsort((values, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    pos = np.arange(len(order)) - np.repeat(starts, sizes)
    out[order] = (pos + 1) / np.repeat(sizes, sizes)
    return out


def select_balanced(
    pool: Samples,
    *,
    ranges: Sequence[tuple[float, float]],
    images: int,
    bins: int,
    quality_threshold: float,
    min_distance: float,
    clear_levels: Sequence[tuple[float, float]] | None = None,
    verify: Verifier | None = None,
) -> Selection:
    """Chooses pool samples for a balanced set (no rendering unless ``verify``). See the module docstring.

    Args:
        pool: The samples to choose from (a QD pool, or the random baseline's samples).
        ranges: k (low, high) measure ranges the bins divide.
        images: Samples wanted.
        bins: Bins per measure.
        quality_threshold: Minimum objective (``-inf``: none).
        min_distance: Near-duplicate latent distance (0: keep near-duplicates).
        clear_levels: Per measure, the least similarity to its (positive, negative) prompt of
            a sample in the top (bottom) bin; None, or a pool without similarities, skips
            this filter.
        verify: Called with (pool indices, their bin rows) of candidates in rank order, a
            chunk at a time; returns which to keep (the judge's agreement).

    Raises:
        InputError: bad ``images`` or ``bins``, or a threshold that is not a number.
    """
    images = whole_number("images", images, low=1, integers_only=True)
    k = len(ranges)
    bins = whole_number("bins", bins, low=1, high=max(1, int(MAX_BINS_TOTAL ** (1.0 / k))), integers_only=True)
    if (
        isinstance(quality_threshold, bool) or not isinstance(quality_threshold, (int, float, np.floating))
        or math.isnan(quality_threshold) or quality_threshold == math.inf
    ):
        raise InputError("quality", quality_threshold, "a number (objective units), or -inf for no threshold")
    ranges = [(float(lo), float(hi)) for lo, hi in ranges]
    finite = np.isfinite(pool.objective) & np.isfinite(pool.measures).all(axis=1)
    ok = np.flatnonzero(finite & (pool.objective >= quality_threshold))
    idx = metrics.bin_indices(pool.measures[ok], ranges, bins) if len(ok) else np.zeros((0, k), dtype=np.int64)
    top, bottom = (idx == bins - 1) & (bins > 1), (idx == 0) & (bins > 1)

    unclear = 0
    sims = pool.similarities[ok] if pool.similarities is not None else None
    if clear_levels is not None and sims is not None and len(ok):
        levels = np.asarray(clear_levels, dtype=np.float64)  # (k, 2)
        clear = ~(top & (sims[:, :, 0] < levels[None, :, 0])) & ~(bottom & (sims[:, :, 1] < levels[None, :, 1]))
        keep = clear.all(axis=1)
        unclear = int((~keep).sum())
        ok, idx, top, bottom, sims = ok[keep], idx[keep], top[keep], bottom[keep], sims[keep]

    flat = np.ravel_multi_index(tuple(idx.T), (bins,) * k) if len(ok) else np.zeros(0, dtype=np.int64)
    lo = np.array([r[0] for r in ranges])
    width = (np.array([r[1] for r in ranges]) - lo) / bins
    measures = pool.measures[ok]
    centre = lo + (idx + 0.5) * width
    closeness = -np.abs(measures - centre) / width  # (m, k), 0 at the bin's centre
    if sims is not None:
        side = np.where(top, sims[:, :, 0], np.where(bottom, sims[:, :, 1], closeness))
    else:  # no similarities (older runs): end bins rank by closeness to the range's end
        ends = np.where(top, lo + bins * width, lo)
        side = np.where(top | bottom, -np.abs(measures - ends) / width, closeness)
    if len(ok):
        ranks = np.stack([_within_bin_rank(side[:, j], flat) for j in range(k)], axis=1)
        representative = ranks.min(axis=1)
        order = np.lexsort((-pool.objective[ok], -representative, flat))
    else:
        order = np.zeros(0, dtype=np.int64)

    # Distinct candidates per bin, most representative first (at most `images` per bin).
    distinct: dict[int, list[int]] = {}
    for pos in order:
        b = int(flat[pos])
        chosen = distinct.setdefault(b, [])
        if len(chosen) >= images:
            continue
        i = int(ok[pos])
        if chosen and min_distance > 0 and np.min(np.linalg.norm(pool.z[chosen] - pool.z[i], axis=1)) < min_distance:
            continue
        chosen.append(i)

    n_bins = bins**k
    even = math.ceil(images / n_bins)
    judged = rejected = 0
    if verify is not None:
        distinct, judged, rejected = _verified(distinct, verify, images=images, n_bins=n_bins, bins=bins, k=k)
    available = np.zeros(n_bins, dtype=np.int64)
    for b, chosen in distinct.items():
        available[b] = len(chosen)
    take = metrics.balanced_counts(available, images)
    indices = np.asarray([i for b in range(n_bins) if take[b] for i in distinct[b][: take[b]]], dtype=np.int64)
    bin_rows = np.asarray(
        [np.unravel_index(b, (bins,) * k) for b in range(n_bins) for _ in range(int(take[b]))], dtype=np.int64
    ).reshape(-1, k)
    short = [bin_label(np.unravel_index(b, (bins,) * k), bins) for b in np.flatnonzero(available < even)]
    return Selection(
        indices=indices,
        bin_index=bin_rows,
        counts=take.reshape((bins,) * k),
        available=available.reshape((bins,) * k),
        short_bins=short,
        even_share=even,
        quality_threshold=float(quality_threshold),
        min_distance=float(min_distance),
        bins=bins,
        unclear=unclear,
        judged=judged,
        rejected_by_judge=rejected,
    )


def _verified(
    distinct: dict[int, list[int]], verify: Verifier, *, images: int, n_bins: int, bins: int, k: int
) -> tuple[dict[int, list[int]], int, int]:
    """Keeps, per bin, the candidates the judge agrees with, judging only as many as needed.

    Each bin is judged in rank order, a chunk at a time, until it holds what the even draw
    would take from it or runs out; bins that run out raise the others' share, so judging
    continues until the draw is stable.
    """
    kept: dict[int, list[int]] = {b: [] for b in distinct}
    cursor = {b: 0 for b in distinct}
    judged = rejected = 0
    while True:
        # Upper bound of what each bin may hold: what it has kept, plus what it has left to judge.
        bound = np.zeros(n_bins, dtype=np.int64)
        for b in distinct:
            bound[b] = len(kept[b]) + (len(distinct[b]) - cursor[b])
        want = metrics.balanced_counts(bound, images)
        todo = [b for b in distinct if len(kept[b]) < want[b] and cursor[b] < len(distinct[b])]
        if not todo:
            return kept, judged, rejected
        for b in todo:
            chunk = distinct[b][cursor[b] : cursor[b] + VERIFY_CHUNK]
            cursor[b] += len(chunk)
            rows = np.tile(np.asarray(np.unravel_index(b, (bins,) * k)), (len(chunk), 1))
            agrees = np.asarray(verify(np.asarray(chunk, dtype=np.int64), rows), dtype=bool)
            judged += len(chunk)
            rejected += int((~agrees).sum())
            kept[b].extend(i for i, a in zip(chunk, agrees) if a)
