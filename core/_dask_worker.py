"""What runs inside a Dask worker process: its evaluators, and the chunk task.

Imported by :mod:`core.backends` only when a run uses a cluster (it imports ``distributed``),
and by each worker when it receives the plugin or a task. A worker builds one
:class:`~core.measures.Evaluator` per run it serves (text embeddings of that run's prompts), on
models loaded once per process (:func:`core.models.get_models`'s cache), and keeps the last few.
"""

from __future__ import annotations

import collections
import logging
import threading

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from .backends import EvaluatorSpec
from .measures import Evaluation, Evaluator

__all__ = ["LoadEvaluator", "evaluate_chunk", "evaluator_for", "KEPT_EVALUATORS"]

logger = logging.getLogger(__name__)

KEPT_EVALUATORS = 8  # evaluators (runs) a worker keeps; the models behind them are shared
_EVALUATORS: "collections.OrderedDict[str, Evaluator]" = collections.OrderedDict()
_LOCK = threading.Lock()


def evaluator_for(spec: EvaluatorSpec) -> Evaluator:
    """This worker's evaluator for a run, built on first use."""
    key = spec.key
    with _LOCK:
        if key in _EVALUATORS:
            _EVALUATORS.move_to_end(key)
            return _EVALUATORS[key]
        evaluator = spec.build()
        _EVALUATORS[key] = evaluator
        while len(_EVALUATORS) > KEPT_EVALUATORS:
            _EVALUATORS.popitem(last=False)
        logger.info("built evaluator %s (%s / %s on %s)", key[:12], spec.generator, spec.scorer, spec.device)
        return evaluator


def evaluate_chunk(spec: EvaluatorSpec, z: np.ndarray, gradients: bool) -> Evaluation:
    """The task: one chunk (n, latent_dim) through this worker's evaluator for the run."""
    return evaluator_for(spec).evaluate(z, gradients=gradients)


class LoadEvaluator(WorkerPlugin):
    """Loads a run's models and builds its evaluator on every worker, including workers that
    join (or are restarted) later, so no chunk waits for a model to load."""

    idempotent = True  # registered again for the same run (a resume in the same process): nothing to do

    def __init__(self, spec: EvaluatorSpec) -> None:
        self.spec = spec

    def setup(self, worker) -> None:  # noqa: ARG002 - the plugin interface
        evaluator_for(self.spec)
