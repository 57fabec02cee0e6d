"""Partial files of killed writes: never listed or opened, cleaned by ``remove_partial_files``.

The slow test kills a real ``python -m core export`` (shapes world, shipped models) with
SIGKILL while it writes its zip, then checks what a restart would see.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from core import cli
from core.errors import InputError
from core.runs import PARTIAL_MIN_AGE_SECONDS, Run, is_partial_file, list_runs, remove_partial_files

REPO = Path(__file__).resolve().parents[2]
KILL_EVALUATIONS = int(os.environ.get("QDGS_KILL_TEST_EVALUATIONS", "600"))  # 3000 gives all 2,000 images
KILL_IMAGES = 2000


def _age(path: Path, seconds: float) -> None:
    """Sets ``path``'s modification time ``seconds`` into the past (as if a restart came later)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_remove_partial_files_keeps_young_ones_and_finished_files(tmp_path):
    folder = tmp_path / "session" / "run-001" / "exports"
    folder.mkdir(parents=True)
    stale = folder / ".data.zip.k2j3h4.tmp"
    young = folder / ".data.zip.x9y8z7.tmp"
    finished = [folder / "data.zip", folder / "notes.tmp", tmp_path / "config.json"]
    for path in (stale, young, *finished):
        path.write_bytes(b"PK\x03\x04 partial")
    _age(stale, PARTIAL_MIN_AGE_SECONDS + 5)
    assert is_partial_file(stale) and not is_partial_file(folder / "data.zip") and not is_partial_file(folder / "notes.tmp")
    assert remove_partial_files(tmp_path) == [stale]
    assert not stale.exists() and young.exists() and all(p.exists() for p in finished)
    assert remove_partial_files(tmp_path, min_age=0) == [young]
    assert remove_partial_files(tmp_path / "missing") == []


def test_clean_command_reports_what_it_removed(tmp_path, capsys):
    (tmp_path / ".data.zip.abc.tmp").write_bytes(b"partial")
    assert cli.main(["clean", str(tmp_path), "--min-age", "0"]) == 0
    out = capsys.readouterr().out
    assert "removed " in out and "1 partial file(s) removed" in out
    assert not (tmp_path / ".data.zip.abc.tmp").exists()
    assert cli.main(["clean", str(tmp_path / "nope")]) == 2
    assert "root: got" in capsys.readouterr().err


def test_a_run_with_a_damaged_file_is_refused_by_name(tmp_path, generator, scorer):
    from core.search import run_search
    from tests.core.conftest import small_config

    run_dir = tmp_path / "run"
    run_search(small_config(evaluations=100), run_dir=run_dir, generator=generator, scorer=scorer)
    (run_dir / "config.json").write_text('{"measures": [')  # cut short by hand
    with pytest.raises(InputError, match="run directory: got .*expected a finished run directory whose files can be read"):
        Run.open(run_dir)


def _core(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_sigkill_during_export_leaves_nothing_partial_offered(tmp_path):
    """SIGKILL while the zip is being written: nothing under the final name, nothing listed, cleaned."""
    root = tmp_path / "runs"
    run_dir = root / "colour-shape"
    search = _core(
        "search", "--measure", "a red shape", "a blue shape", "--measure", "a triangle", "a square",
        "--evaluations", str(KILL_EVALUATIONS), "--seed", "0", "--quiet", "--out", str(run_dir),
    )
    _, err = search.communicate(timeout=600)
    assert search.returncode == 0, err
    exports = run_dir / "exports"
    exports.mkdir()
    final = exports / "colour-shape.zip"

    export = _core("export", str(run_dir), "--images", str(KILL_IMAGES), "--bins", "5", "--quality", "none", "--quiet", "--out", str(final))
    partial, size_at_kill = None, 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and export.poll() is None:
        found = [p for p in exports.iterdir() if is_partial_file(p)]
        if found and found[0].stat().st_size > 64 * 1024:  # the card, the figure and some images are in
            partial, size_at_kill = found[0], found[0].stat().st_size
            export.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    export.communicate(timeout=60)
    assert partial is not None, f"the export ended (status {export.returncode}) before it could be killed mid-write"
    assert export.returncode == -signal.SIGKILL

    # What a restart sees: no zip under the final name; the leftover is no zip and is listed nowhere.
    assert not final.exists()
    assert partial.exists() and partial.stat().st_size >= size_at_kill
    assert not zipfile.is_zipfile(partial)  # no central directory: it could never load anyway
    assert sorted(p.name for p in exports.glob("*.zip")) == []
    assert [(i.path, i.status) for i in list_runs(root)] == [(run_dir, "done")]
    runs = _core("runs", str(root))
    out, _ = runs.communicate(timeout=120)
    assert runs.returncode == 0 and ".tmp" not in out and str(run_dir) in out

    # Start-up cleanup: a write this young might still be going on elsewhere, so it is kept ...
    assert remove_partial_files(root) == []
    # ... and once it is older than PARTIAL_MIN_AGE_SECONDS, the clean command removes it.
    _age(partial, PARTIAL_MIN_AGE_SECONDS + 1)
    clean = _core("clean", str(root))
    out, err = clean.communicate(timeout=120)
    assert clean.returncode == 0, err
    assert f"removed {partial}" in out and not partial.exists()
    assert list(exports.iterdir()) == []
    Run.open(run_dir)  # the run itself is untouched

    report = {"evaluations": KILL_EVALUATIONS, "requested": KILL_IMAGES, "bytes_at_kill": size_at_kill, "partial": partial.name}
    print("kill-mid-export:", json.dumps(report))
