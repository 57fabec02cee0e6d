"""Plot functions: plain data in (numpy arrays, DataFrames), a plotly figure out.

Nothing here knows about gradio or about a run directory, so every figure can be drawn in a
notebook or a test from arrays. Colours and font sizes are chosen for a projector. Plotly
renders a subset of HTML in titles (``<b>``, ``<a href>``, ``<br>``...): every measure label,
which a person typed, goes through :func:`plain` first.
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core import metrics

__all__ = [
    "QD_COLOUR",
    "RANDOM_COLOUR",
    "cell_grid",
    "archive_heatmap",
    "density_maps",
    "export_density_map",
    "progress_curves",
    "placeholder",
    "plain",
]

QD_COLOUR = "#4338ca"  # indigo: everything about the QD search
RANDOM_COLOUR = "#ea580c"  # orange: everything about the random baseline
FONT_SIZE = 16  # base font of every figure (readable on a projector)
HEIGHT = 440  # pixels
OBJECTIVE_SCALE = "Viridis"  # colour scale of quality
DENSITY_SCALE = "Blues"  # colour scale of sample density


def plain(text: str) -> str:
    """``text`` for a plotly title or axis title, shown literally (plotly decodes ``&lt;``,
    ``&gt;`` and ``&amp;`` back, so a typed ``<b>`` is shown as typed, not made bold)."""
    return html.escape(str(text), quote=False)


def _layout(fig: go.Figure, *, title: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left"},
        font={"size": FONT_SIZE},
        height=height,
        margin={"l": 70, "r": 30, "t": 70, "b": 60},
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    return fig


def placeholder(text: str, *, height: int = HEIGHT) -> go.Figure:
    """An empty figure carrying a short message ("Run a search to see ...")."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 18, "color": "#6b7280"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title="", height=height)


def _check_axes(measures: np.ndarray, axes: Sequence[int]) -> tuple[int, ...]:
    k = measures.shape[1]
    axes = tuple(int(a) for a in axes)[: min(2, k)]
    if k >= 2 and (len(axes) != 2 or axes[0] == axes[1]):
        raise ValueError(f"axes: got {axes}; expected two different measure indices below {k}")
    if any(not 0 <= a < k for a in axes):
        raise ValueError(f"axes: got {axes}; expected measure indices below {k}")
    return axes


def cell_grid(
    values: np.ndarray,
    ranges: Sequence[tuple[float, float]],
    bins: int,
) -> np.ndarray:
    """Grid cell of each sample along each measure (the engine's binning, clipped into range).

    Args:
        values: (n, k) measures.
        ranges: k (low, high) pairs.
        bins: cells per measure.

    Returns:
        (n, k) int array of cell indices in [0, bins).
    """
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    return metrics.bin_indices(values, list(ranges)[: values.shape[1]], bins)


def _edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """Centres of the bins (used as heatmap coordinates)."""
    step = (hi - lo) / bins
    return lo + step * (np.arange(bins) + 0.5)


def _grid_2d(
    measures: np.ndarray,
    weights: np.ndarray | None,
    ranges: Sequence[tuple[float, float]],
    bins: int,
    axes: tuple[int, ...],
    reduce: str,
) -> np.ndarray:
    """(bins_y, bins_x) grid of the max of ``weights`` ('max') or of counts ('count')."""
    cells = cell_grid(measures, ranges, bins)
    ix = cells[:, axes[0]]
    iy = cells[:, axes[1]] if len(axes) == 2 else np.zeros(len(cells), dtype=int)
    rows = bins if len(axes) == 2 else 1
    if reduce == "count":
        grid = np.zeros((rows, bins))
        np.add.at(grid, (iy, ix), 1.0)
        return grid
    grid = np.full((rows, bins), np.nan)
    for y, x, w in zip(iy, ix, weights):
        if np.isnan(grid[y, x]) or w > grid[y, x]:
            grid[y, x] = w
    return grid


