"""The "Does balanced data help?" tab: run the bias check, see a table and a bar chart.

Mount it inside a tab of the page::

    with gr.Tab("Does balanced data help?", id="bias"):
        bias_tab.build_bias_tab()

:func:`run_check` is the handler (plain data in and out, no server needed); the experiment
itself lives in :mod:`experiments.biascheck`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Callable

import gradio as gr
import pandas as pd

from core.checks import whole_number
from experiments.biascheck import (
    BIAS_LEVELS,
    CONDITION_NAMES,
    GROUP_NAMES,
    SYNTHETIC_SETS,
    BiasCheckConfig,
    BiasCheckProgress,
    run_bias_check,
)

from . import bias_plots
from .messages import shown_as_messages
from .plots import placeholder

__all__ = ["build_bias_tab", "run_check", "DEFAULT_CONFIG", "IMAGES_RANGE", "SEEDS_RANGE"]

log = logging.getLogger(__name__)

DEFAULT_CONFIG = BiasCheckConfig()  # everything the page does not ask for comes from here
IMAGES_RANGE = (100, 2000, DEFAULT_CONFIG.images)  # synthetic images per condition: min, max, default
SEEDS_RANGE = (1, 5, DEFAULT_CONFIG.seeds)  # seeds: min, max, default
IMAGES_STEP = 100
BIAS_CONCURRENCY = 1  # bias checks running at once (each keeps the CPU busy for minutes)
CACHE_ENTRIES = 12  # synthetic sets (one search each) kept across clicks and sessions

_CACHE: dict = {}  # synthetic sets by generator and seed, shared by sessions (plain CPU data)
_CACHE_LOCK = threading.Lock()

INTRO = (
    "A small classifier learns *triangle vs square* from biased renders, where colour goes with shape "
    "(red triangles, blue squares). It is then fine-tuned on **QD** data (a balanced export of a search over "
    "*red vs blue* x *triangle vs square*), on **balanced random** data (the generator's random samples put through "
    "the same balanced selection: the honest baseline), on **random** samples (as many as QD), on **balanced real "
    "renders** (the ceiling), or on nothing, and tested on balanced held-out renders. Synthetic images are labelled "
    "by their triangle-vs-square measure, as the method does; an independent judge reads each synthetic set. The bias "
    "level is that of the classifier's real training data; the shipped generator was trained once, at its own bias "
    "level. One bias level with 3 seeds takes a few minutes on a CPU."
)


def _summary_markdown(result) -> str:
    t = result.table()
    worst = {c: t.loc[c, ("worst", "mean")] for c in t.index}
    gen_bias = result.generator_bias() or "an unknown level"
    n = int(result.synthetic.loc[result.synthetic["set"] == "qd", "images"].min())
    lines = []
    for baseline in ("random", "balanced_random"):
        verdict = "beat" if result.qd_beats(baseline) else "did **not** beat"
        lines.append(
            f"**QD {verdict} {CONDITION_NAMES[baseline]} on worst-group accuracy**: "
            f"{worst['qd']:.3f} vs {worst[baseline]:.3f}"
        )
    return (
        "  \n".join(lines)
        + f" (mean over {result.config.seeds} seed{'s' if result.config.seeds > 1 else ''}); "
        f"balanced real renders (the ceiling): {worst['real']:.3f}.  \n"
        f"Real-data bias {result.config.bias}; generator trained at bias {gen_bias}; {n} QD images per seed; "
        f"{result.seconds:.0f} s."
    )


def _quadrant_table(result) -> pd.DataFrame:
    """Share of each measure quadrant in the synthetic fine-tuning sets and the judge's agreement,
    averaged over seeds."""
    columns = ["images", *GROUP_NAMES, "judge_agreement", "judge_not_clean"]
    shares = result.synthetic.groupby("set")[columns].mean().reindex(list(SYNTHETIC_SETS))
    shares.index = [CONDITION_NAMES[s] for s in SYNTHETIC_SETS]
    shares = shares.rename(columns={"judge_agreement": "judge agrees", "judge_not_clean": "judge: not clean"})
    return shares.round(3).rename_axis("fine-tuning set").reset_index()


def run_check(
    bias: str,
    images: float,
    seeds: float,
    *,
    base: BiasCheckConfig = DEFAULT_CONFIG,
    on_progress: Callable[[float, str], None] | None = None,
) -> tuple[pd.DataFrame, Any, str, pd.DataFrame]:
    """Runs the bias check for the page.

    Args:
        bias: A key of BIAS_LEVELS (the real data's bias).
        images: Synthetic images per condition (IMAGES_RANGE).
        seeds: Number of seeds (SEEDS_RANGE).
        base: Every other setting of the experiment.
        on_progress: Called as ``on_progress(fraction, message)``.

    Returns:
        (table of mean ± std per condition, grouped bar chart, summary markdown, share of each
        measure quadrant in the fine-tuning sets).

    Raises:
        gr.Error: a bad choice (the engine's message), missing weights, or a failed run.
    """
    with shown_as_messages():
        images = whole_number("images", images, low=IMAGES_RANGE[0], high=IMAGES_RANGE[1])
        seeds = whole_number("seeds", seeds, low=SEEDS_RANGE[0], high=SEEDS_RANGE[1])
        config = dataclasses.replace(base, bias=bias, images=images, seeds=seeds)

        def progress(p: BiasCheckProgress) -> None:
            if on_progress is not None:
                where = f"seed {p.seed}: " if p.seed is not None else ""
                on_progress(p.done / p.total, f"{where}{p.stage} {p.detail}".strip())

        with _CACHE_LOCK:
            cache = dict(_CACHE)  # a private view: concurrent clicks never see a half-written entry
        result = run_bias_check(config, cache=cache, on_progress=progress)
        with _CACHE_LOCK:
            _CACHE.update(cache)
            while len(_CACHE) > CACHE_ENTRIES:
                _CACHE.pop(next(iter(_CACHE)))
    fig = bias_plots.group_accuracy_bars(
        result.group_summary(), title=f"Accuracy per test group, real-data bias {result.config.bias}"
    )
    return result.display_table(), fig, _summary_markdown(result), _quadrant_table(result)


def build_bias_tab(*, base: BiasCheckConfig = DEFAULT_CONFIG) -> dict[str, gr.components.Component]:
    """Creates the tab's components inside the enclosing ``gr.Tab`` (or Blocks) context.

    Args:
        base: Settings of the experiment other than bias, images and seeds.

    Returns:
        The components by name (for tests and for wiring by the page).
    """
    gr.Markdown("### Does balanced data help?")
    gr.Markdown(INTRO, elem_classes="qdgs-help")
    with gr.Row():
        bias = gr.Dropdown(list(BIAS_LEVELS), value=base.bias, label="Bias of the real data: P(red | triangle)")
        images = gr.Slider(IMAGES_RANGE[0], IMAGES_RANGE[1], value=IMAGES_RANGE[2], step=IMAGES_STEP,
                           label="Synthetic images per condition")
        seeds = gr.Slider(SEEDS_RANGE[0], SEEDS_RANGE[1], value=SEEDS_RANGE[2], step=1, label="Seeds")
    run_btn = gr.Button("Run the bias check", variant="primary", elem_id="qdgs-bias-run")
    summary = gr.Markdown("Run the check to see whether QD data helps the rare groups.", elem_id="qdgs-bias-summary")
    table = gr.Dataframe(label="Accuracy (mean ± std over seeds)", interactive=False, elem_id="qdgs-bias-table")
    plot = gr.Plot(placeholder("Run the bias check to see accuracy per group."), label="Accuracy per test group",
                   elem_id="qdgs-bias-plot")
    quadrants = gr.Dataframe(label="What the synthetic fine-tuning sets hold (share of each measure quadrant; the judge's check)",
                             interactive=False, elem_id="qdgs-bias-quadrants")

    def do_run(b, n, s, progress=gr.Progress()):
        return run_check(b, n, s, base=base, on_progress=lambda f, m: progress(f, desc=m))

    run_btn.click(do_run, inputs=[bias, images, seeds], outputs=[table, plot, summary, quadrants],
                  api_name="bias_check", concurrency_id="bias-check", concurrency_limit=BIAS_CONCURRENCY,
                  show_progress="full")
    return {"bias": bias, "images": images, "seeds": seeds, "run": run_btn, "summary": summary, "table": table,
            "plot": plot, "quadrants": quadrants}
