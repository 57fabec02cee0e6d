"""The command line end to end (subprocess) and every bad-input path (one line, non-zero)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core import cli

REPO = Path(__file__).resolve().parents[2]
# Runs core.cli.main with the stand-in models registered (no weights needed).
LAUNCH = (
    "import sys; from tests.core import stand_ins; stand_ins.register(); "
    "from core.cli import main; sys.exit(main(sys.argv[1:]))"
)
STAND_IN = ["--generator", "stand-in", "--scorer", "stand-in", "--objective", "a clean shape", "a smudge"]
MEASURES = ["--measure", "a red shape", "a blue shape", "--measure", "a triangle", "a square"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_search_export_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "runs" / "one"
    res = _cli("search", *MEASURES, *STAND_IN, "--evaluations", "300", "--batch-size", "16", "--emitters", "2",
               "--algorithm", "map-elites", "--seed", "1", "--out", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert "coverage QD" in res.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert 0 < summary["evaluations"] <= 300 and summary["seconds"] > 0
    for side in ("qd", "random"):
        assert 0 <= summary[side]["coverage"] <= 1 and 0 <= summary[side]["uniformity"] <= 1
    assert [m["positive"] for m in summary["prompts"]["measures"]] == ["a red shape", "a triangle"]
    assert summary["prompts"]["objective"]["negative"] == "a smudge"

    out = tmp_path / "data.zip"
    res = _cli("export", str(run_dir), "--images", "40", "--bins", "3", "--quality", "none", "--out", str(out))
    assert res.returncode == 0, res.stderr
    # As many images as the command reports: 40, or fewer with the short bins named.
    import re

    written, short = (int(v) for v in re.search(r"(\d+) of 40 images, (\d+) short bins", res.stdout).groups())
    assert written == 40 or (30 <= written < 40 and short > 0), res.stdout
    with zipfile.ZipFile(out) as zf:
        assert "train/metadata.csv" in zf.namelist()
        assert sum(n.endswith(".png") and n.startswith("train/") for n in zf.namelist()) == written

    res = _cli("runs", str(tmp_path / "runs"))
    assert res.returncode == 0 and str(run_dir) in res.stdout and "done" in res.stdout


def test_bad_input_in_a_real_process_is_one_line(tmp_path):
    res = _cli("search", "--measure", "a red shape", "", *STAND_IN, "--out", str(tmp_path / "r"))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr
    assert "measure 1 negative prompt" in res.stderr


@pytest.mark.parametrize(
    "argv, match",
    [
        (["search", "--measure", "", "a blue shape", *STAND_IN], "measure 1 positive prompt: got ''; expected a non-empty text"),
        (["search", *(MEASURES * 2), "--measure", "a red shape", "a blue shape", *STAND_IN], "measures: got 5; expected between 1 and 4"),
        (["search", *MEASURES, "--generator", "nope", "--scorer", "stand-in"], "generator: got 'nope'; expected one of"),
        (["search", *MEASURES, "--generator", "stand-in", "--scorer", "nope"], "scorer: got 'nope'; expected one of"),
        (["search", *MEASURES, *STAND_IN, "--evaluations", "0"], "evaluations: got 0; expected a whole number from 1 to"),
        (["search", *MEASURES, *STAND_IN, "--evaluations", "-3"], "evaluations: got -3"),
        (["search", *MEASURES, *STAND_IN, "--evaluations", "many"], "argument --evaluations: invalid int value"),
        (["search", "--measure", "a zebra", "a blue shape", *STAND_IN], "measure 1 positive prompt: got 'a zebra'; expected words the stand-in scorer knows"),
        (["search", *MEASURES, *STAND_IN, "--algorithm", "nsga"], "algorithm: got 'nsga'; expected one of jump, cma-maega"),
        (["search", *MEASURES, *STAND_IN, "--seed", "-1"], "seed: got -1"),
        (["search", *STAND_IN], "one of the arguments --measure --resume is required"),
        (["search", "--measure", "a red shape", *STAND_IN], "argument --measure: expected 2 arguments"),
        (["export", "{tmp}/missing", "--images", "5", "--bins", "2", "--out", "{tmp}/x.zip"], "run directory: got .*expected a finished run directory"),
        (["runs", "{tmp}/missing"], "runs root: got .*expected an existing directory"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_bad_input_exits_with_one_line(argv, match, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "search":
        argv += ["--out", str(tmp_path / "run")]
    try:
        status = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    import re

    assert re.search(match, err), err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from core.search import run_search
    from tests.core import stand_ins
    from tests.core.conftest import small_config

    stand_ins.register()
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    run_search(small_config(evaluations=300), run_dir=run_dir)
    return run_dir


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--images", "0", "--bins", "3"], "images: got 0; expected a whole number >= 1"),
        (["--images", "10", "--bins", "0"], "bins: got 0; expected a whole number from 1 to"),
        (["--images", "10", "--bins", "3", "--quality", "high"], "argument --quality: expected a number or 'none'"),
    ],
)
def test_bad_export_input_exits_with_one_line(finished_run, extra, match, tmp_path, capsys):
    try:
        status = cli.main(["export", str(finished_run), *extra, "--out", str(tmp_path / "x.zip")])
    except SystemExit as exc:
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    import re

    assert re.search(match, err), err
    assert not (tmp_path / "x.zip").exists()


def test_subcommand_registry_hook(capsys):
    seen = {}
    cli.register_subcommand(
        "echo-test",
        help="test only",
        add_arguments=lambda p: p.add_argument("--word", required=True),
        run=lambda args: seen.setdefault("word", args.word) and 0,
    )
    try:
        assert cli.main(["echo-test", "--word", "hi"]) == 0
        assert seen == {"word": "hi"}
    finally:
        cli.SUBCOMMANDS.pop("echo-test")


def test_a_search_validates_its_config_once(tmp_path, monkeypatch, capsys):
    """The CLI leaves validation to core.run.prepare: one pass per run, before any model loads."""
    import core.run
    from tests.core import stand_ins

    stand_ins.register()
    calls = []
    real = core.run.validate_config

    def counted(config, **kwargs):
        calls.append(config)
        return real(config, **kwargs)

    monkeypatch.setattr(core.run, "validate_config", counted)
    status = cli.main(["search", *MEASURES, *STAND_IN, "--evaluations", "64", "--batch-size", "16", "--emitters", "2",
                       "--algorithm", "map-elites", "--quiet", "--out", str(tmp_path / "run")])
    assert status == 0, capsys.readouterr().err
    assert len(calls) == 1 and calls[0].evaluations == 64


def test_a_device_this_machine_lacks_is_refused_before_models_load(tmp_path, monkeypatch, capsys):
    import torch

    import core.models

    if torch.cuda.device_count() > 8:
        pytest.skip("this machine has a ninth GPU")
    monkeypatch.setattr(core.models, "get_models", lambda config: pytest.fail("models loaded before the device check"))
    status = cli.main(["search", *MEASURES, *STAND_IN, "--device", "cuda:8", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: device: got 'cuda:8'"), err
    assert not (tmp_path / "run").exists()
