"""Where a run's evaluations happen: in this process, or on a Dask cluster.

A run's ``backend`` (:attr:`core.config.RunConfig.backend`) is one of

=====================  ================================================================
``local``              this process (the default)
``local-cluster:N``    a Dask ``LocalCluster`` of N worker processes on this machine,
                       started for the run and closed after it
``tcp://HOST:PORT``    a running Dask scheduler (``dask scheduler``) and the workers
                       connected to it (``dask worker tcp://HOST:PORT``), on any machines;
                       ``tls://`` the same over TLS
=====================  ================================================================

Both back ends do the same thing with a batch of latents (the search's ask, or the random
baseline's next samples): split it into chunks of ``EvaluatorSettings.chunk_size`` rows
(:func:`split_chunks`), evaluate each chunk with one :meth:`Evaluator.evaluate` call, and
concatenate the results in order (:func:`concat_evaluations`). The evaluator is a pure function
of z and rows never mix across chunks, so a cluster gives bit-identical results to this process
for the same chunking, as long as workers run the same code on the same kind of device
(backward passes on CPU also need the same number of torch threads: their reductions are split
by thread). This is the pattern of pyribs' own Dask examples: the scheduler's ask and tell stay
here; only evaluations go out.

:class:`DaskBackend` ships a small :class:`EvaluatorSpec` (registry names, factory paths and
options of the generator and scorer, the device, the prompts, the evaluator settings and the
realism floor) to every worker once, through a worker plugin that builds the evaluator there
(models loaded once per worker process), also on workers that join or restart later. Chunks
are mapped with retries; a worker lost mid-chunk has its chunk run again elsewhere (Dask
reschedules it). A cluster that is unreachable or has no workers for ``lost_after`` seconds, or
a chunk that keeps failing, raises :class:`~core.errors.ClusterError`; the run then stops and
keeps what it found (:meth:`core.run.RunHandle.run`), and the random baseline is caught up in
this process (:meth:`Backend.fallback`).

Dask is imported only when a cluster is used: ``import core`` works without it.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import logging
import re
import time
from typing import Any, Sequence

import numpy as np

from .errors import ClusterError, InputError
from .measures import Evaluation, Evaluator, EvaluatorSettings

__all__ = [
    "BACKEND_LOCAL",
    "MAX_LOCAL_WORKERS",
    "Backend",
    "LocalBackend",
    "DaskBackend",
    "Cluster",
    "EvaluatorSpec",
    "parse_backend",
    "check_backend",
    "open_cluster",
    "backend_for",
    "split_chunks",
    "concat_evaluations",
]

logger = logging.getLogger(__name__)

BACKEND_LOCAL = "local"
MAX_LOCAL_WORKERS = 64  # worker processes a local-cluster:N may start
BACKEND_EXPECTED = "local, local-cluster:N (N from 1 to 64) or a Dask scheduler address such as tcp://HOST:8786"
_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
_LOCAL_CLUSTER = re.compile(r"^local-cluster:(\d{1,3})$")
CONNECT_SECONDS = 30.0  # connecting to a scheduler (and waiting for a first worker) may take this
# long; a client that loses its scheduler also gives up reconnecting after this long
LOST_AFTER_SECONDS = 60.0  # a cluster without workers this long is gone
CHUNK_RETRIES = 2  # a chunk whose task raises is tried this many more times
MESSAGE_CHARS = 300  # the part of a worker's or Dask's error text a message quotes


def _one_line(exc: BaseException) -> str:
    """An exception as ``Type: text`` on one line, at most :data:`MESSAGE_CHARS` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


# ---- the address ------------------------------------------------------------------------


def parse_backend(value: object) -> tuple[str, Any]:
    """``("local", None)``, ``("local-cluster", N)`` or ``("address", "tcp://HOST:PORT")``.

    Raises:
        InputError: naming the field ``backend``.
    """
    if not isinstance(value, str):
        raise InputError("backend", value, BACKEND_EXPECTED)
    text = value.strip()
    if text == BACKEND_LOCAL:
        return "local", None
    match = _LOCAL_CLUSTER.match(text)
    if match:
        n = int(match.group(1))
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise InputError("backend", value, BACKEND_EXPECTED)
        return "local-cluster", n
    match = _ADDRESS.match(text)
    if match and 1 <= int(match.group(3)) <= 65535:
        return "address", text
    raise InputError("backend", value, BACKEND_EXPECTED)


