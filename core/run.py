"""One run, from typed prompts to a downloaded zip, as one object.

    handle = prepare(config)               # validates everything once, loads the models and judge
    for event in handle.run(run_dir):      # the search; writes the run directory as it goes
        view = handle.snapshot()           # what every viewer draws: maps, cards, galleries
    result = handle.export(images=1000, bins=5, out="data.zip")

:func:`prepare` checks the config's fields, loads the generator and scorer (once per process),
checks every prompt against the scorer and loads the judge, before any search starts; a bad
field, prompt or judge is an :class:`~core.errors.InputError` then, never halfway through.
:meth:`RunHandle.snapshot` computes, once and in the engine, the figures a viewer needs (the
density counts of QD, balanced random and random, the elites, the last event, and at the end
the judge's figures and diversity): the command line, the dashboard's live maps, its final
view and the export all read the same numbers. :attr:`RunHandle.result` is the finished run
in memory; :meth:`core.runs.Run.open` is only for reopening runs written earlier.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import metrics
from .config import RunConfig, check_prompts, validate_config
from .interfaces import Generator, Judge, Scorer
from .judging import DrawFigures, JudgeReport, load_run_judge
from .runs import Run, RunWriter, Samples
from .search import UNIFORMITY_SAMPLES, ProgressEvent, Search, SearchSettings

__all__ = ["prepare", "RunHandle", "Snapshot", "SIDES"]

logger = logging.getLogger(__name__)

SIDES = ("qd", "balanced_random", "random")  # the search and its two baselines, in display order


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
            first random samples as drawn (:func:`core.metrics.draw_counts`).
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
    from .search import uniformity_bins

    k = len(ranges)
    bins = uniformity_bins(k)
    draw = lambda samples, balanced: metrics.draw_counts(  # noqa: E731
        samples.measures.reshape(-1, k), ranges, bins, UNIFORMITY_SAMPLES, balanced=balanced
    )
    return {"qd": draw(pool, True), "balanced_random": draw(random_pool, True), "random": draw(random_pool, False)}


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

    # ---- the search ------------------------------------------------------------------

    def run(self, run_dir: str | Path, *, should_stop: Callable[[], bool] | None = None) -> Iterator[ProgressEvent]:
        """Runs the search step by step, yielding a :class:`~core.search.ProgressEvent` after each.

        Writes the run directory as it goes (config, calibration, history) and finalises it
        (archive, pools, judge figures, summary) before the last event, which has
        ``done=True``. If ``should_stop()`` returns True between steps, or the caller stops
        iterating, the run is finalised with what it has (``stopped=True``); the random
        baseline is brought to the same evaluation count first.

        Raises:
            InputError: a bad run directory (or the run was started before).
        """
        if self.search is not None:
            from .errors import InputError

            raise InputError("run", str(self.dir), "a prepared run that has not been started (prepare another)")
        self._writer = writer = RunWriter(run_dir)
        self.dir = writer.dir
        self.search = search = Search(
            self.config, generator=self.generator, scorer=self.scorer, settings=self.settings,
            judge=self.judge, judge_note=self.judge_note,
        )
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
        try:
            while True:
                if should_stop is not None and search.iteration > 0 and should_stop():
                    stopped = True
                    break
                search.step()
                if search.exhausted:
                    break
                search.catch_up_random()
                self._last = event = search.event(done=False, stopped=False)
                writer.append_history(dataclasses.asdict(event))
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

    def _finalise(self, *, stopped: bool) -> ProgressEvent:
        search, writer = self.search, self._writer
        search.catch_up_random()
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
            from .errors import InputError

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
        InputError: a bad field, a prompt the scorer cannot read, or a judge that is the
            scorer's own model.
        WeightsNotFoundError: the generator's or scorer's weights are absent (a missing
            judge only leaves a note).
        QDGSError: a library a model needs is not installed.
    """
    validate_config(config, max_evaluations=max_evaluations)
    if generator is None or scorer is None:
        from .models import get_models

        g, s = get_models(config)
        generator = generator or g
        scorer = scorer or s
    check_prompts(config, scorer)
    name, options = config.resolved_judge()
    judge, note = load_run_judge(name, options=options, device=config.device, scorer_description=scorer.describe())
    return RunHandle(config, generator=generator, scorer=scorer, judge=judge, judge_note=note, settings=settings)
