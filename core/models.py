"""Loads each generator and scorer once per process and shares it.

The dashboard (many sessions) and the command line call :func:`get_models`; a model is
loaded on first use and kept for later calls with the same name, options and device.
Models are used read-only (eval mode, no hidden state), so sharing them is safe.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from .config import RunConfig
from .errors import QDGSError
from .interfaces import Generator, Judge, Scorer
from .registry import load_generator, load_judge, load_scorer

__all__ = ["get_models", "get_generator", "get_scorer", "get_judge", "clear_model_cache"]

logger = logging.getLogger(__name__)

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()  # guards the two tables below, held only for dictionary access
_KEY_LOCKS: dict[tuple, threading.Lock] = {}  # one per model: a slow load blocks only its own callers
_LOADERS = {"generator": load_generator, "scorer": load_scorer, "judge": load_judge}


def _key(kind: str, name: str, options: dict, device: str) -> tuple:
    return (kind, name, json.dumps(options, sort_keys=True, default=str), str(device))


def _get(kind: str, name: str, options: dict, device: str) -> Any:
    key = _key(kind, name, options, device)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:  # other sessions asking for other models go on meanwhile
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
        kwargs = dict(options)
        kwargs.setdefault("device", device)
        logger.info("loading %s %r (%s)", kind, name, kwargs)
        try:
            model = _LOADERS[kind](name, **kwargs)
        except ImportError as exc:  # a library (or the model's module) is missing here
            raise QDGSError(f"{kind} {name!r} cannot be loaded here: missing module {exc.name or exc}") from exc
        for module in vars(model).values():  # put torch modules in eval mode
            if hasattr(module, "eval") and hasattr(module, "training"):
                module.eval()
        with _LOCK:
            _CACHE[key] = model
        return model


def get_generator(name: str, *, options: dict | None = None, device: str = "cpu") -> Generator:
    """The shared generator for ``name`` (loaded on first use).

    Raises:
        InputError: unknown name.
        WeightsNotFoundError: weights not available locally.
        QDGSError: a library the model needs is not installed.
    """
    return _get("generator", name, options or {}, device)


def get_scorer(name: str, *, options: dict | None = None, device: str = "cpu") -> Scorer:
    """The shared scorer for ``name`` (loaded on first use). See :func:`get_generator`."""
    return _get("scorer", name, options or {}, device)


def get_judge(name: str, *, options: dict | None = None, device: str = "cpu") -> Judge:
    """The shared judge for ``name`` (loaded on first use). See :func:`get_generator`."""
    return _get("judge", name, options or {}, device)


def get_models(config: RunConfig) -> tuple[Generator, Scorer]:
    """(generator, scorer) for a run config, each loaded once per process."""
    return (
        get_generator(config.generator, options=config.generator_options, device=config.device),
        get_scorer(config.scorer, options=config.scorer_options, device=config.device),
    )


def clear_model_cache() -> None:
    """Forgets every loaded model (tests; freeing memory)."""
    with _LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()
