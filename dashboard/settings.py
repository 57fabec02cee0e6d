"""Server-wide settings of the dashboard, read once from environment variables.

A public Space sets caps here (budget, export size, concurrency) without touching code:

=============================  =========================================================
``QDGS_MAX_EVALUATIONS``       largest evaluation budget a user may ask for (default 20000)
``QDGS_DEFAULT_EVALUATIONS``   the budget the page starts with (default 1500)
``QDGS_MAX_EXPORT_IMAGES``     largest balanced dataset a user may export (default 2000)
``QDGS_CONCURRENCY``           searches/exports running at once; the rest queue (default 2)
``QDGS_QUEUE_SIZE``            longest queue before new requests are refused (default 64)
``QDGS_RUNS_ROOT``             where session run directories go (default: a temp folder)
``QDGS_KEEP_RUNS``             "1" keeps a session's runs after it closes (default "0")
``QDGS_STREAM_SECONDS``        least time between two live updates of the plots (default 0.7)
``QDGS_DASK_ADDRESS``          evaluate every run on this Dask cluster: a scheduler address
                               ``tcp://HOST:8786`` or ``local-cluster:N`` (default: this
                               process, ``local``; see :mod:`core.backends`)
=============================  =========================================================
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Mapping

from core.errors import InputError

__all__ = ["Settings", "settings_from_env"]


@dataclasses.dataclass(frozen=True)
class Settings:
    """Caps and places for one dashboard server."""

    max_evaluations: int = 20000  # cap on a run's evaluation budget
    default_evaluations: int = 1500  # budget the page starts with: well under a minute on CPU
    max_export_images: int = 2000  # cap on the size of an exported dataset
    default_export_images: int = 200  # export size the page starts with
    concurrency: int = 2  # heavy jobs (search, export) running at once
    queue_size: int = 64  # requests waiting beyond which new ones are refused
    runs_root: Path | None = None  # parent of session directories; None = a fresh temp dir
    keep_runs: bool = False  # keep session directories when a session ends
    stream_seconds: float = 0.7  # least seconds between two plot updates while a run streams
    gallery_size: int = 48  # thumbnails per gallery
    grid_cells: int = 8  # the elite grid image shows at most grid_cells x grid_cells samples
    backend: str = "local"  # where every run evaluates: "local", or a Dask cluster (QDGS_DASK_ADDRESS)

    def resolved_runs_root(self) -> Path:
        """The runs root, created if needed (a new temp dir when none was configured)."""
        if self.runs_root is None:
            root = Path(tempfile.mkdtemp(prefix="qdgs-runs-"))
            object.__setattr__(self, "runs_root", root)  # frozen: fixed once, on first use
        root = Path(self.runs_root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root


def _int(env: Mapping[str, str], name: str, default: int, low: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(name, raw, f"a whole number >= {low}") from None
    if value < low:
        raise InputError(name, raw, f"a whole number >= {low}")
    return value


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Reads :class:`Settings` from environment variables (see the module docstring).

    Args:
        env: The variables to read; ``os.environ`` when None.

    Raises:
        InputError: a variable is set to a value that is not accepted.
    """
    env = os.environ if env is None else env
    base = Settings()
    max_eval = _int(env, "QDGS_MAX_EVALUATIONS", base.max_evaluations, 10)
    default_eval = min(_int(env, "QDGS_DEFAULT_EVALUATIONS", base.default_evaluations, 10), max_eval)
    max_export = _int(env, "QDGS_MAX_EXPORT_IMAGES", base.max_export_images, 1)
    raw_stream = env.get("QDGS_STREAM_SECONDS", "").strip()
    try:
        stream = float(raw_stream) if raw_stream else base.stream_seconds
    except ValueError:
        raise InputError("QDGS_STREAM_SECONDS", raw_stream, "a number of seconds >= 0") from None
    if stream < 0:
        raise InputError("QDGS_STREAM_SECONDS", raw_stream, "a number of seconds >= 0")
    root = env.get("QDGS_RUNS_ROOT", "").strip()
    keep = env.get("QDGS_KEEP_RUNS", "0").strip().lower()
    if keep not in ("0", "1", "true", "false", "yes", "no", ""):
        raise InputError("QDGS_KEEP_RUNS", keep, "1 or 0")
    backend = env.get("QDGS_DASK_ADDRESS", "").strip() or base.backend
    from core.backends import parse_backend

    try:
        parse_backend(backend)
    except InputError as exc:
        raise InputError("QDGS_DASK_ADDRESS", backend, exc.expected) from None
    return Settings(
        max_evaluations=max_eval,
        default_evaluations=default_eval,
        max_export_images=max_export,
        default_export_images=min(base.default_export_images, max_export),
        concurrency=_int(env, "QDGS_CONCURRENCY", base.concurrency, 1),
        queue_size=_int(env, "QDGS_QUEUE_SIZE", base.queue_size, 1),
        runs_root=Path(root).expanduser().resolve() if root else None,
        keep_runs=keep in ("1", "true", "yes"),
        stream_seconds=stream,
        backend=backend,
    )
