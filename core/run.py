"""One run, from typed prompts to a downloaded zip, as one object.

    handle = prepare(config)               # validates everything once, loads the models and judge
    for event in handle.run(run_dir):      # the search; writes the run directory as it goes
        view = handle.snapshot()           # what every viewer draws: maps, cards, galleries
    result = handle.export(images=1000, bins=5, out="data.zip")

    handle = resume(run_dir, evaluations=6000)   # a stopped or finished run, to a larger budget
    for event in handle.run(): ...

:func:`prepare` checks the config's fields, loads the generator and scorer (once per process),
checks every prompt against the scorer and loads the judge, before any search starts; a bad
field, prompt or judge is an :class:`~core.errors.InputError` then, never halfway through.
:meth:`RunHandle.snapshot` computes, once and in the engine, the figures a viewer needs (the
density counts of QD, balanced random and random, the elites, the last event, and at the end
the judge's figures and diversity): the command line, the dashboard's live maps, its final
view and the export all read the same numbers. :attr:`RunHandle.result` is the finished run
in memory; :meth:`core.runs.Run.open` is only for reopening runs written earlier.

A run saves its search state (``search_state.safetensors``: arrays and JSON, see
:mod:`core.state`) after its first step, then at most every ``checkpoint_seconds``, and when it
ends between two steps. :func:`resume` continues from there, on any back end: a resumed run
gives the archive, pool and random samples that one uninterrupted run of the same config and
total budget gives, provided its calibration is the same size (README, "Several machines
(Dask) and resuming runs", states the guarantee exactly).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .config import RunConfig, check_prompts, validate_config
from .errors import ClusterError, InputError
from .interfaces import Generator, Judge, Scorer
from .judging import DrawFigures, JudgeReport, load_run_judge
from .runs import RUN_FILES, Run, RunWriter, Samples
from .search import ProgressEvent, Search, SearchSettings, uniformity_draw

__all__ = ["prepare", "resume", "RunHandle", "ResumePoint", "Snapshot", "SIDES", "CHECKPOINT_SECONDS", "MAX_CHUNK_SIZE", "with_chunk_size"]

logger = logging.getLogger(__name__)

SIDES = ("qd", "balanced_random", "random")  # the search and its two baselines, in display order
CHECKPOINT_SECONDS = 30.0  # least time between two saved search states while a run goes (the
# state holds the whole pool, so saving it after every step would cost time quadratic in the run)
MAX_CHUNK_SIZE = 1_000_000  # rows of one evaluation chunk


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What a viewer of a run (live or finished) draws; plain arrays, computed once.

    Attributes:
        event: The last progress event (None before the first step).
        labels: k measure names.
        ranges: k (low, high) archive ranges.
        resolution: Archive cells per measure.
        elite_z: (e, latent_dim) elites of the result archive; elite_measures (e, k);
            elite_objective (e,).
        counts: Side -> samples per cell of the uniformity grid, shape (bins,) * k: the
            balanced draw from the QD pool, the same draw from the random samples, and the
            first random samples as drawn (:func:`core.search.uniformity_draw`).
        random: The random samples evaluated so far (the second gallery).
        summary: ``summary.json`` once the run has ended (judge figures, diversity), else None.
    """

    event: ProgressEvent | None
    labels: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    resolution: int
    elite_z: np.ndarray
    elite_measures: np.ndarray
    elite_objective: np.ndarray
    counts: dict[str, np.ndarray]
    random: Samples
    summary: dict | None = None

    @classmethod
    def of_run(cls, run: Run) -> "Snapshot":
        """The same arrays for a run written earlier (reopened with :meth:`Run.open`)."""
        k = len(run.config.measures)
        meas_cols = [f"measures_{i}" for i in range(k)]
        sol_cols = sorted((c for c in run.archive.columns if c.startswith("solution_")), key=lambda c: int(c.split("_")[1]))
        return cls(
            event=None,
            labels=tuple(run.labels),
            ranges=tuple(tuple(map(float, r)) for r in run.measure_ranges),
            resolution=run.config.archive_resolution,
            elite_z=run.archive[sol_cols].to_numpy(dtype=np.float32),
            elite_measures=run.archive[meas_cols].to_numpy(dtype=float),
            elite_objective=run.archive["objective"].to_numpy(dtype=float),
            counts=density_counts(run.pool, run.random_pool, run.measure_ranges),
            random=run.random_pool,
            summary=run.summary,
        )


