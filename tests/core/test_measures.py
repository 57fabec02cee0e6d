"""Measures and objective from prompt pairs: values, gradients, purity, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import PromptPair
from core.errors import InputError
from core.measures import Evaluator, EvaluatorSettings, calibrate


def _evaluator(generator, scorer, **kw):
    return Evaluator(
        generator=generator,
        scorer=scorer,
        measures=[PromptPair("a red shape", "a blue shape"), PromptPair("a triangle", "a square")],
        objective=PromptPair("a clean shape", "a smudge"),
        **kw,
    )


def test_measure_is_similarity_difference(generator, scorer):
    ev = _evaluator(generator, scorer)
    z = generator.sample_prior(5, seed=1)
    out = ev.evaluate(z)
    with torch.no_grad():
        e = scorer.embed_images(generator.render(z))
        t = scorer.embed_texts(["a red shape", "a blue shape", "a clean shape", "a smudge"])
    expected_m0 = (e @ t[0] - e @ t[1]).double().numpy()
    expected_obj = 100.0 * (e @ t[2] - e @ t[3]).double().numpy()
    np.testing.assert_allclose(out.measures[:, 0], expected_m0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.objective, expected_obj, rtol=1e-5, atol=1e-4)
    assert out.measures.shape == (5, 2) and out.jacobian is None


def test_red_latent_scores_red(generator, scorer):
    ev = _evaluator(generator, scorer)
    z = torch.zeros(2, generator.latent_dim)
    z[0, 0], z[1, 1] = 3.0, 3.0  # red channel up / blue channel up
    m = ev.evaluate(z).measures[:, 0]
    assert m[0] > 0 > m[1]


def test_evaluation_is_pure_and_chunking_invariant(generator, scorer):
    z = generator.sample_prior(40, seed=2)
    a = _evaluator(generator, scorer).evaluate(z)
    b = _evaluator(generator, scorer, settings=EvaluatorSettings(chunk_size=7)).evaluate(z)
    c = _evaluator(generator, scorer).evaluate(z)
    np.testing.assert_allclose(a.measures, b.measures, atol=1e-6)
    np.testing.assert_array_equal(a.measures, c.measures)


def test_jacobian_matches_finite_differences(generator, scorer):
    ev = _evaluator(generator, scorer)
    z = generator.sample_prior(3, seed=4).double().numpy()
    out = ev.evaluate(z, gradients=True)
    assert out.jacobian.shape == (3, 3, generator.latent_dim)
    eps = 1e-2
    for j in (0, 3):
        dz = np.zeros_like(z)
        dz[:, j] = eps
        hi, lo = ev.evaluate(z + dz), ev.evaluate(z - dz)
        fd = (np.column_stack([hi.objective, hi.measures]) - np.column_stack([lo.objective, lo.measures])) / (2 * eps)
        np.testing.assert_allclose(out.jacobian[:, :, j], fd, rtol=2e-2, atol=2e-3)


def test_realism_penalty_only_below_floor(generator, scorer):
    base = _evaluator(generator, scorer)
    z = generator.sample_prior(4, seed=5)
    far = z.clone()
    far[0] += 6.0  # far from both mixture modes
    with torch.no_grad():
        floor = float(generator.log_prior(z).min()) - 1.0
    pen = base.with_floor(floor).evaluate(far)
    plain = base.evaluate(far)
    assert pen.objective[0] < plain.objective[0]
    np.testing.assert_allclose(pen.objective[1:], plain.objective[1:], atol=1e-5)
    np.testing.assert_array_equal(pen.quality, plain.quality)
    np.testing.assert_array_equal(pen.measures, plain.measures)


def test_calibration_ranges_hold_prior_samples(generator, scorer):
    ev = _evaluator(generator, scorer)
    z = generator.sample_prior(300, seed=6)
    cal, scored = calibrate(ev, z)
    assert len(cal.measure_ranges) == 2
    lo_p, hi_p = ev.settings.range_percentiles
    for j, (lo, hi) in enumerate(cal.measure_ranges):
        span = np.percentile(scored.measures[:, j], hi_p) - np.percentile(scored.measures[:, j], lo_p)
        m = ev.settings.range_margin
        assert lo == pytest.approx(np.percentile(scored.measures[:, j], lo_p) - m * span)
        assert hi == pytest.approx(np.percentile(scored.measures[:, j], hi_p) + m * span)
        inside = (scored.measures[:, j] >= lo) & (scored.measures[:, j] <= hi)
        assert inside.mean() >= (hi_p - lo_p) / 100 - 0.01
    assert cal.objective_offset < np.percentile(scored.objective, 5)
    assert cal.log_prior_floor is not None
    fixed, _ = calibrate(ev, z, fixed_ranges=[(-1, 1), (-0.5, 0.5)])
    assert fixed.measure_ranges == ((-1.0, 1.0), (-0.5, 0.5))


def test_unknown_word_is_rejected_by_name(generator, scorer):
    with pytest.raises(InputError, match="prompt 3: got 'a purple shape'.*words the stand-in scorer knows"):
        Evaluator(
            generator=generator,
            scorer=scorer,
            measures=[PromptPair("a purple shape", "a blue shape")],
            objective=PromptPair("a clean shape", "a smudge"),
        )


@pytest.mark.parametrize(
    "measures, match",
    [
        # the stand-in scorer ignores filler words: the two prompts embed the same, the range is 0 wide
        ([PromptPair("a red shape", "the red shape")], r"measure 1 prompts: got 'a red shape / the red shape'; expected two prompts the scorer tells apart"),
        (
            [PromptPair("a red shape", "a blue shape"), PromptPair("a triangle", "one triangle shape")],
            r"measure 2 prompts: got 'a triangle / one triangle shape'.*spans 0 \.\. 0",
        ),
    ],
)
def test_calibrate_refuses_a_degenerate_range(generator, scorer, measures, match):
    ev = Evaluator(generator=generator, scorer=scorer, measures=measures, objective=PromptPair("a clean shape", "a smudge"))
    with pytest.raises(InputError, match=match):
        calibrate(ev, generator.sample_prior(64, seed=0))


def test_calibrate_refuses_non_finite_measures(generator, scorer, monkeypatch):
    ev = _evaluator(generator, scorer)
    real = Evaluator.evaluate

    def nan_measures(self, z, **kw):
        out = real(self, z, **kw)
        out.measures[:, 1] = np.nan  # a scorer that breaks down on every image
        return out

    monkeypatch.setattr(Evaluator, "evaluate", nan_measures)
    with pytest.raises(InputError, match=r"measure 2 prompts: got 'a triangle / a square'.*spans nan \.\. nan"):
        calibrate(ev, generator.sample_prior(32, seed=0))
