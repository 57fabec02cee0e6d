"""The dashboard's handlers, called as plain functions (no server), on the stand-in models."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from core.errors import InputError
from core.registry import ModelEntry, _GENERATORS
from core.runs import Run
from dashboard import handlers, session
from dashboard.settings import Settings, settings_from_env
from tests.dashboard.conftest import OBJECTIVE, ROWS, SMALL_RUN


def _run_all(state, settings, **overrides):
    return list(handlers.run(state, settings=settings, **(SMALL_RUN | overrides)))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One small finished run shared by the read-only tests of this module."""
    settings = Settings(runs_root=tmp_path_factory.mktemp("runs"), stream_seconds=0.0, gallery_size=12, grid_cells=4)
    views = _run_all(None, settings)
    return settings, views


# ---- settings ----------------------------------------------------------------------------------


def test_settings_defaults_and_caps_from_env(tmp_path):
    s = settings_from_env({"QDGS_MAX_EVALUATIONS": "500", "QDGS_DEFAULT_EVALUATIONS": "9000", "QDGS_RUNS_ROOT": str(tmp_path), "QDGS_CONCURRENCY": "3"})
    assert s.max_evaluations == 500
    assert s.default_evaluations == 500  # never above the cap
    assert s.concurrency == 3
    assert s.resolved_runs_root() == tmp_path.resolve()
    assert settings_from_env({}).max_export_images == Settings().max_export_images


@pytest.mark.parametrize(
    "env, match",
    [
        ({"QDGS_MAX_EVALUATIONS": "lots"}, "QDGS_MAX_EVALUATIONS: got 'lots'; expected a whole number >= 10"),
        ({"QDGS_CONCURRENCY": "0"}, "QDGS_CONCURRENCY: got '0'"),
        ({"QDGS_STREAM_SECONDS": "-1"}, "QDGS_STREAM_SECONDS"),
        ({"QDGS_KEEP_RUNS": "maybe"}, "QDGS_KEEP_RUNS: got 'maybe'; expected 1 or 0"),
    ],
)
def test_settings_reject_bad_env(env, match):
    with pytest.raises(InputError, match=match):
        settings_from_env(env)


# ---- inputs --------------------------------------------------------------------------------------


def test_build_config_skips_empty_rows_and_keeps_labels(settings):
    config = handlers.build_config(**(SMALL_RUN | {"settings": settings}))
    assert [m.display_label() for m in config.measures] == ["colour", "shape"]
    assert config.objective.positive == OBJECTIVE[0]
    assert config.evaluations == SMALL_RUN["evaluations"]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"rows": [("a red shape", "", "")]}, "measure 1 negative prompt"),
        ({"rows": [("", "", "")] * 4}, "measures: got 0"),
        ({"evaluations": 999999}, "evaluations: got 999999; expected at most 5000 on this server"),
        ({"evaluations": 12.5}, "evaluations: got 12.5; expected a whole number"),
        ({"algorithm": "hill-climbing"}, "algorithm: got 'hill-climbing'"),
        ({"rows": [("a red shape", "a red shape", "")]}, "measure 1 prompts"),
    ],
)
def test_build_config_names_the_bad_field(settings, change, match):
    # A value the page cannot turn into a config fails in build_config, the rest when the run
    # is prepared (validated once, with the models and the judge); both before any search.
    with pytest.raises(InputError, match=match):
        handlers.prepare_run(**(SMALL_RUN | change | {"settings": settings}))


def test_run_turns_input_errors_into_gr_error(settings):
    with pytest.raises(gr.Error, match="measure 2 positive prompt.*words the stand-in scorer knows"):
        _run_all(None, settings, rows=[ROWS[0], ("a dodecahedron", "a square", "")])


def test_preset_rows_come_from_the_model_registrations():
    assert handlers.preset_rows("colour x shape") == [
        ("a red shape", "a blue shape", "red vs blue"),
        ("a triangle", "a square", "triangle vs square"),
    ]
    assert handlers.preset_models("colour x shape") == ("shapes", "shapes")
    assert handlers.preset_models("faces") == ("sd-turbo", "openclip") and len(handlers.preset_rows("faces")) == 4
    with pytest.raises(gr.Error, match="preset: got 'nope'"):
        handlers.preset_rows("nope")


