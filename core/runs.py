"""Run directories: write as a search goes, list, reopen, export again later.

A run directory holds (never pickle; weights are not copied)::

    config.json        the RunConfig
    calibration.json   measure ranges, objective offset, realism floor, prior scale
    history.csv        one row per progress event (QD and random figures)
    archive.parquet    elites of the result archive: index, objective, measures_*, solution_*
    pool.npz           every sample the search evaluated: z, measures, objective
    random_pool.npz    the random baseline's samples, scored the same way
    summary.json       final figures (see :func:`core.search.iter_search`)
    search_state.safetensors
                       everything a stopped or finished run needs to continue (archives,
                       emitters, random generators, pools, counters): arrays plus a JSON
                       tree, never pickle (see :mod:`core.state`, :func:`core.run.resume`)

Files are written to a temporary name and renamed, so a reader never sees half a file
(exports, :func:`core.export.export_balanced`, the same way). A process killed mid-write leaves
its temporary file, ``.<name>.<random>.tmp``, which nothing lists, opens or offers;
:func:`remove_partial_files` deletes such leftovers (the dashboard at start-up,
``python -m core clean``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import os
import re
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import numpy as np
import pandas as pd

from .config import RunConfig, config_from_dict, config_to_dict
from .errors import InputError
from .measures import Calibration

__all__ = [
    "Samples",
    "Run",
    "RunInfo",
    "RunWriter",
    "list_runs",
    "create_run_dir",
    "RUN_FILES",
    "is_partial_file",
    "remove_partial_files",
    "PARTIAL_SUFFIX",
    "PARTIAL_MIN_AGE_SECONDS",
]

logger = logging.getLogger(__name__)

RUN_FILES = {
    "config": "config.json",
    "calibration": "calibration.json",
    "history": "history.csv",
    "archive": "archive.parquet",
    "pool": "pool.npz",
    "random_pool": "random_pool.npz",
    "summary": "summary.json",
    "state": "search_state.safetensors",
}
PARTIAL_SUFFIX = ".tmp"  # temporary files of atomic writes are named ".<final name>.<random>.tmp"
# A temporary file untouched for this long belongs to a process that died: a live writer
# writes its file continuously (the models run before the file is opened).
PARTIAL_MIN_AGE_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class Samples:
    """Evaluated samples.

    Attributes:
        z: (n, latent_dim) latents.
        measures: (n, k) measures.
        objective: (n,) objective.
        similarities: (n, k, 2) similarity of each image to each measure's (positive,
            negative) prompt, or None (runs made before they were kept).
    """

    z: np.ndarray
    measures: np.ndarray
    objective: np.ndarray
    similarities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.objective)

    @classmethod
    def empty(cls, latent_dim: int, num_measures: int) -> "Samples":
        return cls(np.zeros((0, latent_dim)), np.zeros((0, num_measures)), np.zeros(0), np.zeros((0, num_measures, 2)))

    @classmethod
    def concat(cls, parts: Sequence["Samples"], *, latent_dim: int, num_measures: int) -> "Samples":
        if not parts:
            return cls.empty(latent_dim, num_measures)
        sims = None if any(p.similarities is None for p in parts) else np.concatenate([p.similarities for p in parts])
        return cls(
            np.concatenate([p.z for p in parts]),
            np.concatenate([p.measures for p in parts]),
            np.concatenate([p.objective for p in parts]),
            sims,
        )

    def take(self, idx: np.ndarray | slice) -> "Samples":
        """A subset (index array or slice) of the samples."""
        sims = None if self.similarities is None else self.similarities[idx]
        return Samples(self.z[idx], self.measures[idx], self.objective[idx], sims)

    def head(self, n: int) -> "Samples":
        return self.take(slice(0, n))

    def save(self, path: Path) -> None:
        arrays = {"z": self.z, "measures": self.measures, "objective": self.objective}
        if self.similarities is not None:
            arrays["similarities"] = self.similarities
        _atomic_write(path, lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: Path) -> "Samples":
        with np.load(path, allow_pickle=False) as data:
            sims = data["similarities"] if "similarities" in data.files else None
            return cls(data["z"], data["measures"], data["objective"], sims)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temporary file, renamed to ``path`` when the
    ``with`` block ends without an error, removed when it raises.

    The temporary file lies next to ``path`` (same file system, so the rename is atomic) and is
    named ``.<name>.<random>.tmp``: hidden, and never mistaken for a finished file. If the
    process is killed it stays, for :func:`remove_partial_files`. Every file of a run and every
    export zip is written this way.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write(path: Path, write) -> None:
    """Writes ``path`` through ``write(file_object)`` (see :func:`atomic_file`)."""
    with atomic_file(path) as f:
        write(f)


def is_partial_file(path: str | os.PathLike) -> bool:
    """True for the temporary file of an unfinished write (``.<name>.<random>.tmp``)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def remove_partial_files(root: str | os.PathLike, *, min_age: float = PARTIAL_MIN_AGE_SECONDS) -> list[Path]:
    """Deletes the temporary files that killed writes left under ``root`` (at any depth).

    Args:
        root: A runs folder, a run directory or an export folder; a missing one holds nothing.
        min_age: Only files last modified at least this many seconds ago are removed, so a
            write still going on in another process is left alone; 0 removes every one.

    Returns:
        The files removed.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    now = time.time()
    removed = []
    for path in root.rglob(f"*{PARTIAL_SUFFIX}"):
        try:
            if not (path.is_file() and is_partial_file(path)) or now - path.stat().st_mtime < min_age:
                continue
            path.unlink()
        except FileNotFoundError:  # finished (renamed) or removed meanwhile
            continue
        removed.append(path)
        logger.info("removed partial file %s", path)
    return removed


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, default=_json_default).encode()
    _atomic_write(path, lambda f: f.write(text))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RunWriter:
    """Writes one run directory as the search goes (used by :mod:`core.search`).

    Args:
        run_dir: The run directory; created (with parents) if absent. An existing
            directory must be empty or hold an earlier run (which is overwritten).
        history: For a run that continues (:func:`core.run.resume`): the history rows it
            keeps (from its saved state; ``history.csv`` is rewritten with them) and its saved
            state is kept too; None starts afresh.

    Raises:
        InputError: ``run_dir`` exists and is a file, or a non-empty directory that is
            not a run.
    """

    def __init__(self, run_dir: str | os.PathLike, *, history: Sequence[dict] | None = None) -> None:
        self.dir = Path(run_dir).expanduser().resolve()
        if self.dir.exists() and not self.dir.is_dir():
            raise InputError("run directory", str(run_dir), "a directory path (this is a file)")
        if self.dir.is_dir() and any(self.dir.iterdir()) and not (self.dir / RUN_FILES["config"]).exists():
            raise InputError("run directory", str(run_dir), "an empty or new directory, or an earlier run")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._history_rows: list[dict] = [dict(row) for row in history or ()]
        for name in ("summary", "archive", "pool", "random_pool", *(() if history is not None else ("history", "state"))):
            (self.dir / RUN_FILES[name]).unlink(missing_ok=True)
        if history is not None:
            self._write_history()

    def write_config(self, config: RunConfig, calibration: Calibration, extra: dict | None = None) -> None:
        _write_json(self.dir / RUN_FILES["config"], config_to_dict(config))
        _write_json(self.dir / RUN_FILES["calibration"], {**calibration.to_dict(), **(extra or {})})

    def history(self) -> pd.DataFrame:
        """The rows appended so far, as written to ``history.csv``."""
        return pd.DataFrame(self._history_rows)

    @property
    def history_rows(self) -> list[dict]:
        """The rows written so far (a copy)."""
        return [dict(row) for row in self._history_rows]

    def append_history(self, row: dict) -> None:
        self._history_rows.append(row)
        self._write_history()

    def _write_history(self) -> None:
        frame = pd.DataFrame(self._history_rows)
        _atomic_write(self.dir / RUN_FILES["history"], lambda f: f.write(frame.to_csv(index=False).encode()))

    def write_results(self, *, archive_frame: pd.DataFrame, pool: Samples, random_pool: Samples) -> None:
        _atomic_write(self.dir / RUN_FILES["archive"], lambda f: archive_frame.to_parquet(f, index=False))
        pool.save(self.dir / RUN_FILES["pool"])
        random_pool.save(self.dir / RUN_FILES["random_pool"])

    def write_summary(self, summary: dict) -> None:
        _write_json(self.dir / RUN_FILES["summary"], summary)


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """One line of :func:`list_runs`."""

    path: Path  # run directory
    created: str  # ISO time the run finished (or started, if unfinished)
    prompts: list[str]  # "positive vs negative" per measure
    evaluations: int  # QD evaluations done
    coverage: float | None  # QD archive coverage
    random_coverage: float | None  # random baseline's coverage
    algorithm: str
    status: str  # "done", "stopped" or "incomplete"


class Run:
    """A finished (or stopped) run: what the search kept, in memory.

    Made by the search that ran it (:attr:`core.run.RunHandle.result`, no disk read) or by
    :meth:`open` from a run directory written earlier.

    Attributes:
        dir: The run directory.
        config: Its :class:`~core.config.RunConfig`.
        summary: ``summary.json`` as a dict.
        history: One row per progress event.
        archive: Elites: ``index``, ``objective``, ``measures_0..``, ``solution_0..``.
        pool: Every sample the search evaluated.
        random_pool: The random baseline.
        calibration: Ranges, offset, realism floor.
        measure_ranges: One (low, high) per measure.
    """

    def __init__(
        self,
        *,
        dir: Path,  # noqa: A002 - the run directory
        config: RunConfig,
        calibration: Calibration,
        summary: dict,
        history: pd.DataFrame,
        archive: pd.DataFrame,
        pool: Samples,
        random_pool: Samples,
    ) -> None:
        self.dir = Path(dir)
        self.config = config
        self.calibration = calibration
        self.summary = summary
        self.history = history
        self.archive = archive
        self.pool = pool
        self.random_pool = random_pool

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        """Reopens a run directory written earlier.

        Raises:
            InputError: the directory is missing, is not a finished run, or its files are damaged.
        """
        root = Path(path).expanduser().resolve()
        for name in ("config", "calibration", "summary", "pool", "random_pool", "archive"):
            if not (root / RUN_FILES[name]).is_file():
                raise InputError("run directory", str(path), f"a finished run directory holding {RUN_FILES[name]}")
        try:
            config = config_from_dict(json.loads((root / RUN_FILES["config"]).read_text()))
            cal = json.loads((root / RUN_FILES["calibration"]).read_text())
            hist = root / RUN_FILES["history"]
            return cls(
                dir=root,
                config=config,
                calibration=Calibration.from_dict(cal),
                summary=json.loads((root / RUN_FILES["summary"]).read_text()),
                history=pd.read_csv(hist) if hist.is_file() else pd.DataFrame(),
                archive=pd.read_parquet(root / RUN_FILES["archive"]),
                pool=Samples.load(root / RUN_FILES["pool"]),
                random_pool=Samples.load(root / RUN_FILES["random_pool"]),
            )
        except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:  # edited or damaged by hand
            raise InputError(
                "run directory", str(path), f"a finished run directory whose files can be read ({type(exc).__name__}: {exc})"
            ) from None

    @property
    def measure_ranges(self) -> list[tuple[float, float]]:
        return [tuple(r) for r in self.calibration.measure_ranges]

    @property
    def labels(self) -> list[str]:
        """Display label of each measure."""
        return [m.display_label() for m in self.config.measures]

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r}, evaluations={self.summary.get('evaluations')})"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def create_run_dir(root: str | os.PathLike, *, name: str | None = None) -> Path:
    """Creates a new, empty run directory inside ``root`` and returns its path.

    Args:
        root: Folder for runs (created if absent).
        name: Wanted name; reduced to letters, digits, ``-`` and ``_`` so it can never
            point outside ``root``; a timestamp when None. ``-2``, ``-3``... is appended if
            taken.
    """
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name or "").strip("-")[:60] or _dt.datetime.now().strftime("run-%Y%m%d-%H%M%S")
    for i in range(1, 10_000):
        path = root / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        assert path.parent == root  # by construction of stem
        return path
    raise InputError("run name", name, "a name not used 10,000 times already in this folder")


def list_runs(root: str | os.PathLike) -> list[RunInfo]:
    """Run directories directly under ``root`` (or ``root`` itself), newest first.

    Unfinished runs are listed with status "incomplete". Directories that are not runs
    are skipped.

    Raises:
        InputError: ``root`` is not a directory.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise InputError("runs root", str(root), "an existing directory")
    candidates = [root] if (root / RUN_FILES["config"]).is_file() else sorted(p for p in root.iterdir() if p.is_dir())
    infos = []
    for path in candidates:
        cfg_path = path / RUN_FILES["config"]
        if not cfg_path.is_file():
            continue
        try:
            config = config_from_dict(json.loads(cfg_path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("skipping %s: unreadable config (%s)", path, exc)
            continue
        summary = {}
        if (path / RUN_FILES["summary"]).is_file():
            summary = json.loads((path / RUN_FILES["summary"]).read_text())
        created = summary.get("finished") or _dt.datetime.fromtimestamp(
            cfg_path.stat().st_mtime, _dt.timezone.utc
        ).isoformat(timespec="seconds")
        infos.append(
            RunInfo(
                path=path,
                created=created,
                prompts=[m.display_label() for m in config.measures],
                evaluations=int(summary.get("evaluations", 0)),
                coverage=summary.get("qd", {}).get("coverage"),
                random_coverage=summary.get("random", {}).get("coverage"),
                algorithm=config.algorithm,
                status=summary.get("status", "incomplete"),
            )
        )
    return sorted(infos, key=lambda i: i.created, reverse=True)
