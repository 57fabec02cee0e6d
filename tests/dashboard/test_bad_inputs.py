"""The bad-input corpus: hostile and broken input through the dashboard's handlers and the CLI.

Every case must end in a clear message that names the field (a ``gr.Error`` from a handler, or
status 2 with one line on stderr from ``python -m core``), never a traceback, a crash or a
silent acceptance, and must leave the session's earlier run listed and openable.

``benchmarks/bad_inputs.py`` runs the same corpus and counts the outcomes (benchmarks/README.md,
"Bad input (issue 12)").
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import re
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from core import cli
from core.config import MAX_LABEL_CHARS, MAX_PROMPT_CHARS, MAX_SEED
from core.runs import Run
from dashboard import handlers
from dashboard.settings import Settings
from tests.core import stand_ins
from tests.dashboard.conftest import ROWS, SMALL_RUN

BLANK = ("", "", "")
FOUR = [ROWS[0], ROWS[1], ("a green shape", "a blue shape", "green"), ("a clean shape", "a smudge", "clean")]
STAND_IN = ["--generator", "stand-in", "--scorer", "stand-in", "--objective", "a clean shape", "a smudge"]
MEASURE = ["--measure", "a red shape", "a blue shape"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input: where it goes, what is sent, and the field the message must name."""

    id: str
    target: str  # "run", "export", "reopen", "pair", "select" (handlers) or "cli"
    args: Any  # handler: keyword overrides; cli: argv ("{run}" = the session's run directory, "{tmp}" = a scratch folder)
    field: str  # regular expression of the field's name, at the start of the message


def _rows(*rows) -> dict:
    return {"rows": [*rows, *[BLANK] * (4 - len(rows))]}


