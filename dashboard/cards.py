"""Small HTML pieces: metric cards with both baselines beside each value, progress bar.

Pure functions of plain numbers; every text comes from :mod:`dashboard.texts`.
"""

from __future__ import annotations

import html
import math
from typing import Mapping

from . import texts

__all__ = ["METRICS", "SIDES", "metric_cards", "progress_bar", "format_seconds"]

METRICS = ("coverage", "uniformity", "judge", "verified", "qd_score", "diversity")  # the cards, in order
SIDES = ("qd", "balanced_random", "random")  # the QD search and its two baselines
PERCENT = ("coverage", "uniformity", "judge", "verified")  # shown as percentages


def _fmt(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name in PERCENT:
        return f"{100 * value:.0f}%"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def metric_cards(figures: Mapping[str, Mapping[str, float | None]], *, judge_note: str = "") -> str:
    """One card per metric: the QD value large, both baselines beside it.

    Args:
        figures: side ("qd", "balanced_random", "random") -> metric name -> value (names
            from ``texts.METRIC_NAMES``; missing or None shows a dash).
        judge_note: Why there are no judge figures (shown in the judge cards' tooltips).

    Returns:
        An HTML fragment; each card carries its explanation as a tooltip (``title``).
    """
    cards = []
    qd = figures.get("qd", {})
    for name in METRICS:
        if all(name not in figures.get(side, {}) for side in SIDES):
            continue
        tip = texts.METRIC_TIPS[name] + (f" ({judge_note})" if judge_note and name in ("judge", "verified") else "")
        baselines = " · ".join(
            f"{texts.SIDE_NAMES[side]}: {_fmt(name, figures.get(side, {}).get(name))}"
            for side in SIDES[1:]
            if name in figures.get(side, {})
        )
        cards.append(
            f'<div class="qdgs-card" title="{html.escape(tip, quote=True)}" data-metric="{name}">'
            f'<div class="qdgs-card-name">{texts.METRIC_NAMES[name]} <span class="qdgs-tip">ⓘ</span></div>'
            f'<div class="qdgs-card-qd">{_fmt(name, qd.get(name))}</div>'
            f'<div class="qdgs-card-rand">{html.escape(baselines)}</div>'
            "</div>"
        )
    return '<div class="qdgs-cards">' + "".join(cards) + "</div>"


def format_seconds(seconds: float) -> str:
    """'12 s', '3 min 05 s'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


def progress_bar(*, evaluations: int, total: int, elapsed: float, state: str) -> str:
    """A progress bar with the evaluation count and the time left.

    Args:
        evaluations: evaluations done.
        total: evaluation budget.
        elapsed: seconds since the run started.
        state: "running", "stopping", "finishing", "stopped", "done" or "idle".
    """
    frac = 0.0 if total <= 0 else min(1.0, evaluations / total)
    if state == "running" and evaluations > 0:
        eta = elapsed * (total - evaluations) / evaluations
        tail = f"about {format_seconds(eta)} left"
    elif state == "stopping":
        tail = "stopping…"
    elif state == "finishing":
        tail = "drawing the samples…"
    elif state == "stopped":
        tail = f"stopped after {format_seconds(elapsed)}; results kept"
    elif state == "done":
        tail = f"finished in {format_seconds(elapsed)}"
    elif state == "running":
        tail = "starting…"
    else:
        tail = ""
    return (
        f'<div class="qdgs-progress" data-state="{state}">'
        f'<div class="qdgs-progress-bar"><div class="qdgs-progress-fill" style="width:{100 * frac:.1f}%"></div></div>'
        f'<div class="qdgs-progress-text">{evaluations:,} / {total:,} evaluations · {html.escape(tail)}</div>'
        "</div>"
    )
