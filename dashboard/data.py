"""What the plots and galleries need, read from a live search or a finished run.

One small frozen dataclass, :class:`MapData`, carries plain arrays; the plot functions in
:mod:`dashboard.plots` take it apart. Nothing here searches: the live case only reads the
engine's :class:`core.search.Search` between two of its events.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from core import metrics
from core.runs import Run, Samples
from core.search import UNIFORMITY_SAMPLES, Search, uniformity_bins

__all__ = ["MapData", "from_search", "from_run", "density_counts", "history_frame"]


@dataclasses.dataclass(frozen=True)
class MapData:
    """Arrays behind the maps and galleries of one run (live or finished)."""

    labels: tuple[str, ...]  # k measure names
    ranges: tuple[tuple[float, float], ...]  # k (low, high) archive ranges
    resolution: int  # archive cells per measure
    elite_z: np.ndarray  # (e, latent_dim) elites of the result archive
    elite_measures: np.ndarray  # (e, k)
    elite_objective: np.ndarray  # (e,)
    qd_counts: np.ndarray  # (b,) * k: the balanced draw from the QD pool over the uniformity grid
    balanced_random_counts: np.ndarray  # (b,) * k: the same draw from the random samples
    random_counts: np.ndarray  # (b,) * k: plain random samples over the same grid
    random: Samples  # random-baseline samples (for the second gallery)


def density_counts(pool: Samples, random_pool: Samples, ranges: Sequence[tuple[float, float]], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin counts behind the uniformity figures, as :mod:`core.search` defines them.

    QD and balanced random: the even draw of ``min(UNIFORMITY_SAMPLES, n)`` samples from the
    pool and from the random samples; random: that many plain prior samples. All over the
    uniformity grid (:func:`core.metrics.draw_counts`).

    Returns:
        (qd_counts, balanced_random_counts, random_counts), each of shape (bins,) * k.
    """
    bins = uniformity_bins(k)
    ranges = list(ranges)
    draw = lambda samples, balanced: metrics.draw_counts(  # noqa: E731
        samples.measures.reshape(-1, k), ranges, bins, UNIFORMITY_SAMPLES, balanced=balanced
    )
    return draw(pool, True), draw(random_pool, True), draw(random_pool, False)


def _elites(frame: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    meas_cols = [f"measures_{i}" for i in range(k)]
    sol_cols = sorted((c for c in frame.columns if c.startswith("solution_")), key=lambda c: int(c.split("_")[1]))
    return (
        frame[sol_cols].to_numpy(dtype=np.float32),
        frame[meas_cols].to_numpy(dtype=float),
        frame["objective"].to_numpy(dtype=float),
    )


def from_search(search: Search) -> MapData:
    """A snapshot of a live search (call between two of its events)."""
    k = len(search.config.measures)
    z, meas, obj = _elites(search.archive_frame(), k)
    random_pool = search.random_pool
    qd, balanced, rand = density_counts(search.pool, random_pool, search.measure_ranges, k)
    return MapData(
        labels=tuple(m.display_label() for m in search.config.measures),
        ranges=tuple(tuple(map(float, r)) for r in search.measure_ranges),
        resolution=search.config.archive_resolution,
        elite_z=z,
        elite_measures=meas,
        elite_objective=obj,
        qd_counts=qd,
        balanced_random_counts=balanced,
        random_counts=rand,
        random=random_pool,
    )


def from_run(run: Run) -> MapData:
    """The same arrays for a finished (or stopped) run read back from its directory."""
    k = len(run.config.measures)
    z, meas, obj = _elites(run.archive, k)
    qd, balanced, rand = density_counts(run.pool, run.random_pool, run.measure_ranges, k)
    return MapData(
        labels=tuple(run.labels),
        ranges=tuple(tuple(map(float, r)) for r in run.measure_ranges),
        resolution=run.config.archive_resolution,
        elite_z=z,
        elite_measures=meas,
        elite_objective=obj,
        qd_counts=qd,
        balanced_random_counts=balanced,
        random_counts=rand,
        random=run.random_pool,
    )


def history_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Progress events (as dicts) to the frame :func:`dashboard.plots.progress_curves` draws."""
    return pd.DataFrame(list(rows))