def test_unavailable_models_are_listed_with_their_reason(monkeypatch):
    monkeypatch.setitem(
        _GENERATORS, "far-away", ModelEntry("far-away", "x:y", "test", "tests.dashboard.test_handlers:_never_available")
    )
    generators, _, note = handlers.model_choices()
    assert "far-away" not in generators
    assert generators[0] == "shapes"  # the built-in world (its weights ship in assets/) comes first
    assert "far-away" in note and "weights not in the local cache" in note


def _never_available():
    return False, "weights not in the local cache"


# ---- a run ---------------------------------------------------------------------------------------


def test_run_streams_then_shows_everything(finished):
    settings, views = finished
    first, last = views[0], views[-1]
    assert 'data-state="running"' in first.progress and first.heatmap is None
    live = [v for v in views[1:-1] if v.heatmap is not None]
    assert live, "no live update between the first and last view"
    state = first.state
    assert len(state["runs"]) == 1 and state["current"] == state["runs"][0]
    run = Run.open(Path(state["dir"]) / state["current"])
    # the heatmap holds exactly the archive's elites (2 measures, one elite per cell)
    z = np.asarray(last.heatmap.data[0].z, dtype=float)
    assert z.shape == (10, 10)
    assert np.isfinite(z).sum() == len(run.archive) == run.summary["qd"]["num_elites"]
    assert np.nanmax(z) == pytest.approx(run.archive["objective"].max())
    # density maps: QD and random on one shared colour axis
    assert {t.coloraxis for t in last.density.data} == {"coloraxis"}
    assert 'data-state="done"' in last.progress
    assert f"{100 * run.summary['qd']['coverage']:.0f}%" in last.cards
    assert len(last.gallery) == len(last.random_gallery) == settings.gallery_size
    assert last.gallery[0][0].shape == (96, 96, 3)
    shown = last.state["shown"]["elites"]  # what a click on the gallery will show
    assert last.gallery[0][1].startswith("colour ") and last.gallery[0][1].endswith(f"q {shown['objective'][0]:.2f}")
    assert last.runs["value"] == state["current"] and len(last.runs["choices"]) == 1


def test_select_sample_shows_it_large(finished):
    settings, views = finished
    state = views[-1].state
    view = handlers.select_sample(state, "elites", 0, settings=settings)
    assert view.selected_image.shape == (320, 320, 3)
    assert "quality (objective)" in view.selected_text and "latent z" in view.selected_text
    with pytest.raises(gr.Error, match="sample: got 999; expected an image of the gallery: 0 to 11"):
        handlers.select_sample(state, "elites", 999, settings=settings)
    assert handlers.select_sample(state, "elites", None, settings=settings).selected_image is None  # deselected


def test_stop_ends_the_run_early_and_keeps_it(settings):
    stream = handlers.run(None, settings=settings, **(SMALL_RUN | {"evaluations": 5000}))
    first = next(stream)
    state = first.state
    next(stream)  # first live update: the search is under way
    assert handlers.stop(state) is not None
    views = list(stream)
    assert 'data-state="stopped"' in views[-1].progress
    run = Run.open(Path(state["dir"]) / state["current"])
    assert run.summary["status"] == "stopped"
    assert run.summary["evaluations"] < 5000
    assert handlers.stop(state) is None  # nothing running any more


# ---- export ---------------------------------------------------------------------------------------


def test_export_writes_a_balanced_zip_in_the_session(finished):
    settings, views = finished
    state = views[-1].state
    seen = []
    card, fig, path = handlers.export(state, images=40, bins=2, quality_percentile=0, settings=settings, on_progress=lambda f, m: seen.append(f))
    path = Path(path)
    assert Path(state["dir"]).resolve() in path.parents
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith("metadata.csv"))
        rows = list(csv.DictReader(io.StringIO(zf.read(meta_name).decode())))
    # Bins at the ends of a measure take only clear examples of their side, so the stand-in's
    # corner bins may run short; what is written is what is counted and reported.
    assert 1 <= len(rows) <= 40 and len([n for n in names if n.endswith(".png") and n.startswith("train/")]) == len(rows)
    assert int(np.asarray(fig.data[0].z).sum()) == len(rows)
    assert "colour" in card and "What the judge saw" in card
    assert len(rows) == 40 or "short of samples" in card
    assert {r["judge_0"] for r in rows} <= {"positive", "negative", "neither"}
    assert seen and seen[-1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"images": 10**6, "bins": 2, "quality_percentile": 0}, "number of images: got 1000000; expected a whole number from 1 to 2000"),
        ({"images": 10, "bins": 0, "quality_percentile": 0}, "bins per attribute: got 0"),
        ({"images": 10, "bins": 2, "quality_percentile": 100}, "minimum quality percentile: got 100"),
    ],
)
def test_export_rejects_bad_values(finished, kwargs, match):
    settings, views = finished
    with pytest.raises(gr.Error, match=match):
        handlers.export(views[-1].state, settings=settings, **kwargs)