def density_counts(pool: Samples, random_pool: Samples, ranges) -> dict[str, np.ndarray]:
    """Counts over the uniformity grid behind every uniformity figure, for the three sides."""
    return {
        "qd": uniformity_draw(pool, ranges, balanced=True),
        "balanced_random": uniformity_draw(random_pool, ranges, balanced=True),
        "random": uniformity_draw(random_pool, ranges, balanced=False),
    }


class RunHandle:
    """A prepared run: validated config, loaded models and judge; runs once, then exports.

    Made by :func:`prepare`. Not thread-safe: one caller drives :meth:`run`; viewers call
    :meth:`snapshot` between its events (the dashboard does both from one generator).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        generator: Generator,
        scorer: Scorer,
        judge: Judge | None,
        judge_note: str,
        settings: SearchSettings,
    ) -> None:
        self.config = config
        self.generator = generator
        self.scorer = scorer
        self.judge = judge
        self.judge_note = judge_note
        self.settings = settings
        self.search: Search | None = None
        self.dir: Path | None = None
        self._writer: RunWriter | None = None
        self._last: ProgressEvent | None = None
        self._summary: dict | None = None
        self._result: Run | None = None
        self._resume: ResumePoint | None = None  # set by resume(): where the run continues from
        self._checkpointed = -np.inf  # time.monotonic() of the last saved state

    # ---- the search ------------------------------------------------------------------

    def run(
        self,
        run_dir: str | Path | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> Iterator[ProgressEvent]:
        """Runs the search step by step, yielding a :class:`~core.search.ProgressEvent` after each.

        Writes the run directory as it goes (config, calibration, history, the search state
        after the first step and then at most every ``checkpoint_seconds``) and finalises it
        (archive, pools, judge figures, summary, state) before the last event, which has
        ``done=True``. If ``should_stop()`` returns True between steps, or the caller stops
        iterating, the run is finalised with what it has (``stopped=True``); the random
        baseline is brought to the same evaluation count first. If the cluster evaluating the
        run goes away, the run is finalised the same way, its last event is yielded, and then
        :class:`~core.errors.ClusterError` is raised, saying where the run is kept.

        Args:
            run_dir: Where to write the run; for a resumed run, None (or its own directory).

        Raises:
            InputError: a bad run directory (or the run was started before).
            ClusterError: the back end's cluster cannot be reached, or went away mid-run.
        """
        if self.search is not None:
            raise InputError("run", str(self.dir), "a prepared run that has not been started (prepare another)")
        resumed = self._resume
        if resumed is not None:
            if run_dir is not None and Path(run_dir).expanduser().resolve() != resumed.dir:
                raise InputError("run directory", str(run_dir), f"the directory of the run being continued, {resumed.dir}")
            run_dir = resumed.dir
        elif run_dir is None:
            raise InputError("run directory", None, "a directory to write the run to")
        from .backends import open_cluster

        cluster = open_cluster(self.config.backend)  # before anything is written
        try:
            yield from self._run(run_dir, cluster, should_stop, checkpoint_seconds)
        finally:
            if cluster is not None:
                cluster.close()

    def _run(self, run_dir, cluster, should_stop, checkpoint_seconds: float) -> Iterator[ProgressEvent]:
        resumed = self._resume

        def new_search() -> Search:
            return Search(
                self.config, generator=self.generator, scorer=self.scorer, settings=self.settings,
                judge=self.judge, judge_note=self.judge_note, cluster=cluster,
                state=None if resumed is None else (resumed.tree, resumed.arrays),
            )

        if resumed is None:
            self._writer = writer = RunWriter(run_dir)
            self.search = search = new_search()
        else:  # the saved state is checked (and the search rebuilt) before any file is replaced
            self.search = search = new_search()
            self._writer = writer = RunWriter(run_dir, history=resumed.history)
        self.dir = writer.dir
        writer.write_config(
            self.config,
            search.calibration,
            extra={
                "settings": dataclasses.asdict(self.settings),
                "generator": self.generator.describe(),
                "scorer": self.scorer.describe(),
            },
        )
        finished = False
        stopped = False
        lost: ClusterError | None = None
        try:
            if resumed is not None and resumed.pending_event:  # the last step's event, which the
                yield self._step_event()  # finished run had replaced by its final one
            while True:
                if should_stop is not None and search.iteration > 0 and should_stop():
                    stopped = True
                    break
                try:
                    search.step()
                except ClusterError as exc:
                    lost, stopped = exc, True
                    break
                if search.exhausted:
                    break
                search.catch_up_random()
                event = self._step_event()
                if time.monotonic() - self._checkpointed >= checkpoint_seconds:
                    self._save_state(pending_event=False)
                yield event
            self._last = self._finalise(stopped=stopped)
            finished = True
            yield self._last
        finally:
            if not finished:  # the caller stopped iterating, or a step failed: keep what we have
                try:
                    self._last = self._finalise(stopped=True)
                except Exception:  # noqa: BLE001 - never mask the original error
                    logger.exception("could not finalise run %s", writer.dir)
        if lost is not None:
            raise ClusterError(
                f"{lost}; the run stopped after {search.evaluations:,} evaluations and what it found is kept in "
                f"{writer.dir} (continue it with: python -m core search --resume {writer.dir})"
            )

    def _step_event(self) -> ProgressEvent:
        """The event after a step, written to the history."""
        self._last = event = self.search.event(done=False, stopped=False)
        self._writer.append_history(dataclasses.asdict(event))
        return event

    def _save_state(self, *, pending_event: bool) -> None:
        """Saves the search state (between steps only) into the run directory, atomically."""
        from .state import write_state

        tree, arrays = self.search.state()
        tree["run"] = {"history": self._writer.history_rows, "pending_event": pending_event}  # rows as JSON, exact
        write_state(self._writer.dir / RUN_FILES["state"], tree, arrays)
        self._checkpointed = time.monotonic()

    def _finalise(self, *, stopped: bool) -> ProgressEvent:
        search, writer = self.search, self._writer
        search.catch_up_random()
        if search.at_step_boundary:  # else (a step failed halfway) the last saved state stands
            try:  # a run that used its budget has not written its last step's event yet
                self._save_state(pending_event=not stopped)
            except Exception:  # noqa: BLE001 - the results matter more than the state
                logger.exception("could not save the search state of %s", writer.dir)
        archive, pool, random_pool = search.archive_frame(), search.pool, search.random_pool
        writer.write_results(archive_frame=archive, pool=pool, random_pool=random_pool)
        try:
            judged = search.final_figures()
        except Exception as exc:  # noqa: BLE001 - a judge failure must not lose the run
            logger.exception("judging failed for %s", writer.dir)
            judged = {side: DrawFigures(JudgeReport.unavailable(f"judging failed: {exc}"), None) for side in SIDES}
        event = search.event(done=True, stopped=stopped, judged=judged)
        writer.append_history(dataclasses.asdict(event))
        self._summary = summary = search.summary(stopped=stopped, judged=judged)
        writer.write_summary(summary)
        self._result = Run(
            dir=writer.dir, config=self.config, calibration=search.calibration, summary=summary,
            history=writer.history(), archive=archive, pool=pool, random_pool=random_pool,
        )
        return event

    @property
    def resume_point(self) -> "ResumePoint | None":
        """Where this run continues from (made by :func:`resume`), or None for a new run."""
        return self._resume

    # ---- what viewers read -------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The arrays of the run as it stands (call between two events, or after the last)."""
        search = self.search
        if search is None:
            from .errors import InputError

            raise InputError("run", None, "a run that has started (call run() first)")
        data = search.result_archive.data(["objective", "measures", "solution"])
        random_pool = search.random_pool
        return Snapshot(
            event=self._last,
            labels=tuple(m.display_label() for m in self.config.measures),
            ranges=tuple(tuple(map(float, r)) for r in search.measure_ranges),
            resolution=self.config.archive_resolution,
            elite_z=np.asarray(data["solution"], dtype=np.float32),
            elite_measures=np.asarray(data["measures"], dtype=float),
            elite_objective=np.asarray(data["objective"], dtype=float),
            counts=density_counts(search.pool, random_pool, search.measure_ranges),
            random=random_pool,
            summary=self._summary,
        )

    @property
    def result(self) -> Run:
        """The finished (or stopped) run, in memory.

        Raises:
            InputError: the run has not ended yet.
        """
        if self._result is None:
            raise InputError("run", None if self.dir is None else str(self.dir), "a run that has ended")
        return self._result

    def export(self, **kwargs):
        """:func:`core.export.export_balanced` of :attr:`result` with this run's models and judge."""
        from .export import export_balanced

        return export_balanced(
            self.result, generator=self.generator, scorer=self.scorer, judge=(self.judge, self.judge_note), **kwargs
        )