CORPUS: list[Case] = [
    # ---- prompts (run) ----
    Case("prompts-equal-but-case-and-spaces", "run", _rows(("A red shape", "a red shape ", ""), ROWS[1]), "measure 1 prompts"),
    Case("prompts-equal-phrasings-reordered", "run", _rows(ROWS[0], ("a triangle | a square", "a square|A  triangle", "")), "measure 2 prompts"),
    Case("prompts-scorer-reads-alike", "run", _rows(("a red shape", "the red shape", ""), ROWS[1]), "measure 1 prompts"),
    Case("prompt-empty", "run", _rows(("", "a blue shape", "colour")), "measure 1 positive prompt"),
    Case("prompt-whitespace", "run", _rows(("a red shape", " \t ", "")), "measure 1 negative prompt"),
    Case("prompt-only-pipes", "run", _rows(("| |", "a blue shape", "")), "measure 1 positive prompt"),
    Case("prompts-all-rows-empty", "run", _rows(), "measures"),
    Case("prompt-unknown-words", "run", _rows(ROWS[0], ("a dodecahedron", "a square", "")), "measure 2 positive prompt"),
    Case("prompt-emoji-only", "run", _rows(("🔴🔺", "a blue shape", "")), "measure 1 positive prompt"),
    Case("prompt-unicode-accents", "run", _rows(("a rèd shape", "a blue shape", "")), "measure 1 positive prompt"),
    Case("prompt-10000-characters", "run", _rows(("a red shape " * 834, "a blue shape", "")), "measure 1 positive prompt"),
    Case("prompt-html", "run", _rows(("<img src=x onerror=alert(2)>", "a blue shape", "")), "measure 1 positive prompt"),
    Case("prompt-newline", "run", _rows(("a red\nshape", "a blue shape", "")), "measure 1 positive prompt"),
    Case("prompt-nul-character", "run", _rows(("a red shape", "a blue\x00shape", "")), "measure 1 negative prompt"),
    Case("prompt-not-a-text", "run", _rows((5, "a blue shape", "")), "measure 1 positive prompt"),
    Case("label-too-long", "run", _rows(("a red shape", "a blue shape", "x" * (MAX_LABEL_CHARS + 1))), "measure 1 label"),
    Case("objective-equal-prompts", "run", {"objective": ("a clean shape", "A clean  shape")}, "objective prompts"),
    Case("objective-unknown-words", "run", {"objective": ("a shiny shape", "a smudge")}, "objective positive prompt"),
    # ---- numbers (run) ----
    Case("budget-zero", "run", {"evaluations": 0}, "evaluations"),
    Case("budget-negative", "run", {"evaluations": -100}, "evaluations"),
    Case("budget-over-server-cap", "run", {"evaluations": 10**9}, "evaluations"),
    Case("budget-nan", "run", {"evaluations": math.nan}, "evaluations"),
    Case("budget-inf", "run", {"evaluations": math.inf}, "evaluations"),
    Case("budget-text", "run", {"evaluations": "abc"}, "evaluations"),
    Case("budget-fraction", "run", {"evaluations": 612.5}, "evaluations"),
    Case("budget-missing", "run", {"evaluations": None}, "evaluations"),
    Case("seed-fraction", "run", {"seed": 1.5}, "seed"),
    Case("seed-negative", "run", {"seed": -1}, "seed"),
    Case("seed-too-large", "run", {"seed": MAX_SEED + 1}, "seed"),
    Case("seed-nan", "run", {"seed": math.nan}, "seed"),
    Case("seed-inf", "run", {"seed": -math.inf}, "seed"),
    Case("seed-text", "run", {"seed": "7"}, "seed"),
    Case("cells-too-few", "run", {"resolution": 1}, "archive[ _]resolution"),
    Case("cells-too-many-per-measure", "run", {"resolution": 10**6}, "archive[ _]resolution"),
    Case("cells-too-many-in-all", "run", _rows(*FOUR) | {"resolution": 200}, "archive[ _]resolution"),
    Case("cells-nan", "run", {"resolution": math.nan}, "archive[ _]resolution"),
    Case("generator-unknown", "run", {"generator": "nope"}, "generator"),
    Case("generator-not-a-name", "run", {"generator": ["stand-in"]}, "generator"),
    Case("scorer-unknown", "run", {"scorer": "<b>clip</b>"}, "scorer"),
    Case("algorithm-unknown", "run", {"algorithm": "hill-climbing"}, "algorithm"),
    # ---- the dataset (export) ----
    Case("images-zero", "export", {"images": 0}, "number of images"),
    Case("images-over-server-cap", "export", {"images": 10**6}, "number of images"),
    Case("images-nan", "export", {"images": math.nan}, "number of images"),
    Case("images-text", "export", {"images": "many"}, "number of images"),
    Case("images-fraction", "export", {"images": 2.5}, "number of images"),
    Case("bins-zero", "export", {"bins": 0}, "bins per attribute"),
    Case("bins-negative", "export", {"bins": -3}, "bins per attribute"),
    Case("bins-too-many", "export", {"bins": 10**6}, "bins"),
    Case("bins-inf", "export", {"bins": math.inf}, "bins per attribute"),
    Case("quality-100", "export", {"quality_percentile": 100}, "minimum quality percentile"),
    Case("quality-negative", "export", {"quality_percentile": -5}, "minimum quality percentile"),
    Case("quality-nan", "export", {"quality_percentile": math.nan}, "minimum quality percentile"),
    Case("quality-text", "export", {"quality_percentile": "high"}, "minimum quality percentile"),
    Case("verified-text", "export", {"verified": "yes"}, "verified"),
    Case("verified-number", "export", {"verified": 1}, "verified"),
    # ---- runs of the session (reopen), maps and gallery ----
    Case("run-name-missing", "reopen", {"name": None}, "run"),
    Case("run-name-unknown", "reopen", {"name": "run-999-000000"}, "run"),
    Case("run-name-traversal", "reopen", {"name": "../{current}"}, "run"),
    Case("run-name-foreign-path", "reopen", {"name": "{run_dir}"}, "run"),
    Case("run-name-other-session", "reopen", {"name": "session-0123456789abcdef/run-001-000000"}, "run"),
    Case("run-name-not-a-name", "reopen", {"name": ["{current}"]}, "run"),
    Case("pair-same-measure", "pair", {"pair": "0,0"}, "attributes shown in the maps"),
    Case("pair-out-of-range", "pair", {"pair": "5,9"}, "attributes shown in the maps"),
    Case("pair-html", "pair", {"pair": "<b>0,1</b>"}, "attributes shown in the maps"),
    Case("sample-index-too-large", "select", {"index": 999}, "sample"),
    Case("sample-index-negative", "select", {"index": -1}, "sample"),
    Case("sample-index-text", "select", {"index": "3"}, "sample"),
    # ---- the command line ----
    Case("cli-prompts-equal-but-case", "cli", ["search", "--measure", "A Red Shape", "a red shape ", *STAND_IN], "measure 1 prompts"),
    Case("cli-prompts-scorer-reads-alike", "cli", ["search", "--measure", "a red shape", "one red shape", *STAND_IN], "measure 1 prompts"),
    Case("cli-prompt-10000-characters", "cli", ["search", "--measure", "a red shape " * 834, "a blue shape", *STAND_IN], "measure 1 positive prompt"),
    Case("cli-prompt-script", "cli", ["search", "--measure", "<script>alert(1)</script>", "a blue shape", *STAND_IN], "measure 1 positive prompt"),
    Case("cli-prompt-emoji", "cli", ["search", "--measure", "🟥", "🟦", *STAND_IN], "measure 1 positive prompt"),
    Case("cli-seed-fraction", "cli", ["search", *MEASURE, *STAND_IN, "--seed", "1.5"], "argument --seed"),
    Case("cli-seed-too-large", "cli", ["search", *MEASURE, *STAND_IN, "--seed", str(2**40)], "seed"),
    Case("cli-budget-nan", "cli", ["search", *MEASURE, *STAND_IN, "--evaluations", "nan"], "argument --evaluations"),
    Case("cli-budget-too-large", "cli", ["search", *MEASURE, *STAND_IN, "--evaluations", "1000000000"], "evaluations"),
    Case("cli-range-nan", "cli", ["search", *MEASURE, *STAND_IN, "--range", "nan", "1"], "measure 1 range"),
    Case("cli-range-inf", "cli", ["search", *MEASURE, *STAND_IN, "--range", "0", "inf"], "measure 1 range"),
    Case("cli-range-zero-width", "cli", ["search", *MEASURE, *STAND_IN, "--range", "0.5", "0.5"], "measure 1 range"),
    Case("cli-cells-too-many", "cli", ["search", *MEASURE, *STAND_IN, "--resolution", "1000"], "archive_resolution"),
    Case("cli-batch-zero", "cli", ["search", *MEASURE, *STAND_IN, "--batch-size", "0"], "batch_size"),
    Case("cli-emitters-too-many", "cli", ["search", *MEASURE, *STAND_IN, "--emitters", "100000"], "emitters"),
    Case("cli-device-unknown", "cli", ["search", *MEASURE, *STAND_IN, "--device", "warp-drive"], "device"),
    Case("cli-model-option-unknown", "cli", ["search", *MEASURE, "--generator", "shapes", "--scorer", "stand-in", "--generator-option", "colour=red"], "generator options"),
    Case("cli-export-run-missing", "cli", ["export", "{tmp}/missing", "--images", "10", "--bins", "2", "--out", "{tmp}/x.zip"], "run directory"),
    Case("cli-export-not-a-run", "cli", ["export", "{tmp}", "--images", "10", "--bins", "2", "--out", "{tmp}/x.zip"], "run directory"),
    Case("cli-export-images-zero", "cli", ["export", "{run}", "--images", "0", "--bins", "2", "--out", "{tmp}/x.zip"], "images"),
    Case("cli-export-images-text", "cli", ["export", "{run}", "--images", "lots", "--bins", "2", "--out", "{tmp}/x.zip"], "argument --images"),
    Case("cli-export-bins-too-many", "cli", ["export", "{run}", "--images", "10", "--bins", "100000", "--out", "{tmp}/x.zip"], "bins"),
    Case("cli-export-quality-nan", "cli", ["export", "{run}", "--images", "10", "--bins", "2", "--quality", "nan", "--out", "{tmp}/x.zip"], "quality"),
    Case("cli-export-quality-inf", "cli", ["export", "{run}", "--images", "10", "--bins", "2", "--quality", "inf", "--out", "{tmp}/x.zip"], "quality"),
    Case("cli-export-quality-unreachable", "cli", ["export", "{run}", "--images", "10", "--bins", "2", "--quality", "1e9", "--out", "{tmp}/x.zip"], "quality"),
    Case("cli-export-out-not-zip", "cli", ["export", "{run}", "--images", "10", "--bins", "2", "--out", "{tmp}/x.txt"], "out"),
    Case("cli-export-out-no-folder", "cli", ["export", "{run}", "--images", "10", "--bins", "2", "--out", "{tmp}/no/such/x.zip"], "out"),
    Case("cli-search-judge-unknown", "cli", ["search", *MEASURE, *STAND_IN, "--judge", "oracle", "--out", "{tmp}/r"], "judge"),
    Case("cli-search-judge-option-unknown", "cli", ["search", *MEASURE, *STAND_IN, "--judge", "shapes", "--judge-option", "x=1", "--out", "{tmp}/r"], "judge options"),
    Case("cli-runs-root-missing", "cli", ["runs", "{tmp}/missing"], "runs root"),
    Case("cli-clean-root-missing", "cli", ["clean", "{tmp}/missing"], "root"),
]


