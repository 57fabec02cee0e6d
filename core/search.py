"""Quality-diversity search over a generator's latent space, on pyribs, with a random baseline.

One :meth:`Search.step` is one ask / evaluate / tell round of the pyribs scheduler (for
CMA-MAEGA: ``ask_dqd`` with gradients, then ``ask``). Every evaluated sample goes into
the pool. The random baseline evaluates the same number of latents drawn from the
generator's own prior, scored by the same :class:`~core.measures.Evaluator`, in chunks
interleaved with the search so that both are reported side by side at every event.

Figures in events and summaries:

- ``coverage``: fraction of archive cells (``archive_resolution`` per measure) holding
  an elite; for random, fraction of cells holding a random sample (the same as inserting
  the random samples into an archive of the same shape).
- ``uniformity``: normalised Shannon entropy over the *uniformity grid* (about
  :data:`UNIFORMITY_CELLS` cells in all: 10 x 10 for two measures, see
  :func:`uniformity_bins`) of a draw of ``min(UNIFORMITY_SAMPLES, n)`` samples: for QD, the
  balanced draw the export would make from the pool (:func:`core.metrics.balanced_counts`);
  for random, that many plain prior samples (what random sampling gives).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from ribs.archives import GridArchive
from ribs.schedulers import Scheduler

from . import metrics
from .algorithms import EmitterContext, algorithm_for
from .config import RunConfig
from .interfaces import Generator, Judge, Scorer
from .judging import DrawFigures
from .measures import Calibration, Evaluation, Evaluator, EvaluatorSettings, calibrate
from .runs import Run, Samples

__all__ = [
    "ProgressEvent",
    "SearchSettings",
    "Search",
    "iter_search",
    "run_search",
    "uniformity_bins",
    "uniformity_draw",
    "UNIFORMITY_CELLS",
    "UNIFORMITY_SAMPLES",
]

logger = logging.getLogger(__name__)

UNIFORMITY_CELLS = 100  # the uniformity grid has about this many cells whatever the measure count
UNIFORMITY_SAMPLES = 1000  # size of the draw whose uniformity is reported (the export default)
RANDOM_BLOCK = 1024  # the random baseline's latents are drawn in blocks of this many, block b with
# its own seed spawned from the run's: the first n latents are the same whatever the budget
STATE_FORMAT = "qdgs-search-state"  # what Search.state() writes, version STATE_VERSION
STATE_VERSION = 1


def uniformity_bins(num_measures: int) -> int:
    """Bins per measure of the uniformity grid: ``round(UNIFORMITY_CELLS ** (1/k))``, >= 2.

    1 measure: 100 bins; 2: 10 x 10; 3: 5 x 5 x 5; 4: 3 x 3 x 3 x 3.
    """
    return max(2, round(UNIFORMITY_CELLS ** (1.0 / num_measures)))


def uniformity_draw(samples: Samples, ranges, *, balanced: bool) -> np.ndarray:
    """Counts over the uniformity grid of a draw of ``min(UNIFORMITY_SAMPLES, n)`` samples: the
    one draw behind every uniformity figure (balanced for QD and balanced random, the first
    samples for plain random)."""
    k = len(ranges)
    return metrics.draw_counts(
        samples.measures.reshape(-1, k), ranges, uniformity_bins(k), UNIFORMITY_SAMPLES, balanced=balanced
    )


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """Emitter and archive settings (scales are relative to the prior's spread)."""

    calibration_samples: int = 512  # at most this many prior samples calibrate ranges ...
    calibration_fraction: float = 0.2  # ... and at most this fraction of the budget; they seed both
    # the QD archive and the random baseline and count as evaluations of both
    archive_learning_rate: float = 0.1  # CMA-MAE(GA) threshold learning rate
    es_sigma: float = 0.5  # CMA-ME / CMA-MAE step size, x prior std
    gaussian_sigma: float = 0.25  # MAP-Elites mutation std, x prior std
    dqd_sigma: float = 1.5  # CMA-MAEGA gradient coefficient std, x prior std (gradients unit norm)
    dqd_lr: float = 0.5  # CMA-MAEGA gradient-ascent step on the solution point, x prior std
    restart_every: int = 1  # CMA-MAE(GA) emitters restart from a random elite after this many
    # steps; 0 = only when their CMA-ES converges (pyribs' "basic" rule)
    jump_sigma: float = 0.05  # jump emitter: isotropic noise added to each child, x prior std
    jump_step: tuple[float, float] = (0.6, 1.4)  # jump emitter: range of the jump's scale
    jump_end_probability: float = 0.5  # jump emitter: chance that a target measure is at an end
    evaluator: EvaluatorSettings = EvaluatorSettings()


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """State of a run after one step (see the module docstring for the figures)."""

    iteration: int  # steps done
    evaluations: int  # QD evaluations done
    total_evaluations: int  # the budget
    elapsed: float  # seconds since the run started (calibration included)
    coverage: float  # QD archive coverage, 0..1
    qd_score: float  # QD score of the result archive (objective - offset, summed)
    uniformity: float  # normalised entropy of a balanced draw from the pool, 0..1
    best_objective: float | None  # best objective found so far
    done: bool  # last event of the run
    stopped: bool  # the run was stopped before its budget
    random_coverage: float | None = None  # random baseline at the same evaluation count
    random_uniformity: float | None = None
    random_qd_score: float | None = None
    random_evaluations: int = 0  # random samples evaluated so far
    num_elites: int = 0  # elites in the result archive
    balanced_random_uniformity: float | None = None  # the random samples put through the balanced draw
    # Judge figures (last event only; see core.judging): share of a balanced draw over two bins
    # per measure that an independent judge finds clean and on the claimed side of each measure.
    judge_agreement: float | None = None  # QD
    balanced_random_judge_agreement: float | None = None  # balanced random sampling
    random_judge_agreement: float | None = None  # plain random sampling
    judge_note: str = ""  # why there are no judge figures, when there are none


class Search:
    """A QD search in progress: pyribs archive, emitters, scheduler; pool; random baseline.

    Args:
        config: A validated run config.
        generator: The generator.
        scorer: The scorer.
        settings: Emitter and archive settings.
        judge: An independent judge for the final figures (None: none).
        judge_note: Why there is no judge, shown where its figures would be.
        cluster: A :class:`core.backends.Cluster` to evaluate on (None: this process); see
            :mod:`core.backends`. Calibration always runs here.
        state: ``(tree, arrays)`` from :meth:`state` of a search with the same config (its
            budget may be larger): the search continues from there, without calibrating again.

    Raises:
        InputError: a prompt is not usable by the scorer.
        StateError: ``state`` does not fit this config.
        ClusterError: the cluster cannot evaluate this run (a worker cannot load a model).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        generator: Generator,
        scorer: Scorer,
        settings: SearchSettings = SearchSettings(),
        judge: Judge | None = None,
        judge_note: str = "",
        cluster=None,
        state: tuple[dict, dict[str, np.ndarray]] | None = None,
    ) -> None:
        from .backends import backend_for

        self.config = config
        self.generator = generator
        self.scorer = scorer
        self.settings = settings
        self.judge = judge  # checks the final figures; never used by the search itself
        self.judge_note = judge_note or ("" if judge is not None else "no judge for this run")
        self.started = time.perf_counter()
        k = len(config.measures)
        seeds = np.random.SeedSequence(config.seed).generate_state(4)
        random_seed, x0_seed, archive_seed, emitter_seed = (int(s) for s in seeds)

        self.algorithm = algorithm_for(config.resolved_algorithm())
        # The random baseline's latents, drawn up front in fixed blocks so the run is the same
        # however it is chunked, and a larger budget only adds latents after them; the first
        # ones also calibrate ranges.
        n_random = max(config.evaluations, self.step_size, settings.calibration_samples)
        self._random_z = _prior_blocks(generator, n_random, seed=random_seed)
        base = Evaluator.from_config(config, generator=generator, scorer=scorer, settings=settings.evaluator)
        if state is None:
            n_cal = max(2, min(settings.calibration_samples, round(settings.calibration_fraction * config.evaluations)))
            self.calibration, cal_eval = calibrate(base, self._random_z[:n_cal], fixed_ranges=config.measure_ranges)
            cal_samples = Samples(self._random_z[:n_cal], cal_eval.measures, cal_eval.objective, cal_eval.similarities)
        else:  # continuing: the calibration and the samples it scored are the saved ones
            self.calibration = Calibration.from_dict(state[0]["calibration"])
            cal_samples = _samples(state[0]["random"], state[1]).head(self.calibration.samples)
            n_cal = len(cal_samples)
        self.evaluator = base.with_floor(self.calibration.log_prior_floor)
        self.backend = backend_for(self.evaluator, config, cluster)  # evaluates every search and random batch
        self._random_scored = [cal_samples]
        self._n_random_scored = n_cal
        self._random_seconds = time.perf_counter() - self.started

        self.measure_ranges = self.calibration.measure_ranges
        self.uniformity_bins = uniformity_bins(k)
        self.scheduler = self._build_scheduler(
            x0s=generator.sample_prior(config.emitters, seed=x0_seed).detach().cpu().double().numpy(),
            archive_seed=archive_seed,
            emitter_seed=emitter_seed,
        )
        self.random_archive = self._new_archive(learning_rate=None, seed=archive_seed)
        # The search starts from the calibration samples: they are its first evaluations.
        seed_samples = self._random_scored[0]
        self._pool_parts: list[Samples] = [seed_samples]
        for archive in {id(a): a for a in (self.scheduler.archive, self.scheduler.result_archive)}.values():
            archive.add(solution=seed_samples.z, objective=seed_samples.objective, measures=seed_samples.measures)
        self.iteration = 0
        self.evaluations = len(seed_samples)
        self._search_seconds = 0.0
        self.at_step_boundary = True  # False while a step runs (or after one failed halfway)
        if state is not None:
            self.load_state(*state)

    # ---- set-up -------------------------------------------------------------------------

    def _new_archive(self, *, learning_rate: float | None, seed: int) -> GridArchive:
        k = len(self.config.measures)
        offset = self.calibration.objective_offset
        return GridArchive(
            solution_dim=self.generator.latent_dim,
            dims=[self.config.archive_resolution] * k,
            ranges=self.measure_ranges,
            learning_rate=learning_rate,
            threshold_min=offset if learning_rate is not None else -np.inf,
            qd_score_offset=offset,
            seed=seed,
        )

    def _build_scheduler(self, *, x0s: np.ndarray, archive_seed: int, emitter_seed: int) -> Scheduler:
        cfg, s, algo = self.config, self.settings, self.algorithm
        archive = self._new_archive(learning_rate=s.archive_learning_rate if algo.learning_rate else None, seed=archive_seed)
        result_archive = self._new_archive(learning_rate=None, seed=archive_seed) if algo.learning_rate else None
        calibration = self._random_scored[0]
        context = EmitterContext(
            archive=archive,
            x0s=x0s,
            seeds=[int(v) for v in np.random.SeedSequence(emitter_seed).generate_state(cfg.emitters)],
            scale=self.calibration.prior_std,
            settings=s,
            batch_size=cfg.batch_size,
            measure_ranges=self.measure_ranges,
            initial_solutions=calibration.z,
            initial_measures=calibration.measures,
        )
        return Scheduler(archive, algo.build(context), result_archive=result_archive)

    # ---- properties -----------------------------------------------------------------------

    @property
    def archive(self) -> GridArchive:
        """The archive the emitters insert into (thresholded for CMA-MAE(GA))."""
        return self.scheduler.archive

    @property
    def result_archive(self) -> GridArchive:
        """The archive of best elites per cell (reported and saved)."""
        return self.scheduler.result_archive

    @property
    def step_size(self) -> int:
        """QD evaluations per step (gradient algorithms also evaluate each emitter's centre)."""
        cfg = self.config
        return cfg.emitters * cfg.batch_size + (cfg.emitters if self.algorithm.gradients else 0)

    @property
    def exhausted(self) -> bool:
        """True when the next step would go over the budget (at least one step is always run)."""
        return self.iteration > 0 and self.evaluations + self.step_size > self.config.evaluations

    @property
    def pool(self) -> Samples:
        """Every sample the search evaluated, in order."""
        return Samples.concat(self._pool_parts, latent_dim=self.generator.latent_dim, num_measures=len(self.config.measures))

    @property
    def random_pool(self) -> Samples:
        """The random baseline's samples, as many as the search has evaluated (or more, early on)."""
        full = Samples.concat(self._random_scored, latent_dim=self.generator.latent_dim, num_measures=len(self.config.measures))
        return full.head(self.evaluations)

    # ---- the loop -----------------------------------------------------------------------

    def _evaluate(self, z: np.ndarray, *, gradients: bool = False, backend=None) -> Evaluation:
        ev = (backend or self.backend).evaluate(np.asarray(z), gradients=gradients)
        bad = ~np.isfinite(ev.objective) | ~np.isfinite(ev.measures).all(axis=1)
        if bad.any():  # a diverged latent: keep the loop alive, make it unattractive
            logger.warning("%d non-finite evaluations replaced", int(bad.sum()))
            obj = np.where(bad, self.calibration.objective_offset, ev.objective)
            meas = np.where(bad[:, None], np.array([lo for lo, _ in self.measure_ranges]), ev.measures)
            jac = None if ev.jacobian is None else np.nan_to_num(ev.jacobian)
            sims = None if ev.similarities is None else np.nan_to_num(ev.similarities, nan=-1.0, posinf=-1.0, neginf=-1.0)
            ev = Evaluation(obj, meas, ev.quality, jac, ev.embeddings, sims)
        return ev

    def step(self) -> int:
        """One ask / evaluate / tell round. Returns the number of evaluations it made."""
        t0 = time.perf_counter()
        n = 0
        sched = self.scheduler
        self.at_step_boundary = False  # stays False if an evaluation fails: the state is then halfway
        if self.algorithm.gradients:
            z = sched.ask_dqd()  # (emitters, d)
            ev = self._evaluate(z, gradients=True)
            sched.tell_dqd(ev.objective, ev.measures, ev.jacobian)
            self._pool_parts.append(Samples(np.asarray(z), ev.measures, ev.objective, ev.similarities))
            n += len(z)
            self.evaluations += len(z)  # counted as told, so the pool and the count always agree
        z = sched.ask()  # (emitters * batch_size, d)
        ev = self._evaluate(z)
        sched.tell(ev.objective, ev.measures)
        self._pool_parts.append(Samples(np.asarray(z), ev.measures, ev.objective, ev.similarities))
        n += len(z)
        self.iteration += 1
        self.evaluations += len(z)
        self._search_seconds += time.perf_counter() - t0
        self.at_step_boundary = True
        return n

    def catch_up_random(self) -> int:
        """Evaluates random-baseline samples up to the search's evaluation count."""
        t0 = time.perf_counter()
        target = min(self.evaluations, len(self._random_z))
        n = max(0, target - self._n_random_scored)
        if n:
            z = self._random_z[self._n_random_scored : target]
            # Once a cluster is lost, the random baseline is caught up here, so the run can end.
            ev = self._evaluate(z, backend=None if self.backend.available else self.backend.fallback())
            self._random_scored.append(Samples(z, ev.measures, ev.objective, ev.similarities))
            self._n_random_scored = target
        pool = self.random_pool
        self.random_archive.clear()
        if len(pool):
            self.random_archive.add(solution=pool.z, objective=pool.objective, measures=pool.measures)
        self._random_seconds += time.perf_counter() - t0
        return n

    # ---- figures ------------------------------------------------------------------------

    def draw(self, samples: Samples, *, balanced: bool) -> np.ndarray:
        """:func:`uniformity_draw` over this run's measure ranges."""
        return uniformity_draw(samples, self.measure_ranges, balanced=balanced)

    def uniformity_of(self, samples: Samples, *, balanced: bool) -> float:
        """Normalised entropy of :meth:`draw` (0 for no samples)."""
        return metrics.normalized_entropy(self.draw(samples, balanced=balanced)) if len(samples) else 0.0

    def event(self, *, done: bool, stopped: bool, judged: dict[str, DrawFigures] | None = None) -> ProgressEvent:
        stats = self.result_archive.stats
        rstats = self.random_archive.stats
        random_pool = self.random_pool
        judged = judged or {}
        agreement = lambda side: judged[side].report.agreement if side in judged else None  # noqa: E731
        return ProgressEvent(
            iteration=self.iteration,
            evaluations=self.evaluations,
            total_evaluations=self.config.evaluations,
            elapsed=time.perf_counter() - self.started,
            coverage=float(stats.coverage),
            qd_score=float(stats.qd_score),
            uniformity=self.uniformity_of(self.pool, balanced=True),
            best_objective=None if stats.obj_max is None else float(stats.obj_max),
            done=done,
            stopped=stopped,
            random_coverage=float(rstats.coverage),
            random_uniformity=self.uniformity_of(random_pool, balanced=False),
            random_qd_score=float(rstats.qd_score),
            random_evaluations=len(random_pool),
            num_elites=int(stats.num_elites),
            balanced_random_uniformity=self.uniformity_of(random_pool, balanced=True),
            judge_agreement=agreement("qd"),
            balanced_random_judge_agreement=agreement("balanced_random"),
            random_judge_agreement=agreement("random"),
            judge_note=next((f.report.note for f in judged.values() if f.report.note), ""),
        )

    def _side(self, archive: GridArchive, samples: Samples, *, balanced: bool) -> dict:
        drawn = self.draw(samples, balanced=balanced)
        grid = metrics.bin_counts(samples.measures, self.measure_ranges, self.uniformity_bins)
        return {
            **metrics.archive_metrics(archive),
            "uniformity": metrics.normalized_entropy(drawn),
            "kl_from_uniform": metrics.kl_from_uniform(drawn),
            "grid_coverage": metrics.coverage(grid),
            "evaluations": len(samples),
            "pool_mean_objective": metrics.mean_objective(samples.objective),
        }

    def final_figures(self) -> dict[str, DrawFigures]:
        """The judge's figures and diversity of a draw over two bins per measure
        (:data:`core.judging.JUDGE_SAMPLE` images) from each side: the QD pool, the random
        samples through the same selection, and plain random samples (reports say why when
        there is no judge)."""
        from .judging import JUDGE_SAMPLE, judge_draws

        return judge_draws(
            self.judge,
            self.generator,
            scorer=self.scorer,
            pairs=[(m.positive, m.negative) for m in self.config.measures],
            pool=self.pool,
            random_pool=self.random_pool,
            calibration=self.calibration,
            images=JUDGE_SAMPLE,
            bins=2,
            note=self.judge_note,
        )

    def summary(self, *, stopped: bool, judged: dict[str, DrawFigures] | None = None) -> dict:
        """The figures written to ``summary.json``."""
        cfg = self.config
        random_pool = self.random_pool
        judged = judged or {}
        return {
            "status": "stopped" if stopped else "done",
            "evaluations": self.evaluations,
            "budget": cfg.evaluations,
            "iterations": self.iteration,
            "seconds": time.perf_counter() - self.started,
            "search_seconds": self._search_seconds,
            "random_seconds": self._random_seconds,
            "algorithm": self.algorithm.name,
            "seed": cfg.seed,
            "prompts": {
                "measures": [dataclasses.asdict(m) | {"label": m.display_label()} for m in cfg.measures],
                "objective": dataclasses.asdict(cfg.resolved_objective()),
            },
            "generator": self.generator.describe(),
            "scorer": self.scorer.describe(),
            "judge": None if self.judge is None else self.judge.describe(),
            "measure_ranges": [list(r) for r in self.measure_ranges],
            "archive_resolution": cfg.archive_resolution,
            "objective_offset": self.calibration.objective_offset,
            "uniformity_bins": self.uniformity_bins,
            "uniformity_samples": min(UNIFORMITY_SAMPLES, self.evaluations),
            "qd": self._side(self.result_archive, self.pool, balanced=True) | _judged(judged.get("qd")),
            "balanced_random": {
                "uniformity": self.uniformity_of(random_pool, balanced=True),
                "kl_from_uniform": metrics.kl_from_uniform(self.draw(random_pool, balanced=True)),
                "evaluations": len(random_pool),
            }
            | _judged(judged.get("balanced_random")),
            "random": self._side(self.random_archive, random_pool, balanced=False) | _judged(judged.get("random")),
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def archive_frame(self) -> pd.DataFrame:
        """Elites of the result archive: index, objective, measures_*, solution_*."""
        frame = self.result_archive.data(["index", "objective", "measures", "solution"], return_type="pandas")
        return pd.DataFrame(frame)

    # ---- saved state (resume) ---------------------------------------------------------------

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Everything the search would need to go on, as (JSON tree, arrays); no pickle.

        The scheduler (archives, emitters with their CMA-ES or least-squares statistics and
        random generators, its counters), the random baseline's archive, the pool, the random
        samples scored so far, the calibration, the counters and timers. Only meaningful
        between steps (:attr:`at_step_boundary`). See :mod:`core.state`.
        """
        import ribs

        from .state import encode

        if not self.at_step_boundary:
            from .state import StateError

            raise StateError("the search is halfway through a step; its state is not saved")
        arrays: dict[str, np.ndarray] = {}
        tree = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "ribs": ribs.__version__,
            "iteration": self.iteration,
            "evaluations": self.evaluations,
            "n_random_scored": self._n_random_scored,
            "elapsed": time.perf_counter() - self.started,
            "search_seconds": self._search_seconds,
            "random_seconds": self._random_seconds,
            "calibration": self.calibration.to_dict(),
            "scheduler": encode(self.scheduler, arrays, prefix="scheduler.", path="scheduler"),
            "random_archive": encode(self.random_archive, arrays, prefix="random_archive.", path="random_archive"),
            "pool": encode(_sample_arrays(self.pool), arrays, prefix="pool.", path="pool"),
            "random": encode(_sample_arrays(self.random_scored), arrays, prefix="random.", path="random"),
        }
        return tree, arrays

    def load_state(self, tree: dict, arrays: dict[str, np.ndarray]) -> None:
        """Continues from :meth:`state` of a search with the same config (a larger budget is fine).

        Raises:
            StateError: the state is of another format, pyribs version or config.
        """
        from .state import StateError, decode

        check_state(tree)
        decode(tree["scheduler"], self.scheduler, arrays, path="scheduler")
        decode(tree["random_archive"], self.random_archive, arrays, path="random_archive")
        pool = _samples(tree["pool"], arrays)
        random = _samples(tree["random"], arrays)
        if len(random) > len(self._random_z) or not np.array_equal(random.z, self._random_z[: len(random)]):
            raise StateError("the saved random samples are not this run's prior draws (another seed or generator?)")
        self._pool_parts = [pool]
        self._random_scored = [random]
        self._n_random_scored = int(tree["n_random_scored"])
        self.iteration = int(tree["iteration"])
        self.evaluations = int(tree["evaluations"])
        self.started = time.perf_counter() - float(tree["elapsed"])
        self._search_seconds = float(tree["search_seconds"])
        self._random_seconds = float(tree["random_seconds"])
        self.at_step_boundary = True

    @property
    def random_scored(self) -> Samples:
        """Every random-baseline sample scored so far (:attr:`random_pool` is its head)."""
        return Samples.concat(self._random_scored, latent_dim=self.generator.latent_dim, num_measures=len(self.config.measures))


def check_state(tree: dict) -> None:
    """Checks the header of a saved search state (format, version, pyribs version).

    Raises:
        StateError: another format or version, or saved with another pyribs.
    """
    import ribs

    from .state import StateError

    if not isinstance(tree, dict) or tree.get("format") != STATE_FORMAT or tree.get("version") != STATE_VERSION:
        got = (tree.get("format"), tree.get("version")) if isinstance(tree, dict) else type(tree).__name__
        raise StateError(f"not a saved search state of version {STATE_VERSION} (got {got!r})")
    if tree.get("ribs") != ribs.__version__:
        raise StateError(f"saved with pyribs {tree.get('ribs')}; this is pyribs {ribs.__version__} (pyribs' objects change between versions)")


def _prior_blocks(generator: Generator, n: int, *, seed: int) -> np.ndarray:
    """(n, latent_dim) prior latents: blocks of :data:`RANDOM_BLOCK`, block b drawn with the seed
    spawned from ``seed`` for b, so the first m latents never depend on n."""
    blocks = []
    for b in range(-(-n // RANDOM_BLOCK)):
        block_seed = int(np.random.SeedSequence(seed, spawn_key=(b,)).generate_state(1)[0])
        blocks.append(generator.sample_prior(RANDOM_BLOCK, seed=block_seed).detach().cpu().double().numpy())
    if not blocks:
        return np.zeros((0, generator.latent_dim))
    return np.concatenate(blocks)[:n]


def _sample_arrays(samples: Samples) -> dict[str, np.ndarray]:
    out = {"z": samples.z, "measures": samples.measures, "objective": samples.objective}
    if samples.similarities is not None:
        out["similarities"] = samples.similarities
    return out


def _samples(node: dict, arrays: dict[str, np.ndarray]) -> Samples:
    from .state import StateError, decode

    data = decode(node, None, arrays, path="samples")
    if not isinstance(data, dict) or not {"z", "measures", "objective"} <= set(data):
        raise StateError("saved samples lack z, measures or objective")
    return Samples(data["z"], data["measures"], data["objective"], data.get("similarities"))


def _judged(figures: DrawFigures | None) -> dict:
    """The final draw's figures of one side for summary.json: the judge's, and diversity."""
    if figures is None:
        return {}
    report = figures.report
    return {
        "judge_agreement": report.agreement,
        "judge_not_clean": report.not_clean_share,
        "verified_uniformity": report.verified_uniformity,
        "vendi": figures.vendi,
        "judge": report.to_dict(),
    }


def iter_search(
    config: RunConfig,
    *,
    run_dir: str | Path,
    generator: Generator | None = None,
    scorer: Scorer | None = None,
    should_stop: Callable[[], bool] | None = None,
    settings: SearchSettings = SearchSettings(),
) -> Iterator[ProgressEvent]:
    """Prepares and runs a search (:func:`core.run.prepare`, :meth:`core.run.RunHandle.run`).

    Raises:
        InputError: a bad config field, prompt or run directory.
        WeightsNotFoundError: a model's weights are absent.
    """
    from .run import prepare

    handle = prepare(config, generator=generator, scorer=scorer, settings=settings)
    yield from handle.run(run_dir, should_stop=should_stop)


def run_search(
    config: RunConfig,
    *,
    run_dir: str | Path,
    generator: Generator | None = None,
    scorer: Scorer | None = None,
    on_event: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    settings: SearchSettings = SearchSettings(),
) -> Run:
    """Runs a whole search (see :func:`iter_search`) and returns the finished :class:`Run`.

    Args:
        on_event: Called with each :class:`ProgressEvent`.
    """
    from .run import prepare

    handle = prepare(config, generator=generator, scorer=scorer, settings=settings)
    for event in handle.run(run_dir, should_stop=should_stop):
        if on_event is not None:
            on_event(event)
    return handle.result