def archive_heatmap(
    *,
    measures: np.ndarray,
    objective: np.ndarray,
    ranges: Sequence[tuple[float, float]],
    resolution: int,
    labels: Sequence[str],
    axes: Sequence[int] = (0, 1),
    title: str = "Archive: best quality found in each cell",
) -> go.Figure:
    """Heatmap of the archive: each cell is one combination of the measures, colour = objective.

    With more than two measures, a cell shows the best elite over the measures not drawn.

    Args:
        measures: (n, k) measures of the elites.
        objective: (n,) objective of the elites.
        ranges: k (low, high) measure ranges of the archive.
        resolution: cells per measure.
        labels: k measure names for the axes.
        axes: the two measures to draw (one with a single measure).
        title: figure title.

    Raises:
        ValueError: ``axes`` does not name two different measures.
    """
    measures = np.asarray(measures, dtype=float).reshape(len(measures), -1)
    objective = np.asarray(objective, dtype=float).reshape(-1)
    axes = _check_axes(measures, axes) if len(measures) else tuple(axes)[: min(2, len(labels))]
    grid = _grid_2d(measures, objective, ranges, resolution, axes, "max") if len(measures) else np.full(
        (resolution if len(axes) == 2 else 1, resolution), np.nan
    )
    x = _edges(*ranges[axes[0]], resolution)
    y = _edges(*ranges[axes[1]], resolution) if len(axes) == 2 else ["all"]
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=x,
            y=y,
            colorscale=OBJECTIVE_SCALE,
            colorbar={"title": {"text": "quality"}},
            hovertemplate="%{x:.2f}, %{y}<br>quality %{z:.3f}<extra></extra>",
            hoverongaps=False,
        )
    )
    filled = int(np.isfinite(grid).sum())
    fig.update_xaxes(title_text=plain(labels[axes[0]]), showgrid=False)
    fig.update_yaxes(title_text=plain(labels[axes[1]]) if len(axes) == 2 else "", showgrid=False)
    return _layout(fig, title=f"{title} ({filled} of {grid.size} cells filled)")


