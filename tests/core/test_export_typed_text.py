"""Typed text in an export: the dataset card shows prompts and labels literally; odd labels never crash."""

from __future__ import annotations

import re
import zipfile

import pytest

import core  # noqa: F401  (torchvision shim first)
from core.config import PromptPair
from core.export import export_balanced
from core.markdown import escape_markdown
from core.search import run_search
from tests.core.conftest import small_config

LABEL_IMG = "<img src=x onerror=alert(2)>"
LABEL_MATH = "cost $\\frac{ | *big*"  # mathtext that matplotlib cannot parse; a table pipe; emphasis
POSITIVE = "a red shape | a <sharp>red</sharp> **shape**"


@pytest.fixture(scope="module")
def card(tmp_path_factory, generator, scorer):
    measures = (
        PromptPair(POSITIVE, "a blue shape", label=LABEL_IMG),
        PromptPair("a triangle", "a square", label=LABEL_MATH),
    )
    cfg = small_config(measures=measures, objective=PromptPair("a clean shape", "a [smudge](#blurry)"), evaluations=300)
    run = run_search(cfg, run_dir=tmp_path_factory.mktemp("runs") / "r", generator=generator, scorer=scorer)
    out = tmp_path_factory.mktemp("export") / "data.zip"
    result = export_balanced(run, images=20, bins=2, quality_threshold=float("-inf"), out=out, generator=generator, scorer=scorer)
    with zipfile.ZipFile(out) as zf:
        assert zf.read("README.md").decode() == result.card
        assert zf.read("density.png").startswith(b"\x89PNG")  # the mathtext label did not crash the figure
    return result.card


def test_card_escapes_prompts_and_labels(card):
    for text in (LABEL_IMG, LABEL_MATH, POSITIVE, "a [smudge](#blurry)"):
        assert escape_markdown(text) in card
    assert not re.search(r"(?<!\\)<(img|sharp|/sharp)", card)  # every typed "<" is escaped
    assert "](#blurry)" not in card


def test_card_measure_rows_keep_their_five_columns(card):
    rows = [line for line in card.splitlines() if line.startswith("| `measure_")]
    assert len(rows) == 2
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row)) == 6, row  # unescaped pipes: 5 cells
