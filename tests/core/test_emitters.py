"""The measure-jump emitter on a world where the measures are a known linear map of z."""

from __future__ import annotations

import numpy as np
import pytest
from ribs.archives import GridArchive

from core.emitters import MeasureJumpEmitter

MAP = np.array([[1.0, 0.0, 0.5, 0.0], [0.0, 2.0, 0.0, 0.0]])  # measures = MAP @ z: (2, 4)


def _measures(z: np.ndarray) -> np.ndarray:
    return z @ MAP.T


def _emitter(**kwargs) -> tuple[MeasureJumpEmitter, GridArchive, np.ndarray]:
    rng = np.random.default_rng(0)
    z0 = rng.normal(size=(200, 4))
    archive = GridArchive(solution_dim=4, dims=[10, 10], ranges=[(-3, 3), (-6, 6)], seed=0)
    archive.add(solution=z0, objective=np.zeros(len(z0)), measures=_measures(z0))
    emitter = MeasureJumpEmitter(
        archive, measure_ranges=[(-3, 3), (-6, 6)], initial_solutions=z0, initial_measures=_measures(z0), seed=1, **kwargs
    )
    return emitter, archive, z0


def test_children_land_where_the_fitted_directions_point():
    emitter, _, z0 = _emitter(iso_sigma=0.0, step=(1.0, 1.0), end_probability=0.0)
    # The least-squares directions move the measures by exactly one unit each.
    np.testing.assert_allclose(_measures(emitter.directions), np.eye(2), atol=1e-2)
    children = emitter.ask()
    assert children.shape == (emitter.batch_size, 4)
    m = _measures(children)
    assert (m[:, 0] >= -3.05).all() and (m[:, 0] <= 3.05).all() and (m[:, 1] >= -6.1).all() and (m[:, 1] <= 6.1).all()
    # Every child is a prior sample plus a move along the directions (no elite is a parent).
    moves = children[:, None, :] - z0[None]  # (b, n, 4)
    residual = moves - np.einsum("bnk,kd->bnd", np.einsum("bnd,kd->bnk", moves, np.linalg.pinv(emitter.directions).T), emitter.directions)
    assert (np.linalg.norm(residual, axis=-1).min(axis=1) < 1e-6).all()


def test_targets_at_the_ends_and_refit_on_tell():
    emitter, _, _ = _emitter(iso_sigma=0.0, step=(1.0, 1.0), end_probability=1.0, end_width=0.05)
    m = _measures(emitter.ask())
    lo, hi = np.array([-3.0, -6.0]), np.array([3.0, 6.0])
    near_end = np.minimum(np.abs(m - lo), np.abs(m - hi)) <= 0.05 * (hi - lo) + 0.1
    assert near_end.mean() > 0.95
    before = emitter.directions
    z = np.random.default_rng(2).normal(size=(50, 4))
    emitter.tell(z, np.zeros(50), _measures(z) + 0.5 * z[:, [3]], add_info={})  # a changed world
    assert not np.allclose(before, emitter.directions)


def test_bad_shapes_are_refused():
    archive = GridArchive(solution_dim=4, dims=[4, 4], ranges=[(0, 1), (0, 1)])
    with pytest.raises(ValueError, match=r"measure_ranges must be \(2, 2\)"):
        MeasureJumpEmitter(archive, measure_ranges=[(0, 1)], initial_solutions=np.zeros((3, 4)), initial_measures=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="initial_solutions / initial_measures must be"):
        MeasureJumpEmitter(archive, measure_ranges=[(0, 1), (0, 1)], initial_solutions=np.zeros((3, 5)), initial_measures=np.zeros((3, 2)))