def prepare(
    config: RunConfig,
    *,
    generator: Generator | None = None,
    scorer: Scorer | None = None,
    settings: SearchSettings = SearchSettings(),
    max_evaluations: int | None = None,
) -> RunHandle:
    """Validates a run once and loads what it needs; returns its :class:`RunHandle`.

    Args:
        config: The run.
        generator: A loaded generator; loaded from ``config`` (once per process) if None.
        scorer: A loaded scorer; likewise.
        settings: Emitter and archive settings.
        max_evaluations: A server's cap on the budget.

    Raises:
        InputError: a bad field, a device this machine lacks, a prompt the scorer cannot
            read, or a judge that is the scorer's own model.
        WeightsNotFoundError: the generator's or scorer's weights are absent (a missing
            judge only leaves a note).
        QDGSError: a library a model needs is not installed.
    """
    validate_config(config, max_evaluations=max_evaluations)
    from .real.devices import resolve_device

    resolve_device(config.device)  # a device this machine has (validate_config checks the name only)
    if generator is None or scorer is None:
        from .models import get_models

        g, s = get_models(config)
        generator = generator or g
        scorer = scorer or s
    check_prompts(config, scorer)
    name, options = config.resolved_judge()
    judge, note = load_run_judge(name, options=options, device=config.device, scorer_description=scorer.describe())
    return RunHandle(config, generator=generator, scorer=scorer, judge=judge, judge_note=note, settings=settings)


