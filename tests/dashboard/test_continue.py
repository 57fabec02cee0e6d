"""The Runs tab's Continue (a run of this session to a larger budget) and the server's cluster
setting, called as plain functions on the stand-in models."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from core.errors import ClusterError, InputError
from core.runs import Run
from core.search import Search
from dashboard import handlers
from dashboard.settings import settings_from_env
from tests.dashboard.conftest import SMALL_RUN


def _finished(settings):
    views = list(handlers.run(None, settings=settings, **SMALL_RUN))
    return views[0].state, views


def test_continue_streams_like_run_and_ends_at_the_larger_budget(settings):
    state, first = _finished(settings)
    name = state["current"]
    before = Run.open(Path(state["dir"]) / name)
    views = list(handlers.continue_run(state, name, evaluations=1200, settings=settings))
    assert "data-state=\"running\"" in views[0].progress and f"{before.summary['evaluations']:,} / 1,200" in views[0].progress
    assert len(views) > 2 and all(v.heatmap is not None for v in views[1:])
    final = views[-1]
    assert 'data-state="done"' in final.progress and "/ 1,200 evaluations" in final.progress
    assert final.gallery and final.random_gallery and state["runs"] == [name] and state["current"] == name
    after = Run.open(Path(state["dir"]) / name)
    assert after.summary["budget"] == 1200 and after.summary["evaluations"] > before.summary["evaluations"]
    np.testing.assert_array_equal(after.pool.z[: len(before.pool)], before.pool.z)  # it went on from there
    view = handlers.reopen(state, name, settings=settings)  # the continued run, not the copy kept before
    assert "/ 1,200 evaluations" in view.progress


@pytest.mark.parametrize(
    "name, evaluations, match",
    [
        ("run-999-000000", 1200, r"run: got 'run-999-000000'; expected one of this session's runs"),
        ("../elsewhere", 1200, r"run: got '../elsewhere'"),
        (None, 1200, r"run: got None"),
        ("{current}", 10, r"evaluations: got 10; expected a budget of at least"),
        ("{current}", 10**6, r"evaluations: got 1000000; expected a whole number up to 5,000"),
        ("{current}", "more", r"evaluations: got 'more'"),
        ("{current}", 1e3 + 0.5, r"evaluations: got 1000.5"),
        ("{current}", None, r"evaluations: got None"),
    ],
)
def test_continue_refuses_bad_input_with_a_message(settings, name, evaluations, match):
    state, _ = _finished(settings)
    name = state["current"] if name == "{current}" else name
    with pytest.raises(gr.Error, match=match):
        list(handlers.continue_run(state, name, evaluations=evaluations, settings=settings))


def test_a_lost_cluster_ends_with_the_final_view_and_a_message(settings, monkeypatch):
    """The engine's ClusterError after the run was kept: the page shows the run and says why it stopped."""
    calls = {"n": 0}
    step = Search.step

    def failing_step(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ClusterError("the Dask cluster at tcp://10.0.0.5:8786 is gone: <b>unreachable</b> for 60 s")
        return step(self)

    monkeypatch.setattr(Search, "step", failing_step)
    warnings = []
    monkeypatch.setattr(handlers.gr, "Warning", lambda message, **kw: warnings.append((message, kw)))
    views = list(handlers.run(None, settings=settings, **SMALL_RUN))
    assert 'data-state="stopped"' in views[-1].progress and views[-1].gallery
    (message, kw), = warnings
    assert "is gone" in message and "&lt;b&gt;unreachable&lt;/b&gt;" in message and "--resume" in message
    assert kw["title"] == "The cluster went away"


def test_server_cluster_setting(settings):
    assert settings_from_env({}).backend == "local"
    assert settings_from_env({"QDGS_DASK_ADDRESS": " tcp://10.0.0.5:8786 "}).backend == "tcp://10.0.0.5:8786"
    assert settings_from_env({"QDGS_DASK_ADDRESS": "local-cluster:2"}).backend == "local-cluster:2"
    with pytest.raises(InputError, match=r"QDGS_DASK_ADDRESS: got 'scheduler:8786'; expected local, local-cluster:N"):
        settings_from_env({"QDGS_DASK_ADDRESS": "scheduler:8786"})
    import dataclasses

    config = handlers.build_config(**(SMALL_RUN | {"settings": dataclasses.replace(settings, backend="tcp://10.0.0.5:8786")}))
    assert config.backend == "tcp://10.0.0.5:8786"
    assert handlers.build_config(**(SMALL_RUN | {"settings": settings})).backend == "local"
