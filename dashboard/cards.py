"""Small HTML pieces: metric cards with the random baseline beside each value, progress bar.

Pure functions of plain numbers; every text comes from :mod:`dashboard.texts`.
"""

from __future__ import annotations

import html
import math
from typing import Mapping

from . import texts

__all__ = ["METRICS", "metric_cards", "progress_bar", "format_seconds"]

METRICS = ("coverage", "uniformity", "qd_score", "diversity")  # the cards, in order


def _fmt(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name in ("coverage", "uniformity"):
        return f"{100 * value:.0f}%"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def metric_cards(qd: Mapping[str, float | None], random: Mapping[str, float | None]) -> str:
    """One card per metric: the QD value large, the random baseline beside it.

    Args:
        qd: metric name -> value for the QD search (names from ``texts.METRIC_NAMES``).
        random: the same names for random sampling (missing or None shows a dash).

    Returns:
        An HTML fragment; each card carries its explanation as a tooltip (``title``).
    """
    cards = []
    for name in METRICS:
        if name not in qd and name not in random:
            continue
        tip = html.escape(texts.METRIC_TIPS[name], quote=True)
        cards.append(
            f'<div class="qdgs-card" title="{tip}" data-metric="{name}">'
            f'<div class="qdgs-card-name">{texts.METRIC_NAMES[name]} <span class="qdgs-tip">ⓘ</span></div>'
            f'<div class="qdgs-card-qd">{_fmt(name, qd.get(name))}</div>'
            f'<div class="qdgs-card-rand">random: {_fmt(name, random.get(name))}</div>'
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
