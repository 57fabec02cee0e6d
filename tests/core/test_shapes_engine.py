"""The engine on the shipped shapes world (skipped until its weights are in assets/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import core
from core.config import PRESETS, RunConfig
from core.errors import QDGSError

REPO = Path(__file__).resolve().parents[2]


def _shapes_models():
    try:
        return core.load_generator("shapes"), core.load_scorer("shapes")
    except (QDGSError, ImportError, FileNotFoundError) as exc:
        pytest.skip(f"shapes world not available yet: {exc}")


@pytest.fixture(scope="module")
def shapes():
    return _shapes_models()


@pytest.mark.slow
def test_qd_beats_random_on_the_biased_shapes_world(tmp_path, shapes):
    from core.export import export_balanced
    from core.search import run_search

    generator, scorer = shapes
    config = RunConfig(measures=PRESETS["colour x shape"], evaluations=1200, seed=0)
    run = run_search(config, run_dir=tmp_path / "run", generator=generator, scorer=scorer)
    qd, rnd = run.summary["qd"], run.summary["random"]
    assert qd["coverage"] > rnd["coverage"]
    assert qd["uniformity"] > rnd["uniformity"]
    result = export_balanced(run, images=200, bins=5, out=tmp_path / "d.zip", generator=generator, scorer=scorer)
    assert result.metrics["qd"]["uniformity"] > result.metrics["random"]["uniformity"]


@pytest.mark.slow
def test_cli_search_with_shapes_and_unknown_word(tmp_path, shapes):
    res = subprocess.run(
        [sys.executable, "-m", "core", "search", "--measure", "a red shape", "a blue shape", "--measure", "a triangle",
         "a square", "--evaluations", "300", "--quiet", "--out", str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {"evaluations", "seconds", "qd", "random", "prompts"} <= set(summary)
    res = subprocess.run(
        [sys.executable, "-m", "core", "search", "--measure", "a zorblax", "a blue shape", "--out", str(tmp_path / "bad")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "measure 1 positive prompt" in res.stderr


@pytest.mark.slow
def test_the_judge_confirms_rare_combinations_on_the_shapes_world(tmp_path, shapes):
    """The search's rare combinations are real (the judge reads the pixels), and more of them
    than the same budget of random samples through the same selection gives."""
    from core.search import run_search

    generator, scorer = shapes
    config = RunConfig(measures=PRESETS["colour x shape"], evaluations=3000, seed=0)
    run = run_search(config, run_dir=tmp_path / "run", generator=generator, scorer=scorer)
    summary = run.summary
    assert summary["algorithm"] == "jump" and summary["judge"]["name"] == "shapes"

    def rare(side: str) -> int:  # blue triangles and red squares the judge agrees with
        per_bin = summary[side]["judge"]["per_bin"]
        return sum(per_bin.get(folder, {}).get("agree", 0) for folder in ("b0_1", "b1_0"))

    # The summary's draw is 200 images over 2 x 2 bins; over seeds 0-3 its agreement was
    # 0.875-0.98 and its not-clean share 0.02-0.125 (benchmarks/README.md has the full exports).
    assert summary["qd"]["judge_agreement"] >= 0.85
    assert summary["qd"]["judge_not_clean"] <= 0.15
    assert rare("qd") >= 3 * max(1, rare("balanced_random"))
    assert summary["qd"]["verified_uniformity"] > summary["balanced_random"]["verified_uniformity"]