def _project(counts: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """(rows, cols) grid of counts along ``axes`` (summed over the other measures); rows = 2nd axis."""
    counts = np.asarray(counts, dtype=float)
    others = tuple(i for i in range(counts.ndim) if i not in axes)
    grid = counts.sum(axis=others) if others else counts
    if len(axes) == 1:
        return grid.reshape(1, -1)
    return grid.T if axes[0] < axes[1] else grid


def density_maps(
    *,
    panels: Sequence[tuple[str, np.ndarray]],
    ranges: Sequence[tuple[float, float]],
    labels: Sequence[str],
    axes: Sequence[int] = (0, 1),
) -> go.Figure:
    """Where the samples fall, one panel per method, side by side on the same bins and colours.

    Each panel shows the share of that method's samples in each cell (percent), so the panels
    are comparable whatever their sample counts; one colour bar serves all. With more than two
    measures, the measures not drawn are summed over.

    Args:
        panels: (title, samples per bin of shape (bins,) * k) per method, e.g. the QD search,
            balanced random and plain random.
        ranges: k (low, high) measure ranges (for the axis values).
        labels: k measure names.
        axes: the two measures to draw (one with a single measure).

    Raises:
        ValueError: no panel, count arrays of different shapes, or ``axes`` is not two
            different measures.
    """
    if not panels:
        raise ValueError("panels: got none; expected at least one (title, counts)")
    counts_list = [np.asarray(c) for _, c in panels]
    shape = counts_list[0].shape
    for (title, _), counts in zip(panels, counts_list):
        if counts.shape != shape:
            raise ValueError(f"counts of {title!r}: got shape {counts.shape}; expected {shape} like the first panel")
    k = len(shape)
    axes = _check_axes(np.zeros((0, k)), axes)
    bins = shape[axes[0]]
    grids, totals = [], []
    for counts in counts_list:
        grid = _project(counts, axes)
        totals.append(int(grid.sum()))
        grids.append(100.0 * grid / grid.sum() if grid.sum() > 0 else grid.astype(float))
    zmax = max(float(g.max()) for g in grids) or 1.0
    x = _edges(*ranges[axes[0]], bins)
    y = _edges(*ranges[axes[1]], shape[axes[1]]) if len(axes) == 2 else ["all"]
    fig = make_subplots(
        rows=1,
        cols=len(panels),
        shared_yaxes=True,
        horizontal_spacing=0.05,
        subplot_titles=[f"{plain(title)} ({total} samples)" for (title, _), total in zip(panels, totals)],
    )
    for col, grid in enumerate(grids, start=1):
        fig.add_trace(
            go.Heatmap(
                z=np.where(grid > 0, grid, np.nan),
                x=x,
                y=y,
                coloraxis="coloraxis",
                hovertemplate="%{x:.2f}, %{y}<br>%{z:.1f}% of samples<extra></extra>",
                hoverongaps=False,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=plain(labels[axes[0]]), showgrid=False, row=1, col=col)
    fig.update_yaxes(title_text=plain(labels[axes[1]]) if len(axes) == 2 else "", showgrid=False, row=1, col=1)
    fig.update_layout(coloraxis={"colorscale": DENSITY_SCALE, "cmin": 0.0, "cmax": zmax, "colorbar": {"title": {"text": "% of samples"}}})
    fig.update_annotations(font_size=FONT_SIZE + 1)
    return _layout(fig, title="Where the samples land (same bins, same colours)")


def export_density_map(*, counts: np.ndarray, labels: Sequence[str], bin_labels: Sequence[Sequence[str]] | None = None) -> go.Figure:
    """Images per bin of an exported dataset (first two measures; summed over the others).

    Args:
        counts: per-bin counts, shape (bins,) * k.
        labels: k measure names.
        bin_labels: optional k lists of bin names for the ticks.
    """
    counts = np.asarray(counts, dtype=float)
    k = counts.ndim
    if k > 2:
        counts = counts.sum(axis=tuple(range(2, k)))
    grid = counts.T if k >= 2 else counts.reshape(1, -1)  # rows = second measure
    x = list(bin_labels[0]) if bin_labels else list(range(grid.shape[1]))
    y = (list(bin_labels[1]) if bin_labels else list(range(grid.shape[0]))) if k >= 2 else ["all"]
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=[str(v) for v in x],
            y=[str(v) for v in y],
            colorscale=DENSITY_SCALE,
            zmin=0,
            text=grid.astype(int),
            texttemplate="%{text}",
            colorbar={"title": {"text": "images"}},
            hovertemplate="%{x}, %{y}: %{z:.0f} images<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=plain(labels[0]), type="category")
    fig.update_yaxes(title_text=plain(labels[1]) if k >= 2 else "", type="category")
    return _layout(fig, title=f"Exported dataset: {int(counts.sum())} images in {counts.size} bins", height=380)


def progress_curves(history: pd.DataFrame, *, total: int | None = None) -> go.Figure:
    """Coverage and uniformity over evaluations, QD (solid) vs random sampling (dashed).

    Args:
        history: one row per progress event with columns ``evaluations``, ``coverage``,
            ``uniformity`` and, when known, ``random_coverage``, ``random_uniformity``.
        total: the evaluation budget; fixes the x axis to [0, total] so the curves grow
            into a stable frame while the search runs.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=("Coverage", "Uniformity"))
    for col, name in enumerate(("coverage", "uniformity"), start=1):
        if name in history:
            fig.add_trace(
                go.Scatter(
                    x=history["evaluations"], y=history[name], mode="lines+markers", name="QD search",
                    line={"color": QD_COLOUR, "width": 3}, showlegend=col == 1,
                ),
                row=1, col=col,
            )
        rand = f"random_{name}"
        if rand in history and history[rand].notna().any():
            known = history[history[rand].notna()]
            fig.add_trace(
                go.Scatter(
                    x=known["evaluations"], y=known[rand], mode="lines+markers", name="Random sampling",
                    line={"color": RANDOM_COLOUR, "width": 3, "dash": "dash"}, showlegend=col == 1,
                ),
                row=1, col=col,
            )
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", gridcolor="#e5e7eb", row=1, col=col)
        fig.update_xaxes(
            title_text="evaluations", gridcolor="#e5e7eb", row=1, col=col,
            range=[0, total * 1.02] if total else None, rangemode="tozero",
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.25, "x": 0.5, "xanchor": "center"})
    fig.update_annotations(font_size=FONT_SIZE + 1)
    return _layout(fig, title="", height=380)
