"""Resumable runs: a resumed run equals one uninterrupted run of the same total budget; the
saved state is arrays plus JSON (no pickle); bad resumes are refused by name."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import cli
from core.config import ALGORITHMS
from core.errors import InputError
from core.run import prepare, resume
from core.search import RANDOM_BLOCK, Search, SearchSettings, _prior_blocks
from core.state import StateError, object_state, read_state, restore_object_state, write_state
from tests.core.conftest import small_config
from tests.core.test_backends import assert_same_run, shapes_config

REPO = Path(__file__).resolve().parents[2]


def run_to_end(config, run_dir, *, settings=SearchSettings(), stop_after=None):
    handle = prepare(config, settings=settings)
    events = []
    stop = (lambda: len(events) >= stop_after) if stop_after else None
    for event in handle.run(run_dir, should_stop=stop, checkpoint_seconds=0):
        events.append(event)
    return handle


def same_history(a, b) -> None:
    """Every figure of every row but the clock and the budget (a row records the budget in force)."""
    drop = ["elapsed", "total_evaluations"]
    left, right = a.history.drop(columns=drop), b.history.drop(columns=drop)
    assert len(left) == len(right)
    for column in left.columns:
        x, y = left[column].to_numpy(), right[column].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y)
        else:
            assert list(x) == list(y), column


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_a_finished_run_resumed_to_a_larger_budget_equals_one_run(tmp_path, algorithm):
    """600 evaluations, then resumed to 1200 == one run of 1200 whose calibration is as large as
    the first run's (120 samples: a fifth of 600; one of 1200 calibrates on 240 by default)."""
    config = small_config(algorithm=algorithm, evaluations=600, judge="none")
    first = run_to_end(config, tmp_path / "run")
    assert first.result.summary["status"] == "done"
    calibrated = first.result.calibration.samples
    assert calibrated == 120

    handle = resume(tmp_path / "run", evaluations=1200)
    assert handle.resume_point.evaluations == first.result.summary["evaluations"]
    events = list(handle.run())
    assert events[0].evaluations == first.result.summary["evaluations"]  # the step the first run ended on
    assert events[-1].done and not events[-1].stopped and events[-1].total_evaluations == 1200

    whole = run_to_end(dataclasses.replace(config, evaluations=1200), tmp_path / "whole",
                       settings=SearchSettings(calibration_samples=calibrated))
    assert_same_run(handle.result, whole.result)
    same_history(handle.result, whole.result)
    saved = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert saved["settings"]["calibration_samples"] == calibrated  # the run it equals, recorded
    assert json.loads((tmp_path / "run" / "config.json").read_text())["evaluations"] == 1200


@pytest.mark.parametrize("algorithm", ["jump", "cma-maega"])
def test_a_stopped_run_resumed_equals_one_uninterrupted_run(tmp_path, algorithm):
    config = small_config(algorithm=algorithm, evaluations=1000, judge="none")
    stopped = run_to_end(config, tmp_path / "run", stop_after=3)
    assert stopped.result.summary["status"] == "stopped"
    handle = resume(tmp_path / "run")  # to its own budget
    list(handle.run())
    whole = run_to_end(config, tmp_path / "whole")
    assert_same_run(handle.result, whole.result)
    same_history(handle.result, whole.result)
    assert handle.result.summary["status"] == "done"


