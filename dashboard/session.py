"""Per-browser-session state: its own directory of runs, and a stop flag per session.

The value kept in ``gr.State`` is a small plain dict (deep-copyable, no models, no locks):

    {"id": "3f2a...", "dir": "/tmp/qdgs-runs-xyz/session-3f2a...", "runs": ["run-001", ...],
     "current": "run-001" | None, "shown": {...}}

Runs are named, never addressed by a path the browser sends: a name coming back from the page
is accepted only if it is one of this session's runs, so one session can never read or serve
another's files. Stop flags live in a module-level table keyed by the session id, because a
``threading.Event`` cannot live in ``gr.State``.
"""

from __future__ import annotations

import collections
import logging
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.runs import remove_partial_files

from .settings import Settings

__all__ = [
    "new_session",
    "session_dir",
    "new_run_dir",
    "run_dir",
    "keep_run",
    "forget_run",
    "finished_run",
    "own_file",
    "stop_event",
    "request_stop",
    "clear_stop",
    "cleanup_session",
    "remove_leftovers",
]

log = logging.getLogger(__name__)

_STOP_EVENTS: dict[str, threading.Event] = {}
_LOCK = threading.Lock()
KEPT_RUNS = 16  # finished runs kept in memory in this process (the rest are reopened from disk)
_RUNS: "collections.OrderedDict[tuple[str, str], Any]" = collections.OrderedDict()  # (session, run) -> Run


def new_session(settings: Settings) -> dict[str, Any]:
    """A fresh session: an id and an (empty) directory under the runs root."""
    sid = uuid.uuid4().hex[:16]
    directory = settings.resolved_runs_root() / f"session-{sid}"
    directory.mkdir(parents=True, exist_ok=False)
    return {"id": sid, "dir": str(directory), "runs": [], "current": None, "shown": {}}


def session_dir(state: dict[str, Any]) -> Path:
    """The session's directory."""
    return Path(state["dir"])


def new_run_dir(state: dict[str, Any]) -> tuple[str, Path]:
    """Reserves a new run name in the session and returns (name, directory); not created yet."""
    stamp = time.strftime("%H%M%S")
    name = f"run-{len(state['runs']) + 1:03d}-{stamp}"
    return name, session_dir(state) / name


def run_dir(state: dict[str, Any] | None, name: str | None) -> Path:
    """The directory of one of this session's runs.

    Raises:
        InputError: ``name`` is not a run of this session.
    """
    runs = [] if not state else state.get("runs", [])
    if not name or name not in runs:
        raise InputError("run", name, "one of this session's runs: " + (", ".join(runs) or "none yet; run a search first"))
    return session_dir(state) / name


def keep_run(state: dict[str, Any], name: str, run: Any) -> None:
    """Keeps a finished run of this session in memory (its :class:`core.runs.Run`), so the
    views that follow (maps, galleries, a click, an export) need no disk read."""
    with _LOCK:
        _RUNS[(state["id"], name)] = run
        _RUNS.move_to_end((state["id"], name))
        while len(_RUNS) > KEPT_RUNS:
            _RUNS.popitem(last=False)


def forget_run(state: dict[str, Any], name: str) -> None:
    """Drops the in-memory copy of one of this session's runs (it is about to change on disk)."""
    with _LOCK:
        _RUNS.pop((state["id"], name), None)


def finished_run(state: dict[str, Any] | None, name: str | None) -> Any:
    """One of this session's finished runs: the one kept in memory, or reopened from its
    directory (:meth:`core.runs.Run.open`) and kept.

    Raises:
        InputError: ``name`` is not a run of this session, or its directory is not a finished run.
    """
    from core.runs import Run

    directory = run_dir(state, name)
    with _LOCK:
        kept = _RUNS.get((state["id"], name))
    if kept is not None:
        return kept
    run = Run.open(directory)
    keep_run(state, name, run)
    return run


def own_file(state: dict[str, Any], path: str | Path) -> Path:
    """``path`` resolved, if it lies inside this session's directory.

    Raises:
        InputError: the path lies elsewhere.
    """
    resolved = Path(path).resolve()
    root = session_dir(state).resolve()
    if root != resolved and root not in resolved.parents:
        raise InputError("file", str(path), "a file of this session's runs")
    return resolved


def stop_event(state: dict[str, Any]) -> threading.Event:
    """The (cleared) stop flag of this session, created on first use."""
    with _LOCK:
        event = _STOP_EVENTS.setdefault(state["id"], threading.Event())
    return event


def request_stop(state: dict[str, Any] | None) -> bool:
    """Raises the session's stop flag; returns False when the session has nothing running."""
    if not state:
        return False
    with _LOCK:
        event = _STOP_EVENTS.get(state["id"])
    if event is None:
        return False
    event.set()
    return True


def clear_stop(state: dict[str, Any]) -> None:
    """Forgets the session's stop flag (the run it belonged to has ended)."""
    with _LOCK:
        _STOP_EVENTS.pop(state["id"], None)


def cleanup_session(state: dict[str, Any] | None, *, keep: bool = False) -> None:
    """Called when gradio drops a session's state: stops its run and removes its directory."""
    if not state:
        return
    request_stop(state)
    clear_stop(state)
    with _LOCK:
        for key in [k for k in _RUNS if k[0] == state["id"]]:
            del _RUNS[key]
    if not keep:
        shutil.rmtree(state["dir"], ignore_errors=True)
        log.info("removed session directory %s", state["dir"])


def remove_leftovers(settings: Settings) -> list[Path]:
    """At start-up: deletes the partial files (``.*.tmp``) that a killed server left in the runs
    root, e.g. a half-written export zip. They are never listed or offered in any case; files
    written to in the last minute are kept, in case another server shares the root."""
    removed = remove_partial_files(settings.resolved_runs_root())
    if removed:
        log.info("removed %d partial file(s) left in %s", len(removed), settings.resolved_runs_root())
    return removed
