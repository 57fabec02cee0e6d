"""The bias-check tab: its handler on a tiny stand-in budget, bad choices, the plot, the layout."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from experiments.biascheck import GROUP_NAMES, BiasCheckConfig
from core.config import PromptPair
from dashboard import bias_plots, bias_tab
from tests.core import stand_ins

TINY = BiasCheckConfig(
    real_images=200, test_per_group=10, image_size=16, channels=(8, 16), pretrain_epochs=1, finetune_epochs=1,
    generator=stand_ins.NAME, scorer=stand_ins.NAME, objective=PromptPair("a clean shape", "a smudge"),
    evaluations=300, bins=4,
)


def test_handler_runs_and_returns_table_plot_summary():
    seen: list[tuple[float, str]] = []
    table, fig, summary, quadrants = bias_tab.run_check(
        "0.90", 100, 1, base=TINY, on_progress=lambda f, m: seen.append((f, m))
    )
    assert list(table["fine-tuned on"]) == [
        "no fine-tuning", "random samples", "balanced random", "QD (balanced)", "balanced real renders",
    ]
    assert set(GROUP_NAMES) <= set(table.columns) and "worst" in table.columns
    assert isinstance(fig, go.Figure) and [t.name for t in fig.data] == list(table["fine-tuned on"])
    assert "worst-group accuracy" in summary and "Real-data bias 0.90" in summary and "balanced random" in summary
    assert list(quadrants["fine-tuning set"]) == ["random samples", "balanced random", "QD (balanced)"]
    np.testing.assert_allclose(quadrants[list(GROUP_NAMES)].sum(axis=1), 1.0, atol=0.01)
    assert quadrants["judge agrees"].between(0, 1).all()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("search" in m for _, m in seen)


@pytest.mark.parametrize(
    "bias, images, seeds, match",
    [
        ("0.50", 100, 1, "bias: got '0.50'; expected one of 0.98"),
        ("0.90", 0, 1, "images: got 0; expected a whole number from 100 to 2,000"),
        ("0.90", 150.5, 1, "images: got 150.5"),
        ("0.90", 100, 9, "seeds: got 9; expected a whole number from 1 to 5"),
        ("0.90", None, 1, "images: got None"),
    ],
)
def test_bad_choices_are_a_message(bias, images, seeds, match):
    with pytest.raises(gr.Error, match=match):
        bias_tab.run_check(bias, images, seeds, base=TINY)


def test_bars_follow_the_summary():
    summary = pd.DataFrame(
        [
            {"condition": c, "group": g, "mean": m, "std": s}
            for c, m, s in (("none", 0.5, float("nan")), ("random", 0.6, 0.05), ("qd", 0.8, 0.02))
            for g in ("blue triangle", "worst")
        ]
    )
    fig = bias_plots.group_accuracy_bars(summary)
    assert [t.name for t in fig.data] == ["no fine-tuning", "random samples", "QD (balanced)"]
    assert list(fig.data[2].x) == ["blue triangle", "worst group"] and list(fig.data[2].y) == [0.8, 0.8]
    assert list(fig.data[1].error_y.array) == [0.05, 0.05] and fig.data[0].error_y.visible is False
    with pytest.raises(ValueError, match="missing columns"):
        bias_plots.group_accuracy_bars(summary.drop(columns="std"))


def test_tab_builds_inside_blocks():
    with gr.Blocks() as demo, gr.Tab("Does balanced data help?"):
        parts = bias_tab.build_bias_tab(base=TINY)
    assert parts["bias"].value == TINY.bias and parts["seeds"].value == bias_tab.SEEDS_RANGE[2]
    assert any(dep.get("api_name") == "bias_check" for dep in demo.config["dependencies"])