def test_export_before_any_run_says_so(settings):
    with pytest.raises(gr.Error, match="Run a search first"):
        handlers.export(None, images=10, bins=2, quality_percentile=0, settings=settings)


# ---- sessions --------------------------------------------------------------------------------------


def test_sessions_see_only_their_own_runs(finished, settings):
    _, views = finished
    mine = views[-1].state
    other = handlers.start_session(None, settings=settings)
    with pytest.raises(gr.Error, match="run: got 'run-001"):
        handlers.reopen(other, mine["current"], settings=settings)
    with pytest.raises(InputError, match="file: got"):
        session.own_file(other, Path(mine["dir"]) / mine["current"] / "summary.json")
    view = handlers.reopen(mine, mine["current"], settings=settings)
    assert view.runs["value"] == mine["current"] and view.gallery


def test_session_cleanup_removes_its_directory(settings):
    state = handlers.start_session(None, settings=settings)
    assert Path(state["dir"]).is_dir()
    session.cleanup_session(state, keep=True)
    assert Path(state["dir"]).is_dir()
    session.cleanup_session(state)
    assert not Path(state["dir"]).exists()


def test_presets_say_which_models_they_need(monkeypatch):
    from core.config import PRESET_MODELS, PRESETS

    monkeypatch.setitem(PRESETS, "toy", PRESETS[next(iter(PRESETS))])
    monkeypatch.setitem(PRESET_MODELS, "toy", ("stand-in", "stand-in"))
    assert handlers.preset_models("toy") == ("stand-in", "stand-in")
    assert handlers.preset_status("toy") == (True, "")
    monkeypatch.setitem(PRESET_MODELS, "toy", ("far-away", "stand-in"))
    assert handlers.preset_status("toy") == (False, "needs the generator 'far-away', which is not installed")


def test_warm_up_runs_one_step_and_never_raises(caplog, tmp_path, monkeypatch):
    import logging
    import tempfile

    from core.config import PromptPair, RunConfig
    from dashboard.warmup import warm_up

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    measures = (PromptPair("a red shape", "a blue shape"),)
    config = RunConfig(measures=measures, objective=PromptPair(*OBJECTIVE), generator="stand-in", scorer="stand-in", evaluations=1)
    with caplog.at_level(logging.INFO, logger="dashboard.warmup"):
        assert warm_up(config) > 0
        assert "warm-up search done" in caplog.text
        warm_up(RunConfig(measures=measures, generator="nope", scorer="stand-in"))
    assert "warm-up skipped: generator: got 'nope'" in caplog.text
    assert list(tmp_path.iterdir()) == []  # its temporary run directory is gone


def _missing_weights(**kwargs):
    from core.errors import WeightsNotFoundError

    raise WeightsNotFoundError("weights for 'missing' are not in the local cache; run: hf download x")


def test_missing_weights_become_a_message_not_a_traceback(settings, monkeypatch):
    monkeypatch.setitem(_GENERATORS, "missing", ModelEntry("missing", "tests.dashboard.test_handlers:_missing_weights", "test"))
    state = handlers.start_session(None, settings=settings)
    stream = handlers.run(state, settings=settings, **(SMALL_RUN | {"generator": "missing"}))
    with pytest.raises(gr.Error, match="weights for 'missing' are not in the local cache"):
        next(stream)  # refused when the run is prepared, before the first view
    assert state["runs"] == [] and not any(Path(state["dir"]).iterdir())  # nothing half-made is listed or written


def test_three_measures_offer_a_pair_selector(settings):
    rows = [ROWS[0], ROWS[1], ("a green shape", "a blue shape", "green"), ("", "", "")]
    views = _run_all(None, settings, rows=rows, evaluations=300)
    pairs = views[-1].pairs
    assert pairs["visible"] and [v for _, v in pairs["choices"]] == ["0,1", "0,2", "1,2"]
    state = views[-1].state
    view = handlers.change_pair(state, "1,2", settings=settings)
    assert view.heatmap.layout.xaxis.title.text == "shape" and view.heatmap.layout.yaxis.title.text == "green"
    assert view.density.layout.xaxis.title.text == "shape"
    assert view.gallery and state["shown"]["labels"] == ["colour", "shape", "green"]