def with_chunk_size(settings: SearchSettings, chunk_size, *, field: str = "chunk size") -> SearchSettings:
    """``settings`` with evaluation chunks of ``chunk_size`` rows.

    Raises:
        InputError: ``chunk_size`` is not a whole number from 1 to :data:`MAX_CHUNK_SIZE`
            (named ``field``).
    """
    from .checks import whole_number

    size = whole_number(field, chunk_size, low=1, high=MAX_CHUNK_SIZE)
    return dataclasses.replace(settings, evaluator=dataclasses.replace(settings.evaluator, chunk_size=size))


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run continues from (read by :func:`resume`; :attr:`RunHandle.resume_point`)."""

    dir: Path  # the run directory
    evaluations: int  # QD evaluations done at the saved state
    history: tuple  # the history rows (dicts) of the saved state, exactly as they were
    pending_event: bool  # the saved state's last step has no history row yet
    tree: dict = dataclasses.field(repr=False)  # the saved search state (core.search.Search.state)
    arrays: dict = dataclasses.field(repr=False)  # its arrays


def _settings_from(data: dict) -> SearchSettings:
    """SearchSettings from their ``dataclasses.asdict`` (as saved in calibration.json)."""
    from .measures import EvaluatorSettings

    def build(cls, values: dict):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in fields:
                continue
            default = getattr(cls(), key)
            kwargs[key] = tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
        return cls(**kwargs)

    values = dict(data)
    evaluator = build(EvaluatorSettings, values.pop("evaluator", {}) or {})
    return dataclasses.replace(build(SearchSettings, values), evaluator=evaluator)


def resume(
    run_dir: str | Path,
    *,
    evaluations: int | None = None,
    backend: str | None = None,
    chunk_size: int | None = None,
    max_evaluations: int | None = None,
) -> RunHandle:
    """Prepares the continuation of a stopped, finished or killed run; returns its :class:`RunHandle`
    (call ``handle.run()``: it writes the same directory).

    The run keeps its config (prompts, models, seed, algorithm, settings) and continues from its
    saved search state (archive, emitters, pool, random baseline, history). A resumed run gives
    what one uninterrupted run of the same config and total budget gives, with the calibration
    it had (its size was set by the first budget: the resumed run's saved settings record it as
    ``calibration_samples``).

    Args:
        run_dir: The run directory.
        evaluations: The new total budget; None keeps the run's (to finish a stopped run). It
            must leave room for at least one more step.
        backend: Where to evaluate from now on (see :mod:`core.backends`); None keeps the run's.
        chunk_size: Rows per evaluation chunk from now on; None keeps the run's (results are
            bit-identical to an uninterrupted run only for the same chunking).
        max_evaluations: A server's cap on the budget.

    Raises:
        InputError: not a run directory with a saved search state, a budget that leaves no room
            for another step, or a bad back end.
        WeightsNotFoundError: a model's weights are absent.
    """
    from .algorithms import algorithm_for
    from .checks import whole_number
    from .config import MAX_EVALUATIONS, config_from_dict
    from .measures import Calibration
    from .search import check_state
    from .state import StateError, read_state

    root = Path(run_dir).expanduser().resolve()
    shown = str(run_dir)
    for name in ("config", "calibration", "state"):
        if not (root / RUN_FILES[name]).is_file():
            raise InputError(
                "run directory", shown,
                f"a run directory holding {RUN_FILES[name]} (runs saved before resumable runs existed, or killed "
                "before their first step ended, cannot be continued)",
            )
    try:
        config = config_from_dict(json.loads((root / RUN_FILES["config"]).read_text()))
        saved = json.loads((root / RUN_FILES["calibration"]).read_text())
        settings = _settings_from(saved.get("settings", {}))
        calibration = Calibration.from_dict(saved)
        tree, arrays = read_state(root / RUN_FILES["state"])
        check_state(tree)
        run_info = tree["run"]
        history, pending = tuple(dict(row) for row in run_info["history"]), bool(run_info["pending_event"])
        done = int(tree["evaluations"])
    except (StateError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InputError("run directory", shown, f"a run whose saved files can be read ({type(exc).__name__}: {exc})") from None
    # The run goes on with the calibration it has; recorded so that its settings name the
    # uninterrupted run it equals (whose budget would size the calibration the same).
    settings = dataclasses.replace(settings, calibration_samples=calibration.samples)
    if chunk_size is not None:
        settings = with_chunk_size(settings, chunk_size)
    gradients = algorithm_for(config.resolved_algorithm()).gradients
    step = config.emitters * config.batch_size + (config.emitters if gradients else 0)
    budget = config.evaluations if evaluations is None else whole_number("evaluations", evaluations, low=1, high=MAX_EVALUATIONS)
    if budget < done + step:
        used = " (the run has used its budget: give a larger one)" if evaluations is None else ""
        raise InputError(
            "evaluations", budget,
            f"a budget of at least {done + step:,}: more than the run's {done:,} evaluations by one step of {step}{used}",
        )
    config = dataclasses.replace(config, evaluations=budget, backend=config.backend if backend is None else backend)
    handle = prepare(config, settings=settings, max_evaluations=max_evaluations)
    handle._resume = ResumePoint(
        dir=root, evaluations=done, history=history, pending_event=pending, tree=tree, arrays=arrays
    )
    return handle