def check_backend(value: object) -> str:
    """``value`` if it is a back end :func:`parse_backend` accepts (InputError otherwise)."""
    parse_backend(value)
    return value  # type: ignore[return-value]


# ---- chunks ---------------------------------------------------------------------------------


def split_chunks(n: int, chunk_size: int) -> list[slice]:
    """The chunks of a batch of ``n`` rows: ``[0, c), [c, 2c), ...`` (the last may be shorter)."""
    return [slice(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def concat_evaluations(parts: Sequence[Evaluation], *, num_measures: int) -> Evaluation:
    """The evaluations of consecutive chunks as one (rows in order)."""
    if not parts:
        k = num_measures
        return Evaluation(np.zeros(0), np.zeros((0, k)), np.zeros(0), None, None, np.zeros((0, k, 2)))

    def cat(name: str):
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    return Evaluation(
        objective=cat("objective"), measures=cat("measures"), quality=cat("quality"),
        jacobian=cat("jacobian"), embeddings=cat("embeddings"), similarities=cat("similarities"),
    )


# ---- the back ends -------------------------------------------------------------------------


class Backend(abc.ABC):
    """Evaluates batches of latents for a run (see the module docstring)."""

    name: str = ""

    @property
    def available(self) -> bool:
        """False once the back end has failed for good (a lost cluster)."""
        return True

    @abc.abstractmethod
    def evaluate(self, z: np.ndarray, *, gradients: bool = False) -> Evaluation:
        """Scores (n, latent_dim) latents; with ``gradients`` the (n, 1 + k, latent_dim) Jacobian too.

        Raises:
            ClusterError: the evaluations cannot be made (cluster back end).
        """

    def fallback(self) -> "Backend":
        """A back end that needs nothing but this process (to end a run whose cluster is lost)."""
        return self

    def describe(self) -> dict:
        return {"backend": self.name}

    def close(self) -> None:
        """Releases what the back end holds (not the cluster itself)."""


class LocalBackend(Backend):
    """Evaluations in this process, chunk by chunk exactly as a cluster would make them."""

    name = BACKEND_LOCAL

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def evaluate(self, z: np.ndarray, *, gradients: bool = False) -> Evaluation:
        z = np.asarray(z)
        chunks = split_chunks(len(z), self.evaluator.settings.chunk_size)
        parts = [self.evaluator.evaluate(z[c], gradients=gradients) for c in chunks]
        return concat_evaluations(parts, num_measures=self.evaluator.num_measures)


@dataclasses.dataclass(frozen=True)
class EvaluatorSpec:
    """What a worker builds a run's evaluator from (small; shipped to each worker once)."""

    generator: str  # registry name
    generator_factory: str  # its "module:callable", registered on a worker that lacks it
    generator_options: dict
    scorer: str
    scorer_factory: str
    scorer_options: dict
    device: str  # the run's torch device, as seen on the worker (e.g. its one visible GPU)
    measures: tuple  # core.config.PromptPair per measure
    objective: Any  # core.config.PromptPair (resolved)
    settings: EvaluatorSettings
    log_prior_floor: float | None

    @classmethod
    def of(cls, evaluator: Evaluator, config) -> "EvaluatorSpec":
        """The spec of this process's evaluator for ``config``."""
        from .registry import generator_entries, scorer_entries

        return cls(
            generator=config.generator,
            generator_factory=generator_entries()[config.generator].factory,
            generator_options=dict(config.generator_options),
            scorer=config.scorer,
            scorer_factory=scorer_entries()[config.scorer].factory,
            scorer_options=dict(config.scorer_options),
            device=config.device,
            measures=tuple(evaluator.measures),
            objective=evaluator.objective,
            settings=evaluator.settings,
            log_prior_floor=evaluator.log_prior_floor,
        )

    @property
    def key(self) -> str:
        """A digest naming the run's evaluator on the workers."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def build(self) -> Evaluator:
        """The evaluator, on models loaded once per process (run on a worker)."""
        from .models import get_generator, get_scorer
        from .registry import generator_entries, register_generator, register_scorer, scorer_entries

        if getattr(generator_entries().get(self.generator), "factory", None) != self.generator_factory:
            register_generator(self.generator, self.generator_factory, f"{self.generator} (registered by a client)")
        if getattr(scorer_entries().get(self.scorer), "factory", None) != self.scorer_factory:
            register_scorer(self.scorer, self.scorer_factory, f"{self.scorer} (registered by a client)")
        generator = get_generator(self.generator, options=self.generator_options, device=self.device)
        scorer = get_scorer(self.scorer, options=self.scorer_options, device=self.device)
        evaluator = Evaluator(
            generator=generator, scorer=scorer, measures=self.measures, objective=self.objective, settings=self.settings
        )
        return evaluator.with_floor(self.log_prior_floor)


class Cluster:
    """A connection to a Dask cluster for one run, and the ``LocalCluster`` it started, if any.

    Use :func:`open_cluster`.
    """

    def __init__(self, client, *, address: str, local=None) -> None:
        self.client = client
        self.address = address  # as the run's config names it
        self.local = local  # the LocalCluster started for a local-cluster:N back end

    @classmethod
    def connect(cls, backend: str, *, timeout: float | None = None) -> "Cluster":
        """Connects to (or for ``local-cluster:N`` starts) the cluster a back end names, and
        waits for a first worker.

        Raises:
            InputError: ``backend`` is not a cluster back end.
            ClusterError: dask is not installed, or no scheduler or worker answered in time.
        """
        kind, value = parse_backend(backend)
        if kind == "local":
            raise InputError("backend", backend, "a cluster back end (local-cluster:N or tcp://HOST:PORT)")
        timeout = CONNECT_SECONDS if timeout is None else timeout
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise ClusterError(
                f"backend {backend!r} needs Dask: pip install dask distributed (missing module {exc.name or exc})"
            ) from None
        if not logger.isEnabledFor(logging.INFO):  # Dask logs every connection at INFO: only when asked
            logging.getLogger("distributed").setLevel(logging.WARNING)
        local = None
        try:
            if kind == "local-cluster":
                with dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environ(dask)}):
                    local = LocalCluster(  # its scheduler's web server on a free port: never another cluster's
                        n_workers=value, threads_per_worker=1, processes=True, dashboard_address=":0",
                        silence_logs=logging.WARNING,
                    )
                client = Client(local, timeout=timeout)
            else:
                client = Client(value, timeout=timeout)
            client.wait_for_workers(1, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, a LocalCluster that failed to start...
            if local is not None:
                local.close()
            hint = "" if kind == "local-cluster" else f" (start one with: dask scheduler, then dask worker {value})"
            raise ClusterError(
                f"backend {backend!r}: no scheduler with a worker answered within {timeout:.0f} s{hint} ({_one_line(exc)})"
            ) from None
        logger.info("connected to %s (%d workers)", backend, len(client.nthreads()))
        return cls(client, address=backend, local=local)

    def workers(self) -> int:
        """Workers connected now (0 when the scheduler cannot be reached)."""
        try:
            return len(self.client.nthreads())
        except Exception:  # noqa: BLE001 - any failure to ask means: none reachable
            return 0

    def close(self) -> None:
        """Disconnects (and stops a LocalCluster started for the run); never raises."""
        for part in (self.client, self.local):
            if part is None:
                continue
            try:
                part.close(timeout=5) if part is self.client else part.close()
            except Exception:  # noqa: BLE001 - closing a cluster that is gone
                logger.debug("closing %s failed", self.address, exc_info=True)


def _worker_environ(dask) -> dict:
    """The environment Dask gives the worker processes it spawns, less its malloc settings.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` for its workers (to hand freed memory back to the
    system). Setting it fixes glibc's mmap threshold at 128 KiB, so every activation tensor of a
    forward pass is mapped, page-faulted and unmapped again: the shapes world's chunk of 36
    latents took 60 ms instead of 42 ms on one CPU thread (benchmarks/README.md, issue 11).
    Workers of a local cluster keep glibc's own thresholds, as this process does; the thread
    limits (one OpenMP/BLAS thread per worker) stay.
    """
    environ = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {k: v for k, v in environ.items() if not k.upper().startswith("MALLOC_")}


def open_cluster(backend: str) -> Cluster | None:
    """The cluster a back end names, connected (None for ``local``). See :meth:`Cluster.connect`."""
    kind, _ = parse_backend(backend)
    return None if kind == "local" else Cluster.connect(backend)


class DaskBackend(Backend):
    """Evaluations on a Dask cluster, chunk by chunk (see the module docstring).

    Args:
        evaluator: This process's evaluator for the run (its settings, prompts and floor are
            what the workers build theirs from; it also serves :meth:`fallback`).
        config: The run's config (model names, options, device).
        cluster: The connected cluster.
        retries: Extra tries of a chunk whose task raises.
        lost_after: Seconds without any worker (or without the scheduler) after which the
            cluster counts as gone; None: :data:`LOST_AFTER_SECONDS`. A client that cannot
            reach its scheduler also gives up by itself after :data:`CONNECT_SECONDS`.
        poll: Seconds between two checks of the cluster while chunks run.

    Raises:
        ClusterError: a worker cannot build the evaluator (a model missing there).
    """

    name = "dask"

    def __init__(
        self,
        evaluator: Evaluator,
        config,
        cluster: Cluster,
        *,
        retries: int = CHUNK_RETRIES,
        lost_after: float | None = None,
        poll: float = 0.5,
    ) -> None:
        from ._dask_worker import LoadEvaluator

        self.evaluator = evaluator
        self.cluster = cluster
        self.spec = EvaluatorSpec.of(evaluator, config)
        self.retries = retries
        self.lost_after = LOST_AFTER_SECONDS if lost_after is None else lost_after
        self.poll = poll
        self._available = True
        try:
            cluster.client.register_plugin(LoadEvaluator(self.spec), name=f"qdgs-evaluator-{self.spec.key[:16]}")
        except Exception as exc:  # noqa: BLE001 - a worker's error, re-raised with its text
            self._available = False
            raise ClusterError(f"a worker of {cluster.address} cannot evaluate this run: {_one_line(exc)}") from None

    @property
    def available(self) -> bool:
        return self._available

    def fallback(self) -> Backend:
        return LocalBackend(self.evaluator)

    def describe(self) -> dict:
        return {"backend": self.cluster.address, "workers": self.cluster.workers()}

    def evaluate(self, z: np.ndarray, *, gradients: bool = False) -> Evaluation:
        from ._dask_worker import evaluate_chunk

        if not self._available:
            raise ClusterError(f"the Dask cluster at {self.cluster.address} was lost earlier in this run")
        z = np.asarray(z)
        chunks = split_chunks(len(z), self.evaluator.settings.chunk_size)
        client = self.cluster.client
        try:
            futures = [client.submit(evaluate_chunk, self.spec, z[c], gradients, retries=self.retries, pure=False) for c in chunks]
            parts = self._gather(futures)
        except ClusterError:
            self._available = False
            raise
        except Exception as exc:  # noqa: BLE001 - a connection error of any kind
            self._available = False
            raise ClusterError(f"the Dask cluster at {self.cluster.address} failed ({_one_line(exc)})") from None
        return concat_evaluations(parts, num_measures=self.evaluator.num_measures)

    def _gather(self, futures: list) -> list[Evaluation]:
        """Waits for every chunk; fails when the cluster stays unreachable or empty too long."""
        from dask.distributed import wait
        from distributed.utils import CancelledError

        address = self.cluster.address
        troubled_since: float | None = None  # since when the cluster has been unreachable or empty
        while True:
            try:
                wait(futures, timeout=self.poll)
                break
            except TimeoutError:
                pass
            except CancelledError:  # the client gave up on its scheduler and cancelled everything
                break
            if any(f.status in ("error", "cancelled") for f in futures):
                break  # one chunk failed for good: no need to wait for the others
            if self.cluster.client.status == "running" and self.cluster.workers() > 0:
                troubled_since = None
                continue
            now = time.monotonic()
            troubled_since = troubled_since or now
            if now - troubled_since >= self.lost_after:
                self._cancel(futures)
                state = "unreachable" if self.cluster.client.status != "running" else "without workers"
                raise ClusterError(f"the Dask cluster at {address} is gone: {state} for {self.lost_after:.0f} s")
        for f in futures:
            if f.status == "cancelled":
                self._cancel(futures)
                raise ClusterError(f"the Dask cluster at {address} is gone: its scheduler could not be reached and the evaluations were cancelled")
            if f.status == "error":
                exc = f.exception()
                self._cancel(futures)
                raise ClusterError(f"evaluation failed on the Dask cluster at {address} after {self.retries} retries: {_one_line(exc)}")
        return list(self.cluster.client.gather(futures))

    @staticmethod
    def _cancel(futures: list) -> None:
        for f in futures:
            try:
                f.cancel()
            except Exception:  # noqa: BLE001 - the cluster may be gone
                pass

    def close(self) -> None:
        self._available = False


def backend_for(evaluator: Evaluator, config, cluster: Cluster | None) -> Backend:
    """The back end of a run: this process when ``cluster`` is None, else the cluster."""
    if cluster is None:
        return LocalBackend(evaluator)
    return DaskBackend(evaluator, config, cluster)