# ---- running one case ----------------------------------------------------------------------------


@dataclasses.dataclass
class Session:
    """The session every case runs against: one finished run, made once."""

    settings: Settings
    state: dict
    name: str  # its run
    run_dir: Path
    evaluations: int  # of the run, to check it is untouched
    scratch: Path


@dataclasses.dataclass(frozen=True)
class Outcome:
    kind: str  # "clear"; "unclear" (not naming the field, or raw HTML for the page); "crash" (an exception,
    # a traceback, an unexpected failure caught by the handler's net); "accepted" (no error at all)
    message: str


def make_session(root: Path) -> Session:
    stand_ins.register()
    settings = Settings(runs_root=root / "runs", stream_seconds=0.0, max_evaluations=5000, max_export_images=300, gallery_size=12, grid_cells=4)
    views = list(handlers.run(None, settings=settings, **SMALL_RUN))
    state = views[-1].state
    name = state["current"]
    run_dir = Path(state["dir"]) / name
    scratch = root / "scratch"
    scratch.mkdir()
    return Session(settings, state, name, run_dir, Run.open(run_dir).summary["evaluations"], scratch)


def _fill(value: Any, s: Session, tmp: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{current}", s.name).replace("{run_dir}", str(s.run_dir)).replace("{run}", str(s.run_dir)).replace("{tmp}", str(tmp))
    if isinstance(value, list):
        return [_fill(v, s, tmp) for v in value]
    return value


def _call(case: Case, s: Session, tmp: Path) -> tuple[str, str]:
    """Sends the case; returns ("error", message), ("ok", "") or raises what the code raised."""
    args = {k: _fill(v, s, tmp) for k, v in case.args.items()} if isinstance(case.args, dict) else _fill(case.args, s, tmp)
    try:
        if case.target == "run":
            list(handlers.run(s.state, settings=s.settings, **(SMALL_RUN | args)))
        elif case.target == "export":
            handlers.export(s.state, settings=s.settings, **({"images": 20, "bins": 2, "quality_percentile": 0} | args))
        elif case.target == "reopen":
            handlers.reopen(s.state, args["name"], settings=s.settings)
        elif case.target == "pair":
            handlers.change_pair(s.state, args["pair"], settings=s.settings)
        elif case.target == "select":
            handlers.select_sample(s.state, "elites", args["index"], settings=s.settings)
        elif case.target == "cli":
            argv = list(args)
            if argv[0] == "search":
                argv += ["--out", str(tmp / "search-out"), "--quiet"]
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    status = cli.main(argv)
                except SystemExit as exc:  # argparse's usage errors
                    status = exc.code
            text = err.getvalue()
            if status == 0:
                return "ok", ""
            if status != 2 or text.count("\n") != 1 or not text.startswith("error: "):
                return "cli-status", f"status {status}: {text}"
            return "error", text.strip()[len("error: ") :]
        else:
            raise ValueError(f"unknown target {case.target!r}")
    except gr.Error as exc:
        return "error", str(exc.message)
    return "ok", ""


def attempt(case: Case, s: Session, tmp: Path) -> Outcome:
    """Runs one case and classifies what happened."""
    try:
        kind, message = _call(case, s, tmp)
    except Exception as exc:  # noqa: BLE001 - what the corpus is looking for
        return Outcome("crash", f"{type(exc).__name__}: {exc}")
    if kind == "ok":
        return Outcome("accepted", "")
    if kind == "cli-status" or "Traceback" in message or message.startswith("The search failed"):
        return Outcome("crash", message)  # the last: the handler's net for an unexpected exception
    clear = bool(re.match(rf"(?:{case.field}): ", message))
    if case.target != "cli":
        clear = clear and "<" not in message  # the page renders a message as HTML: typed HTML comes back escaped
    return Outcome("clear" if clear else "unclear", message)


def session_intact(s: Session) -> bool:
    """The session still lists its earlier run, shows it, and the run opens as it was."""
    if s.state["runs"] != [s.name] or s.state["current"] != s.name:
        return False
    if Run.open(s.run_dir).summary["evaluations"] != s.evaluations:
        return False
    view = handlers.reopen(s.state, s.name, settings=s.settings)
    return view.runs["value"] == s.name and [v for _, v in view.runs["choices"]] == [s.name]


# ---- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    return make_session(tmp_path_factory.mktemp("bad-inputs"))


def test_corpus_is_large_and_covers_the_issue():
    ids = [c.id for c in CORPUS]
    assert len(ids) == len(set(ids)) >= 40
    assert {c.target for c in CORPUS} == {"run", "export", "reopen", "pair", "select", "cli"}
    assert len("a red shape " * 834) > 10_000 > MAX_PROMPT_CHARS


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.id)
def test_bad_input_gets_a_clear_message(case, session, tmp_path):
    outcome = attempt(case, session, tmp_path)
    assert outcome.kind == "clear", f"{case.id}: {outcome.kind}: {outcome.message}"
    assert re.search(r"; expected |invalid|expected \d+ argument", outcome.message), outcome.message  # says what is accepted
    assert session_intact(session), f"{case.id} disturbed the session's earlier run"


