"""The QD algorithms a run can use: one table, name -> how to build its pyribs emitters.

Each :class:`Algorithm` says whether it needs gradients of the objective and measures (the
search then calls pyribs' ``ask_dqd`` / ``tell_dqd`` and the evaluator returns Jacobians),
whether its archive has a learning rate (CMA-MAE's thresholds, with a separate result
archive of the best elites), and builds its emitters. pyribs is imported only when emitters
are built, so reading the table (the command line's help, the dashboard's menu) stays light.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

__all__ = ["Algorithm", "EmitterContext", "ALGORITHM_TABLE", "algorithm_for"]


@dataclasses.dataclass(frozen=True)
class EmitterContext:
    """What an algorithm's emitters are built from."""

    archive: Any  # the pyribs archive the emitters insert into
    x0s: np.ndarray  # (emitters, latent_dim) starting points drawn from the prior
    seeds: list[int]  # one seed per emitter
    scale: float  # the prior's mean per-dimension standard deviation (step sizes are relative to it)
    settings: Any  # core.search.SearchSettings
    batch_size: int  # solutions per emitter per ask
    measure_ranges: tuple[tuple[float, float], ...]  # archive ranges
    initial_solutions: np.ndarray  # (n, latent_dim) calibration samples of the prior
    initial_measures: np.ndarray  # (n, k) their measures


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One entry of :data:`ALGORITHM_TABLE`."""

    name: str  # as typed by a user
    description: str  # one line for menus and --help
    gradients: bool  # needs d objective/dz and d measures/dz (ask_dqd / tell_dqd)
    learning_rate: bool  # archive with CMA-MAE thresholds plus a result archive
    build: Callable[[EmitterContext], list]  # the emitters, one per seed


def _cma_maega(ctx: EmitterContext) -> list:
    from ribs.emitters import GradientArborescenceEmitter

    s = ctx.settings
    return [
        GradientArborescenceEmitter(
            ctx.archive,
            x0=ctx.x0s[i],
            sigma0=s.dqd_sigma * ctx.scale,
            lr=s.dqd_lr * ctx.scale,
            ranker="imp",
            grad_opt="gradient_ascent",
            selection_rule="mu",
            restart_rule=s.restart_every or "basic",
            batch_size=ctx.batch_size,
            seed=seed,
        )
        for i, seed in enumerate(ctx.seeds)
    ]


def _cma_es(*, mae: bool) -> Callable[[EmitterContext], list]:
    def build(ctx: EmitterContext) -> list:
        from ribs.emitters import EvolutionStrategyEmitter

        s = ctx.settings
        return [
            EvolutionStrategyEmitter(
                ctx.archive,
                x0=ctx.x0s[i],
                sigma0=s.es_sigma * ctx.scale,
                ranker="imp" if mae else "2imp",
                selection_rule="mu" if mae else "filter",
                restart_rule=(s.restart_every or "basic") if mae else "no_improvement",
                batch_size=ctx.batch_size,
                seed=seed,
            )
            for i, seed in enumerate(ctx.seeds)
        ]

    return build


def _map_elites(ctx: EmitterContext) -> list:
    from ribs.emitters import GaussianEmitter

    return [
        GaussianEmitter(ctx.archive, sigma=ctx.settings.gaussian_sigma * ctx.scale, x0=ctx.x0s[i], batch_size=ctx.batch_size, seed=seed)
        for i, seed in enumerate(ctx.seeds)
    ]


def _jump(ctx: EmitterContext) -> list:
    from .emitters import MeasureJumpEmitter

    s = ctx.settings
    return [
        MeasureJumpEmitter(
            ctx.archive,
            measure_ranges=ctx.measure_ranges,
            initial_solutions=ctx.initial_solutions,
            initial_measures=ctx.initial_measures,
            iso_sigma=s.jump_sigma * ctx.scale,
            step=s.jump_step,
            end_probability=s.jump_end_probability,
            batch_size=ctx.batch_size,
            seed=seed,
        )
        for seed in ctx.seeds
    ]


ALGORITHM_TABLE: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "jump",
            "Measure jumps: prior samples moved to target measures along least-squares latent directions, no gradients",
            gradients=False,
            learning_rate=False,
            build=_jump,
        ),
        Algorithm(
            "cma-maega",
            "CMA-MAEGA: gradient-assisted; uses d objective/dz and d measures/dz",
            gradients=True,
            learning_rate=True,
            build=_cma_maega,
        ),
        Algorithm("cma-mae", "CMA-MAE: CMA-ES with an archive learning rate, no gradients", False, True, _cma_es(mae=True)),
        Algorithm("cma-me", "CMA-ME: CMA-ES improvement ranking, no gradients", False, False, _cma_es(mae=False)),
        Algorithm("map-elites", "MAP-Elites: Gaussian mutation of elites, no gradients", False, False, _map_elites),
    )
}


def algorithm_for(name: str) -> Algorithm:
    """The table entry for ``name`` (validated configs only; see ``core.config.validate_config``)."""
    return ALGORITHM_TABLE[name]