def test_a_killed_run_resumes_from_its_last_saved_state(tmp_path):
    """A process killed mid-run (no finalisation at all) leaves its last saved state; the
    history rows written after it are dropped, and the resumed run equals one whole run."""
    run_dir = tmp_path / "run"
    code = (
        "import os\n"
        "from tests.core import stand_ins; stand_ins.register()\n"
        "from tests.core.conftest import small_config\n"
        "from core.run import prepare\n"
        "h = prepare(small_config(evaluations=1000, judge='none'))\n"
        f"for i, event in enumerate(h.run({str(run_dir)!r}, checkpoint_seconds=3600)):\n"
        "    if i == 3: os._exit(9)  # killed: no finally, no finalisation\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 9, res.stderr
    assert not (run_dir / "summary.json").exists()
    tree, _ = read_state(run_dir / "search_state.safetensors")
    assert len(tree["run"]["history"]) == 1  # saved after the first step only (checkpoints an hour apart)
    assert len((run_dir / "history.csv").read_text().splitlines()) == 1 + 4
    handle = resume(run_dir)
    list(handle.run())
    whole = run_to_end(small_config(evaluations=1000, judge="none"), tmp_path / "whole")
    assert_same_run(handle.result, whole.result)
    same_history(handle.result, whole.result)


@pytest.mark.slow
def test_shapes_world_resume_equals_one_run(tmp_path):
    """The shapes world (its weights in assets/) and its default algorithm, jump."""
    config = shapes_config(evaluations=400)
    first = run_to_end(config, tmp_path / "run")
    handle = resume(tmp_path / "run", evaluations=800)
    list(handle.run())
    whole = run_to_end(dataclasses.replace(config, evaluations=800), tmp_path / "whole",
                       settings=SearchSettings(calibration_samples=first.result.calibration.samples))
    assert_same_run(handle.result, whole.result)


def test_random_draws_do_not_depend_on_the_budget(generator):
    short = _prior_blocks(generator, 700, seed=11)
    long = _prior_blocks(generator, 3 * RANDOM_BLOCK + 5, seed=11)
    assert short.shape == (700, generator.latent_dim) and long.shape == (3 * RANDOM_BLOCK + 5, generator.latent_dim)
    np.testing.assert_array_equal(short, long[:700])
    assert not np.array_equal(long[:RANDOM_BLOCK], long[RANDOM_BLOCK : 2 * RANDOM_BLOCK])  # blocks differ


# ---- the saved state ------------------------------------------------------------------------


def test_saved_state_is_safetensors_with_json_never_pickle(tmp_path):
    run_to_end(small_config(evaluations=300, judge="none"), tmp_path / "run")
    path = tmp_path / "run" / "search_state.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:  # arrays and one text entry: nothing to execute
        tree = json.loads(f.metadata()["qdgs_state"])
        dtypes = {f.get_tensor(k).dtype.kind for k in f.keys()}
    assert dtypes <= set("biuf")
    assert tree["format"] == "qdgs-search-state" and tree["scheduler"]["$object"] == "ribs.schedulers._scheduler.Scheduler"
    assert b"\x80\x04" not in path.read_bytes()[:16]  # not a pickle (protocol 4/5 header)


def test_a_pickle_in_place_of_the_state_is_refused(tmp_path):
    run_to_end(small_config(evaluations=300, judge="none"), tmp_path / "run")
    path = tmp_path / "run" / "search_state.safetensors"
    path.write_bytes(pickle.dumps({"format": "qdgs-search-state"}))
    with pytest.raises(InputError, match=r"run directory: .*saved files can be read \(StateError: .*not a readable saved search state"):
        resume(tmp_path / "run", evaluations=1000)


def test_state_round_trip_keeps_sharing_types_and_rngs(generator, scorer, config):
    """The walker on a live search: restored onto a fresh search of the same config, the next
    ask is the same; numpy scalars keep their type; the archive stays shared by the emitters."""
    a = Search(config, generator=generator, scorer=scorer)
    a.step()
    tree, arrays = a.state()
    b = Search(config, generator=generator, scorer=scorer, state=(tree, arrays))
    assert b.scheduler.emitters[0].archive is b.scheduler.archive
    assert type(b.archive.stats.qd_score) is type(a.archive.stats.qd_score)
    np.testing.assert_array_equal(a.scheduler.ask_dqd(), b.scheduler.ask_dqd())


def test_the_walker_refuses_what_it_cannot_keep(tmp_path):
    class Foreign:  # not a class of ribs or core
        pass

    with pytest.raises(StateError, match=r"cannot save state\['x'\]: an object of .*Foreign"):
        object_state({"x": Foreign()})
    with pytest.raises(StateError, match=r"cannot save state\[0\]: an array of object"):
        object_state([np.array([object()])])
    tree, arrays = object_state({"a": np.arange(3), "n": np.int32(4), "t": (1.5, "x"), "r": np.random.default_rng(3)})
    write_state(tmp_path / "s.safetensors", tree, arrays)
    tree2, arrays2 = read_state(tmp_path / "s.safetensors")
    fresh = {"r": np.random.default_rng(0)}
    out = restore_object_state(fresh, tree2, arrays2)
    assert out["t"] == (1.5, "x") and type(out["n"]) is np.int32 and out["a"].tolist() == [0, 1, 2]
    assert out["r"].integers(1 << 30) == np.random.default_rng(3).integers(1 << 30)
    with pytest.raises(StateError, match=r"saved as .*the new object has"):
        from core.emitters import MeasureJumpEmitter  # noqa: F401 - any walked class

        restore_object_state(None, {"$object": "core.emitters.MeasureJumpEmitter", "fields": {}}, {})
    with pytest.raises(StateError, match="unknown kind of saved value"):
        restore_object_state(None, {"$code": "import os"}, {})


# ---- bad resumes ------------------------------------------------------------------------------


@pytest.fixture
def finished(tmp_path):
    run_to_end(small_config(evaluations=600, judge="none"), tmp_path / "run")
    return tmp_path / "run"


def test_resume_refuses_a_budget_without_room_for_a_step(finished):
    done = json.loads((finished / "summary.json").read_text())["evaluations"]
    step = 2 * 16 + 2  # small_config: 2 emitters of 16, and CMA-MAEGA evaluates each emitter's centre
    with pytest.raises(InputError, match=rf"evaluations: got {done}; expected a budget of at least {done + step:,}: "
                       rf"more than the run's {done} evaluations by one step of {step}$"):
        resume(finished, evaluations=done)
    with pytest.raises(InputError, match=r"evaluations: got 600; .* \(the run has used its budget: give a larger one\)"):
        resume(finished)
    with pytest.raises(InputError, match=r"evaluations: got 2\.5; expected a whole number"):
        resume(finished, evaluations=2.5)
    with pytest.raises(InputError, match=r"evaluations: got 5000; expected at most 1000 on this server"):
        resume(finished, evaluations=5000, max_evaluations=1000)
    with pytest.raises(InputError, match=r"^backend: got 'cluster'"):
        resume(finished, evaluations=1200, backend="cluster")
    with pytest.raises(InputError, match=r"chunk size: got 0"):
        resume(finished, evaluations=1200, chunk_size=0)


def test_resume_refuses_what_is_not_a_saved_run(tmp_path, finished):
    with pytest.raises(InputError, match=r"run directory: .*holding config\.json"):
        resume(tmp_path / "missing", evaluations=1000)
    (finished / "search_state.safetensors").unlink()
    with pytest.raises(InputError, match=r"run directory: .*holding search_state\.safetensors \(runs saved before"):
        resume(finished, evaluations=1000)


def test_cli_resume_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["search", "--measure", "a red shape", "a blue shape", "--measure", "a triangle", "a square",
            "--generator", "stand-in", "--scorer", "stand-in", "--objective", "a clean shape", "a smudge",
            "--evaluations", "400", "--batch-size", "16", "--emitters", "2", "--judge", "none", "--quiet",
            "--chunk-size", "16", "--out", str(run_dir)]
    assert cli.main(argv) == 0
    assert cli.main(["search", "--resume", str(run_dir), "--evaluations", "800", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{run_dir}: " in out.splitlines()[-2]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["budget"] == 800 and 768 <= summary["evaluations"] <= 800
    saved = json.loads((run_dir / "calibration.json").read_text())
    assert saved["settings"]["evaluator"]["chunk_size"] == 16


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--seed", "4"], r"--seed: got 4; expected nothing with --resume: a continued run keeps its own config"),
        (["--device", "cpu"], r"--device: got 'cpu'; expected nothing with --resume"),
        (["--generator-option", "k=1"], r"--generator-option: .*expected nothing with --resume"),
        (["--out", "{tmp}/elsewhere"], r"--out: .*expected nothing with --resume"),
        (["--measure", "a red shape", "a blue shape"], r"argument --measure: not allowed with argument --resume"),
        (["--evaluations", "10"], r"evaluations: got 10; expected a budget of at least"),
        (["--evaluations", "2000", "--backend", "tcp://nowhere"], r"backend: got 'tcp://nowhere'; expected local, local-cluster:N"),
        (["--chunk-size", "0"], r"chunk size: got 0; expected a whole number from 1 to"),
    ],
)
def test_cli_resume_bad_input_is_one_line(finished, tmp_path, capsys, extra, match):
    argv = ["search", "--resume", str(finished), *[a.replace("{tmp}", str(tmp_path)) for a in extra]]
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    import re

    assert re.search(match, err), err


@pytest.mark.parametrize(
    "extra, match",
    [
        ([], r"--out: got None; expected a run directory to write"),
        (["--out", "{tmp}/r", "--backend", "local-cluster:0"], r"backend: got 'local-cluster:0'"),
        (["--out", "{tmp}/r", "--chunk-size", "-1"], r"--chunk-size: got -1; expected a whole number from 1 to"),
    ],
)
def test_cli_new_run_flags_bad_input(tmp_path, capsys, extra, match):
    argv = ["search", "--measure", "a red shape", "a blue shape", "--generator", "stand-in", "--scorer", "stand-in",
            "--objective", "a clean shape", "a smudge", *[a.replace("{tmp}", str(tmp_path)) for a in extra]]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    import re

    assert re.search(match, err), err
