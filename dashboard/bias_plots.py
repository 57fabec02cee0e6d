"""Plots of the bias check: a long table of accuracies in, a plotly figure out.

Nothing here knows about gradio or runs the experiment; the figure can be drawn in a
notebook or a test from :meth:`experiments.biascheck.BiasCheckResult.group_summary`.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from experiments.biascheck import CONDITION_NAMES, CONDITIONS

from .plots import QD_COLOUR, RANDOM_COLOUR, _layout

__all__ = ["NONE_COLOUR", "CONDITION_COLOURS", "group_accuracy_bars"]

NONE_COLOUR = "#9ca3af"  # grey: the classifier without fine-tuning
BALANCED_RANDOM_COLOUR = "#f59e0b"  # amber: random samples through the balanced selection
REAL_COLOUR = "#10b981"  # green: balanced real renders, the ceiling
CONDITION_COLOURS = {
    "none": NONE_COLOUR, "random": RANDOM_COLOUR, "balanced_random": BALANCED_RANDOM_COLOUR, "qd": QD_COLOUR, "real": REAL_COLOUR,
}
Y_RANGE = (0.0, 1.05)  # accuracy axis (room above 1 for the error bars)


def group_accuracy_bars(summary: pd.DataFrame, *, title: str = "Accuracy per test group") -> go.Figure:
    """A grouped bar chart: one group of bars per test group, one bar per condition.

    Args:
        summary: Long table with columns ``condition`` (a key of CONDITIONS), ``group``
            (e.g. "blue triangle" or "worst"), ``mean`` (accuracy in [0, 1]) and ``std``
            (NaN when there was one seed: no error bar).
        title: Figure title.

    Returns:
        A plotly figure; bars in CONDITIONS order, groups in the order they first appear.

    Raises:
        ValueError: a missing column or an unknown condition.
    """
    missing = {"condition", "group", "mean", "std"} - set(summary.columns)
    if missing:
        raise ValueError(f"summary: missing columns {sorted(missing)}; expected condition, group, mean, std")
    unknown = set(summary["condition"]) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"summary: unknown conditions {sorted(unknown)}; expected {', '.join(CONDITIONS)}")
    groups = list(dict.fromkeys(summary["group"]))
    labels = [g if g != "worst" else "worst group" for g in groups]
    fig = go.Figure()
    for cond in CONDITIONS:
        rows = summary[summary["condition"] == cond].set_index("group").reindex(groups)
        if rows["mean"].isna().all():
            continue
        std = rows["std"].fillna(0.0)
        fig.add_bar(
            name=CONDITION_NAMES[cond],
            x=labels,
            y=rows["mean"],
            error_y={"type": "data", "array": std, "visible": bool((std > 0).any())},
            marker_color=CONDITION_COLOURS[cond],
            hovertemplate="%{x}<br>" + CONDITION_NAMES[cond] + ": %{y:.3f}<extra></extra>",
        )
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.15, "x": 0.0})
    fig.update_yaxes(title_text="accuracy (mean ± std over seeds)", range=list(Y_RANGE), gridcolor="#e5e7eb")
    return _layout(fig, title=title)
