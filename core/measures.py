"""Prompt pairs turned into a pure evaluation function of latent vectors.

A measure is a prompt pair ``(positive, negative)``::

    m(z) = sim(G(z), positive) - sim(G(z), negative)

with ``sim`` the cosine similarity of the scorer's unit-norm embeddings. Because both text
embeddings are fixed, ``m(z) = <e(G(z)), t_pos - t_neg>``: every measure and the objective
are rows of one (1 + k, D) matrix applied to the image embedding, so a batch is rendered
and embedded once for all outputs.

The objective is the quality pair's score in the same form, times
:data:`OBJECTIVE_SCALE` (cosine differences are a few hundredths; x100 gives figures such
as 7.5), optionally minus a realism penalty from the generator's prior (see
:class:`EvaluatorSettings`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np
import torch

from .config import PromptPair, RunConfig
from .errors import InputError
from .interfaces import Generator, Scorer

__all__ = [
    "OBJECTIVE_SCALE",
    "EvaluatorSettings",
    "Evaluation",
    "Calibration",
    "Evaluator",
    "calibrate",
    "clear_levels",
    "MIN_RANGE_WIDTH",
]

logger = logging.getLogger(__name__)

OBJECTIVE_SCALE = 100.0  # objective = 100 x (sim(quality+) - sim(quality-)), readable figures
MIN_RANGE_WIDTH = 1e-6  # a calibrated measure range narrower than this is refused (cosine differences
# of real measures span a few hundredths; two prompts the scorer reads alike give exactly 0)


@dataclasses.dataclass(frozen=True)
class EvaluatorSettings:
    """How the objective and the calibration are computed."""

    objective_scale: float = OBJECTIVE_SCALE  # multiplies the quality pair's score
    realism_weight: float = 3.0  # objective units lost per nat of log-prior below the floor; 0 = off
    realism_percentile: float = 5.0  # floor = this percentile of log_prior over prior samples
    range_percentiles: tuple[float, float] = (1.0, 99.0)  # measure range from prior samples ...
    range_margin: float = 0.0  # ... widened by this fraction of its span on each side (values
    # beyond a range fall in its edge cell, so edge cells are open-ended)
    offset_percentile: float = 1.0  # objective offset (QD score, CMA-MAE threshold) ...
    offset_margin: float = 0.25  # ... this percentile of prior objectives minus margin x spread
    chunk_size: int = 512  # largest batch pushed through the models at once
    clear_tail: float = 5.0  # a clear example of a measure's side: a prior sample in its top (or
    # bottom) clear_tail percent ...
    clear_percentile: float = 5.0  # ... and the export's edge bins take only samples at least as
    # similar to that side's prompt as this percentile of the clear examples (see calibrate)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Results for a batch of n latents with k measures (numpy, float64).

    Attributes:
        objective: (n,) objective (scaled quality score minus realism penalty).
        measures: (n, k) measures.
        quality: (n,) scaled quality score alone (no realism penalty).
        jacobian: (n, 1 + k, latent_dim) d objective/dz then d measures/dz, or None.
        embeddings: (n, D) image embeddings, or None.
        similarities: (n, k, 2) cosine similarity of each image to each measure's positive
            and negative prompt (``measures = similarities[..., 0] - similarities[..., 1]``),
            or None.
    """

    objective: np.ndarray
    measures: np.ndarray
    quality: np.ndarray
    jacobian: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    similarities: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Settings derived from a batch of prior samples (stored with the run)."""

    measure_ranges: tuple[tuple[float, float], ...]  # archive range of each measure
    objective_offset: float  # pyribs qd_score_offset and CMA-MAE threshold_min
    log_prior_floor: float | None  # realism floor; None when the generator has no prior density
    prior_mean: tuple[float, ...]  # mean latent of the prior batch (latent_dim,)
    prior_std: float  # mean per-dimension standard deviation of the prior batch
    samples: int  # prior samples used
    clear_levels: tuple[tuple[float, float], ...] | None = None  # per measure, the least similarity
    # to its (positive, negative) prompt of a clear example of that side (see calibrate); None
    # for runs made before it existed

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        data = dict(data)
        data["measure_ranges"] = tuple(tuple(float(v) for v in r) for r in data["measure_ranges"])
        data["prior_mean"] = tuple(float(v) for v in data["prior_mean"])
        if data.get("clear_levels") is not None:
            data["clear_levels"] = tuple(tuple(float(v) for v in r) for r in data["clear_levels"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Evaluator:
    """Objective and measures of latents, from prompt pairs; a pure function of z.

    Text embeddings are computed once, here. The evaluator holds no state that changes
    with use: the same z always scores the same.

    Args:
        generator: Renders z to images.
        scorer: Embeds images and texts.
        measures: 1 to 4 prompt pairs.
        objective: The quality pair.
        settings: Scaling, realism and calibration settings.
        log_prior_floor: Realism floor (see :class:`EvaluatorSettings`); None disables
            the realism term. Usually set from :func:`calibrate`.

    Raises:
        InputError: a prompt is empty or unknown to the scorer.
    """

    def __init__(
        self,
        *,
        generator: Generator,
        scorer: Scorer,
        measures: Sequence[PromptPair],
        objective: PromptPair,
        settings: EvaluatorSettings = EvaluatorSettings(),
        log_prior_floor: float | None = None,
    ) -> None:
        self.generator = generator
        self.scorer = scorer
        self.measures = tuple(measures)
        self.objective = objective
        self.settings = settings
        self.log_prior_floor = log_prior_floor
        pairs = [objective, *self.measures]
        texts = [t for p in pairs for t in (p.positive, p.negative)]
        with torch.no_grad():
            emb = scorer.embed_texts(texts).to(scorer.device, torch.float32)  # (2(1+k), D)
        directions = emb[0::2] - emb[1::2]  # (1 + k, D): positive minus negative
        scale = torch.ones(len(pairs), device=directions.device)
        scale[0] = settings.objective_scale
        self._directions = directions * scale[:, None]  # row 0 = scaled objective
        self._prompts = emb[2:]  # (2k, D): each measure's positive then negative prompt

    @classmethod
    def from_config(
        cls, config: RunConfig, *, generator: Generator, scorer: Scorer, settings: EvaluatorSettings = EvaluatorSettings()
    ) -> "Evaluator":
        """An evaluator for a run config's measures and (resolved) objective."""
        return cls(
            generator=generator,
            scorer=scorer,
            measures=config.measures,
            objective=config.resolved_objective(),
            settings=settings,
        )

    @property
    def num_measures(self) -> int:
        return len(self.measures)

    def with_floor(self, log_prior_floor: float | None) -> "Evaluator":
        """A copy of this evaluator with another realism floor (text embeddings shared)."""
        twin = object.__new__(Evaluator)
        twin.__dict__.update(self.__dict__)
        twin.log_prior_floor = log_prior_floor
        return twin

    def _forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(n, d) -> outputs (n, 1 + k) [objective first], quality (n,), embeddings (n, D).

        Deliberately one pass: the generator renders z once and the scorer embeds each image
        once for the objective and every measure (and the similarities).
        """
        images = self.generator.render(z)  # (n, 3, H, W)
        emb = self.scorer.embed_images(images)  # (n, D)
        out = emb @ self._directions.T  # (n, 1 + k)
        quality = out[:, 0]
        if self.log_prior_floor is not None and self.settings.realism_weight > 0:
            logp = self.generator.log_prior(z)
            if logp is not None:
                penalty = torch.clamp(self.log_prior_floor - logp, min=0.0)  # (n,)
                out = torch.cat([(quality - self.settings.realism_weight * penalty)[:, None], out[:, 1:]], dim=1)
        return out, quality, emb

    def evaluate(
        self, z: np.ndarray | torch.Tensor, *, gradients: bool = False, embeddings: bool = False
    ) -> Evaluation:
        """Scores a batch of latents.

        One forward pass through generator and scorer per chunk of
        ``settings.chunk_size``; with ``gradients``, one backward pass per output
        (objective, then each measure) on that same graph. Rows are independent (models
        in eval mode), so the gradient of a batch sum is the per-row gradient.

        Args:
            z: (n, latent_dim) latents.
            gradients: Also compute the (n, 1 + k, latent_dim) Jacobian.
            embeddings: Also return the (n, D) image embeddings.
        """
        device = self.generator.device
        z_all = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z)
        z_all = z_all.to(device=device, dtype=torch.float32)
        outs, quals, embs, jacs, sims = [], [], [], [], []
        for start in range(0, len(z_all), self.settings.chunk_size):
            zc = z_all[start : start + self.settings.chunk_size]
            if gradients:
                zc = zc.detach().requires_grad_(True)
                with torch.enable_grad():
                    out, quality, emb = self._forward(zc)
                    n_out = out.shape[1]
                    grads = [
                        torch.autograd.grad(out[:, j].sum(), zc, retain_graph=j < n_out - 1)[0]
                        for j in range(n_out)
                    ]
                jacs.append(torch.stack(grads, dim=1).detach().cpu())  # (n, 1 + k, d)
            else:
                with torch.no_grad():
                    out, quality, emb = self._forward(zc)
            outs.append(out.detach().cpu())
            quals.append(quality.detach().cpu())
            sims.append((emb.detach() @ self._prompts.T).cpu())  # (n, 2k)
            if embeddings:
                embs.append(emb.detach().cpu())
        k = self.num_measures
        out = torch.cat(outs).double().numpy() if outs else np.zeros((0, 1 + k))
        return Evaluation(
            objective=out[:, 0].copy(),
            measures=out[:, 1:].copy(),
            quality=torch.cat(quals).double().numpy() if quals else np.zeros(0),
            jacobian=torch.cat(jacs).double().numpy() if gradients and jacs else None,
            embeddings=torch.cat(embs).double().numpy() if embeddings and embs else None,
            similarities=torch.cat(sims).double().numpy().reshape(-1, k, 2) if sims else np.zeros((0, k, 2)),
        )

    def embed(self, images: torch.Tensor) -> np.ndarray:
        """Image embeddings (n, D) as numpy, in chunks, without gradients."""
        rows = []
        with torch.no_grad():
            for start in range(0, len(images), self.settings.chunk_size):
                rows.append(self.scorer.embed_images(images[start : start + self.settings.chunk_size]).cpu())
        return torch.cat(rows).double().numpy()


def clear_levels(
    measures: np.ndarray, similarities: np.ndarray, *, tail: float, percentile: float
) -> tuple[tuple[float, float], ...]:
    """How like a side's prompt an image must be to stand for that side in an export.

    A measure is a difference of two similarities, so it cannot tell "blue" from "not red"
    (a cyan shape scores almost as low on red-vs-blue as a blue one) nor a square from a
    circle on triangle-vs-square. Each similarity alone can. The prior's clearest examples of
    a side, its samples in the top (positive) or bottom (negative) ``tail`` percent of the
    measure, set the level: the ``percentile`` of their similarity to that side's prompt.

    Args:
        measures: (n, k) measures of prior samples.
        similarities: (n, k, 2) their similarities to each measure's (positive, negative) prompt.
        tail: Percent of samples at each end that count as clear examples.
        percentile: Percentile of the clear examples' similarity that becomes the level.

    Returns:
        k pairs (positive level, negative level).
    """
    out = []
    for j in range(measures.shape[1]):
        m = measures[:, j]
        top = m >= np.percentile(m, 100 - tail)
        bottom = m <= np.percentile(m, tail)
        out.append(
            (
                float(np.percentile(similarities[top, j, 0], percentile)),
                float(np.percentile(similarities[bottom, j, 1], percentile)),
            )
        )
    return tuple(out)


def calibrate(
    evaluator: Evaluator,
    z: np.ndarray | torch.Tensor,
    *,
    fixed_ranges: Sequence[tuple[float, float]] | None = None,
) -> tuple[Calibration, Evaluation]:
    """Derives measure ranges, objective offset and realism floor from prior samples.

    Args:
        evaluator: The evaluator (its realism floor is ignored here).
        z: (n, latent_dim) prior samples, n >= 2.
        fixed_ranges: Measure ranges fixed by the user; calibrated when None.

    Returns:
        The calibration, and the evaluation of ``z`` under the calibrated realism floor
        (so the prior batch can join the random baseline without a second pass).

    Raises:
        InputError: a measure's range is degenerate: narrower than :data:`MIN_RANGE_WIDTH`
            or not finite (the scorer reads its two prompts alike, or scored NaN); the field
            is ``"measure j prompts"`` (``"measure j range"`` for a range fixed by the user).
    """
    s = evaluator.settings
    z_t = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z).float()
    floor = None
    with torch.no_grad():
        logp = evaluator.generator.log_prior(z_t.to(evaluator.generator.device))
    if logp is not None and s.realism_weight > 0:
        floor = float(np.percentile(logp.cpu().double().numpy(), s.realism_percentile))
    scored = evaluator.with_floor(floor).evaluate(z_t)
    if fixed_ranges is not None:
        ranges = tuple((float(lo), float(hi)) for lo, hi in fixed_ranges)
    else:
        lo, hi = np.percentile(scored.measures, s.range_percentiles, axis=0)  # (k,), (k,)
        span = np.maximum(hi - lo, 1e-6)
        ranges = tuple(
            (float(a - s.range_margin * w), float(b + s.range_margin * w)) for a, b, w in zip(lo, hi, span)
        )
    for j, ((lo_j, hi_j), pair) in enumerate(zip(ranges, evaluator.measures)):
        least = 0.0 if fixed_ranges is not None else MIN_RANGE_WIDTH
        if np.isfinite(lo_j) and np.isfinite(hi_j) and hi_j - lo_j > least:
            continue
        if fixed_ranges is not None:
            raise InputError(f"measure {j + 1} range", (lo_j, hi_j), "(low, high): two finite numbers with low < high")
        raise InputError(
            f"measure {j + 1} prompts",
            f"{pair.positive} / {pair.negative}",
            f"two prompts the scorer tells apart: over {len(scored.measures)} prior samples this measure "
            f"spans {lo_j:.3g} .. {hi_j:.3g} (a range at least {MIN_RANGE_WIDTH:g} wide is needed)",
        )
    q_lo, q_hi = np.percentile(scored.objective, [s.offset_percentile, 100 - s.offset_percentile])
    offset = float(q_lo - s.offset_margin * max(q_hi - q_lo, 1e-6))
    zn = z_t.double().numpy()
    calib = Calibration(
        measure_ranges=ranges,
        objective_offset=offset,
        log_prior_floor=floor,
        prior_mean=tuple(float(v) for v in zn.mean(axis=0)),
        prior_std=float(zn.std(axis=0).mean()),
        samples=len(zn),
        clear_levels=clear_levels(scored.measures, scored.similarities, tail=s.clear_tail, percentile=s.clear_percentile),
    )
    logger.info("calibrated on %d prior samples: ranges %s, offset %.3f", len(zn), ranges, offset)
    return calib, scored