def test_typed_html_is_shown_as_text(session, tmp_path):
    """HTML typed as a label is accepted and reaches every output escaped for where it goes."""
    settings = dataclasses.replace(session.settings, runs_root=tmp_path / "runs")
    label = "<script>alert(1)</script> <b>bold</b>"
    rows = [("a red shape", "a blue shape", label), ("a triangle", "a square", "<img src=x onerror=alert(2)>"), BLANK, BLANK]
    views = list(handlers.run(None, settings=settings, **(SMALL_RUN | {"rows": rows})))
    last = views[-1]
    state = last.state
    # the runs list and the gallery captions are rendered as text by Gradio: the label as typed
    assert label in last.runs["choices"][0][0]
    assert last.gallery[0][1].startswith("<script>ale… ")
    # plotly titles: escaped (plotly shows the entities as the typed characters)
    assert last.heatmap.layout.xaxis.title.text == "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;"
    assert "<" not in last.density.layout.xaxis.title.text + last.density.layout.yaxis.title.text
    # Markdown outputs: the selected sample's scores and the dataset card
    text = handlers.select_sample(state, "elites", 0, settings=settings).selected_text
    assert "\\<script\\>alert(1)\\</script\\> \\<b\\>bold\\</b\\>" in text and "<script>" not in text
    card, fig, path = handlers.export(state, images=20, bins=2, quality_percentile=0, settings=settings)
    assert "\\<img src=x onerror=alert(2)\\>" in card and "<img" not in card.replace("\\<img", "")
    assert "<" not in fig.layout.xaxis.title.text and Path(path).suffix == ".zip"
