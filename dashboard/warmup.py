"""Warm-up at start: load the default models and run one tiny search, in the background.

The first search in a process pays for one-off costs (loading weights, pyribs' numba
compilation of CMA-ES, torch's first backward pass): about 5-10 s on 2 CPU cores. Paying them
while the page is already being served keeps the first click on Run fast.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time

from core.config import PRESETS, RunConfig
from core.models import get_models
from core.search import run_search

__all__ = ["warm_up", "warm_up_in_background", "WARM_UP_EVALUATIONS"]

log = logging.getLogger(__name__)

WARM_UP_EVALUATIONS = 1  # the search always runs one full step whatever the budget


def warm_up(config: RunConfig | None = None) -> float:
    """Loads the models of ``config`` (default: the first shapes preset) and runs one step.

    Returns:
        Seconds taken. Failures are logged, never raised: the page says what is missing when
        a user runs a search.
    """
    config = config or RunConfig(measures=next(iter(PRESETS.values())), evaluations=WARM_UP_EVALUATIONS)
    start = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="qdgs-warmup-")
    try:
        generator, scorer = get_models(config)
        run_search(config, run_dir=folder, generator=generator, scorer=scorer)
        seconds = time.perf_counter() - start
        log.info("warm-up search done in %.1f s", seconds)
        return seconds
    except Exception as exc:  # noqa: BLE001 - e.g. weights absent: reported when a user runs
        log.warning("warm-up skipped: %s", exc)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def warm_up_in_background(config: RunConfig | None = None) -> threading.Thread:
    """Starts :func:`warm_up` in a daemon thread and returns it."""
    thread = threading.Thread(target=warm_up, args=(config,), name="qdgs-warm-up", daemon=True)
    thread.start()
    return thread
