"""The search: events, reproducibility, stop-and-keep, the random baseline, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.config import ALGORITHMS, PromptPair
from core.errors import InputError
from core.runs import Run, list_runs
from core.search import ProgressEvent, iter_search, run_search, uniformity_bins
from tests.core.conftest import small_config


def test_events_and_run_directory(tmp_path, generator, scorer, config):
    events: list[ProgressEvent] = []
    run = run_search(config, run_dir=tmp_path / "run", generator=generator, scorer=scorer, on_event=events.append)
    assert events[-1].done and not events[-1].stopped
    assert not any(e.done for e in events[:-1])
    evals = [e.evaluations for e in events]
    assert evals == sorted(evals) and evals[-1] <= config.evaluations
    assert all(0 <= e.coverage <= 1 and 0 <= e.uniformity <= 1 for e in events)
    assert all(e.random_evaluations == e.evaluations for e in events)
    assert len(run.pool) == evals[-1] == len(run.random_pool) == run.summary["evaluations"]
    assert len(run.history) == len(events)
    assert {"index", "objective", "measures_0", "measures_1", "solution_0"} <= set(run.archive.columns)
    assert len(run.archive) == events[-1].num_elites
    for side in ("qd", "random"):
        assert 0 <= run.summary[side]["coverage"] <= 1
        assert 0 <= run.summary[side]["uniformity"] <= 1
    assert run.summary["prompts"]["measures"][0]["positive"] == "a red shape"
    assert run.config == config
    # The archive's elites are pool samples with the pool's scores.
    row = run.archive.iloc[0]
    sol = row[[f"solution_{i}" for i in range(generator.latent_dim)]].to_numpy(float)
    hit = np.flatnonzero(np.all(np.isclose(run.pool.z, sol), axis=1))
    assert len(hit) and np.isclose(run.pool.objective[hit[0]], row["objective"])


def test_summary_and_last_event_carry_the_judges_figures(tmp_path, generator, scorer, config):
    events = list(iter_search(config, run_dir=tmp_path / "run", generator=generator, scorer=scorer))
    assert all(e.judge_agreement is None for e in events[:-1])  # judged once, at the end
    last = events[-1]
    run = Run.open(tmp_path / "run")
    for side, value in (("qd", last.judge_agreement), ("balanced_random", last.balanced_random_judge_agreement),
                        ("random", last.random_judge_agreement)):
        report = run.summary[side]["judge"]
        assert report["judge"] == "stand-in" and 0 < report["images"] <= 200
        assert value == run.summary[side]["judge_agreement"] == report["agree"] / report["checked"]
    assert run.summary["balanced_random"]["uniformity"] == last.balanced_random_uniformity
    # Without a judge, the figures say why instead of failing the run.
    none = run_search(dataclasses.replace(config, judge="none"), run_dir=tmp_path / "none", generator=generator, scorer=scorer)
    assert none.summary["qd"]["judge_agreement"] is None and "no judge" in none.summary["qd"]["judge"]["note"]


def test_random_baseline_is_prior_samples_scored_the_same(tmp_path, generator, scorer, config):
    run = run_search(config, run_dir=tmp_path / "run", generator=generator, scorer=scorer)
    # The stand-in world is biased: QD covers more than random sampling at equal budget.
    assert run.summary["qd"]["coverage"] > run.summary["random"]["coverage"]
    assert run.summary["qd"]["uniformity"] > run.summary["random"]["uniformity"]


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_seeded_run_is_reproducible(tmp_path, generator, scorer, algorithm):
    cfg = small_config(algorithm=algorithm, evaluations=200)
    a = run_search(cfg, run_dir=tmp_path / "a", generator=generator, scorer=scorer)
    b = run_search(cfg, run_dir=tmp_path / "b", generator=generator, scorer=scorer)
    np.testing.assert_array_equal(a.pool.z, b.pool.z)
    np.testing.assert_array_equal(a.archive.to_numpy(), b.archive.to_numpy())
    np.testing.assert_array_equal(a.random_pool.measures, b.random_pool.measures)
    c = run_search(dataclasses.replace(cfg, seed=cfg.seed + 1), run_dir=tmp_path / "c", generator=generator, scorer=scorer)
    assert not np.array_equal(a.pool.z, c.pool.z)


def test_stop_between_steps_keeps_everything(tmp_path, generator, scorer, config):
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    events = list(iter_search(config, run_dir=tmp_path / "run", generator=generator, scorer=scorer, should_stop=should_stop))
    assert events[-1].done and events[-1].stopped
    assert events[-1].evaluations < config.evaluations
    run = Run.open(tmp_path / "run")
    assert run.summary["status"] == "stopped"
    assert len(run.pool) == events[-1].evaluations == len(run.random_pool)
    assert len(run.archive) == events[-1].num_elites > 0


def test_abandoned_iteration_still_finalises(tmp_path, generator, scorer, config):
    it = iter_search(config, run_dir=tmp_path / "run", generator=generator, scorer=scorer)
    first = next(it)
    it.close()
    run = Run.open(tmp_path / "run")
    assert run.summary["status"] == "stopped"
    assert run.summary["evaluations"] >= first.evaluations


def test_list_runs(tmp_path, generator, scorer, config):
    run_search(config, run_dir=tmp_path / "one", generator=generator, scorer=scorer)
    (tmp_path / "not-a-run").mkdir()
    infos = list_runs(tmp_path)
    assert [i.path.name for i in infos] == ["one"]
    assert infos[0].status == "done" and infos[0].prompts == ["a red shape vs a blue shape", "a triangle vs a square"]
    with pytest.raises(InputError, match="runs root: got .*expected an existing directory"):
        list_runs(tmp_path / "missing")
    with pytest.raises(InputError, match="run directory: got .*expected a finished run directory"):
        Run.open(tmp_path / "not-a-run")


def test_uniformity_grid_has_about_100_cells():
    assert [uniformity_bins(k) for k in (1, 2, 3, 4)] == [100, 10, 5, 3]


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(measures=()), "measures: got 0; expected between 1 and 4"),
        (dict(measures=(PromptPair("a red shape", "a blue shape"),) * 5), "measures: got 5; expected between 1 and 4"),
        (dict(measures=(PromptPair("", "a blue shape"),)), "measure 1 positive prompt: got ''"),
        (dict(measures=(PromptPair("a red shape", "a red shape"),)), "measure 1 prompts: .*two different texts"),
        (dict(measures=(PromptPair("a red shape", "a zebra"),)), "measure 1 negative prompt: got 'a zebra'; expected words"),
        (dict(objective=PromptPair("a clean shape", "  ")), "objective negative prompt"),
        (dict(generator="nope"), "generator: got 'nope'; expected one of"),
        (dict(scorer="nope"), "scorer: got 'nope'; expected one of"),
        (dict(algorithm="cma-xx"), "algorithm: got 'cma-xx'; expected one of jump, cma-maega"),
        (dict(evaluations=0), "evaluations: got 0; expected a whole number from 1 to"),
        (dict(evaluations=-5), "evaluations: got -5"),
        (dict(seed=-1), "seed: got -1"),
        (dict(measure_ranges=((1.0, 0.0), (0.0, 1.0))), "measure 1 range: got \\(1.0, 0.0\\)"),
    ],
)
def test_bad_input_is_named(tmp_path, generator, scorer, overrides, match):
    cfg = small_config(**overrides)
    with pytest.raises(InputError, match=match):
        next(iter_search(cfg, run_dir=tmp_path / "run", generator=generator, scorer=scorer))


def test_run_dir_must_not_hold_other_files(tmp_path, generator, scorer, config):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="run directory: .*expected an empty or new directory"):
        next(iter_search(config, run_dir=target, generator=generator, scorer=scorer))
    assert (target / "notes.txt").read_text() == "mine"


def test_create_run_dir_stays_inside_root(tmp_path):
    from core.runs import create_run_dir

    a = create_run_dir(tmp_path, name="../../etc/evil name")
    b = create_run_dir(tmp_path, name="../../etc/evil name")
    assert a.parent == tmp_path.resolve() == b.parent
    assert a.name == "etc-evil-name" and b.name == "etc-evil-name-2"
    assert create_run_dir(tmp_path).name.startswith("run-")
