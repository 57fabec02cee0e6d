"""Does balanced data help? The method's downstream experiment, built into the shapes world.

The question: a classifier learns from *biased* real data, where colour goes with shape
(``P(red | triangle) = P(blue | square) = level``), so it can lean on colour and fail on the
rare groups (blue triangles, red squares). Does fine-tuning it on a balanced QD export of a
generator help those groups more than fine-tuning on as many plain random samples of the
same generator?

One seed of the experiment (:func:`run_bias_check` repeats it over seeds)::

    biased real renders (triangles, squares) ──► pretrain a small CNN ─┬─► (c) none
                                                                      ├─► fine-tune on (b) random
                                                                      └─► fine-tune on (a) QD
    QD search (red vs blue x triangle vs square) on the shipped generator
        ├─► balanced selection (core.export.select_for_run)   ──► (a), N images
        └─► the run's random baseline, same quality threshold  ──► (b), the same N
    held-out test renders, balanced over red/blue x triangle/square ──► accuracy per group

Five conditions per seed: no fine-tuning; plain random samples; **balanced random** (the
random samples put through the same balanced selection as QD: the honest baseline); QD; and
**balanced real renders** (the ceiling: what fine-tuning on as many true, balanced images
gives). An independent judge (:mod:`core.judging`) reads every synthetic set, so the table
says how many of its images are what their labels claim.

Choices, and why:

- **Paired design.** Per seed, one pretrained classifier is copied into the three conditions,
  so the differences between none / random / QD are the fine-tuning alone, not a different
  initialisation or real sample.
- **What a seed changes.** The real training sample, the classifier's initialisation and
  batch order, and the QD search (its seed, and so its random baseline). The test set is
  fixed (``test_seed``), so every seed and condition is scored on the same images.
- **Two bins per measure.** The test groups are the four quadrants (red/blue x
  triangle/square), so the fine-tuning sets are balanced over those four folders; the
  selection takes only clear examples of each side (see :mod:`core.selection`).
- **Synthetic labels come from the measures, as in the method**: an image is labelled
  *triangle* when the scorer finds it closer to "a triangle" than to "a square" (the
  triangle-vs-square measure is above zero), else *square*. No renderer ground truth is
  used for synthetic images; the same rule labels the QD and the random set. Generator
  samples that are neither (e.g. circles) get whatever label the measure gives, in both.
- **Same size, same source.** The random set is what the export compares itself with: the
  first samples of the search's random baseline (prior samples of the same generator,
  scored the same way) that pass the same quality threshold, exactly as many as the QD
  selection holds.
- **One generator, many real biases.** The shipped shapes generator was trained once, on
  renders of one bias preset (see its ``describe()``); the bias level of this experiment is
  the bias of the classifier's *real* training data only. Synthetic sets are therefore
  cached per generator and seed (``cache``) and shared across bias levels.
- **Mean and worst-group accuracy** over the four groups of the balanced test set;
  mean ± sample standard deviation over seeds.

Example::

    result = run_bias_check(BiasCheckConfig(bias="0.95", images=1000, seeds=3))
    print(result.display_table())
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from core.checks import whole_number
from core.config import PRESETS, PromptPair, RunConfig
from core.errors import InputError, QDGSError
from core.interfaces import Generator, Scorer
from core.shapes import world

__all__ = [
    "CLASSES",
    "GROUPS",
    "GROUP_NAMES",
    "CONDITIONS",
    "METRICS",
    "BIAS_LEVELS",
    "BiasCheckConfig",
    "BiasCheckProgress",
    "BiasCheckResult",
    "LabelledImages",
    "SyntheticSets",
    "ShapeClassifier",
    "validate_bias_config",
    "group_accuracy",
    "accuracy_summary",
    "evaluate",
    "predict",
    "train_classifier",
    "real_training_set",
    "balanced_test_set",
    "labels_from_measures",
    "synthetic_sets",
    "run_bias_check",
]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# The experiment's vocabulary
# ---------------------------------------------------------------------------------------------

CLASSES: tuple[str, ...] = ("square", "triangle")
"""Classifier outputs; a label is an index into this tuple (0 = square, 1 = triangle)."""

GROUPS: tuple[tuple[str, str], ...] = (
    ("red", "triangle"),
    ("blue", "triangle"),
    ("red", "square"),
    ("blue", "square"),
)
"""Test groups (colour, shape). Red triangles and blue squares are the majority groups of the
biased real data; blue triangles and red squares the rare ones."""

GROUP_NAMES: tuple[str, ...] = tuple(f"{c} {s}" for c, s in GROUPS)
CONDITIONS: tuple[str, ...] = ("none", "random", "balanced_random", "qd", "real")
"""Fine-tuning data: nothing, plain random samples, random samples through the balanced
selection, the balanced QD selection, balanced real renders (the ceiling)."""

CONDITION_NAMES: dict[str, str] = {
    "none": "no fine-tuning",
    "random": "random samples",
    "balanced_random": "balanced random",
    "qd": "QD (balanced)",
    "real": "balanced real renders",
}
SYNTHETIC_SETS: tuple[str, ...] = ("random", "balanced_random", "qd")  # the conditions drawn from the generator
METRICS: tuple[str, ...] = (*GROUP_NAMES, "mean", "worst")
"""Columns of a result row: accuracy per group, their mean, and the worst group's."""

BIAS_LEVELS: tuple[str, ...] = tuple(world.BIAS_PRESETS)
"""Accepted bias levels, the world's presets ("0.98", ..., "0.80")."""

MEASURES = PRESETS["colour x shape"]  # (red vs blue, triangle vs square): the search's two measures
COLOUR_MEASURE = 0  # index of the red-vs-blue measure (positive = red)
LABEL_MEASURE = 1  # index of the triangle-vs-square measure (positive = triangle)
LABEL_THRESHOLD = 0.0  # measure value above which an image is labelled "triangle" (equal similarity)
NORM_GROUPS = 4  # GroupNorm groups per conv block of the classifier
RENDER_CHUNK = 128  # generator latents rendered at once
EVAL_BATCH = 512  # test images per classifier forward pass
SEED_STREAMS = {"real": 1, "init": 2, "order": 3, "ceiling": 4}  # sub-streams of each seed (independent draws)


@dataclasses.dataclass(frozen=True)
class BiasCheckConfig:
    """Everything that defines a bias check (the defaults are the documented experiment)."""

    bias: str = "0.95"  # key of world.BIAS_PRESETS: P(red|triangle) = P(blue|square) of the real data
    images: int = 1000  # synthetic fine-tuning images per condition (QD and random: the same number)
    seeds: int = 3  # repetitions: seeds first_seed .. first_seed + seeds - 1
    first_seed: int = 0  # the first seed
    real_images: int = 2000  # biased real training renders (triangles and squares, half each on average)
    test_per_group: int = 250  # held-out test renders per group (4 groups, balanced)
    test_seed: int = 12345  # seeds the test set, shared by every seed and condition
    image_size: int = 32  # classifier input side; every image is resized to it
    channels: tuple[int, ...] = (8, 16, 32, 64)  # classifier conv widths (each block halves the side)
    pretrain_epochs: int = 12  # passes over the real data
    finetune_epochs: int = 30  # passes over a fine-tuning set (with 10, even balanced real renders left the
    # worst group at 0.50-0.66: the experiment measured the optimiser, not the data; benchmarks/README.md)
    batch_size: int = 64  # images per optimisation step
    lr: float = 2e-3  # Adam learning rate of pretraining
    finetune_lr: float = 2e-3  # Adam learning rate of fine-tuning (a fresh Adam)
    generator: str = "shapes"  # registry name of the generator searched and sampled
    scorer: str = "shapes"  # registry name of the scorer (measures, objective, labels)
    objective: PromptPair | None = None  # the search's quality pair; None = the generator's default
    evaluations: int = 10000  # QD search budget per seed (its random baseline: the same); 3,000 left the
    # rare quadrants short of clear examples (about 40 red squares)
    algorithm: str = RunConfig.algorithm  # QD algorithm (key of core.config.ALGORITHMS)
    bins: int = 2  # selection bins per measure: the four test quadrants
    quality_threshold: float | None = None  # minimum objective; None = the export's default
    device: str = "cpu"  # torch device of the models and the classifier


@dataclasses.dataclass(frozen=True)
class BiasCheckProgress:
    """Where a bias check stands: ``done`` of ``total`` stages, and what runs now."""

    done: int  # stages finished
    total: int  # stages in all
    stage: str  # what runs now (or "done")
    seed: int | None  # the seed being worked on
    detail: str = ""  # e.g. search evaluations so far


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _normalise_bias(value: object) -> str:
    """'0.9', 0.9 or '0.90' -> '0.90' if that is a preset; else InputError."""
    expected = "one of " + ", ".join(BIAS_LEVELS)
    if isinstance(value, str) and value in world.BIAS_PRESETS:
        return value
    if isinstance(value, bool):
        raise InputError("bias", value, expected)
    try:
        key = f"{float(value):.2f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError("bias", value, expected) from None
    if key not in world.BIAS_PRESETS or abs(float(value) - float(key)) > 1e-9:  # type: ignore[arg-type]
        raise InputError("bias", value, expected)
    return key


def _positive(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(field, value, "a number > 0")


def validate_bias_config(config: BiasCheckConfig) -> BiasCheckConfig:
    """Checks a config; returns it with ``bias`` written as its preset key (e.g. "0.90").

    Raises:
        InputError: the first bad field, naming it, the value received and what is accepted.
    """
    bias = _normalise_bias(config.bias)
    for field in ("images", "seeds", "real_images", "test_per_group", "pretrain_epochs", "finetune_epochs",
                  "batch_size", "evaluations", "bins"):
        whole_number(field, getattr(config, field), low=1, integers_only=True)
    whole_number("first_seed", config.first_seed, low=0, integers_only=True)
    whole_number("test_seed", config.test_seed, low=0, integers_only=True)
    whole_number("image_size", config.image_size, low=2 ** len(config.channels), integers_only=True)
    if not config.channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in config.channels):
        raise InputError("channels", config.channels, "a non-empty tuple of whole numbers >= 1")
    _positive("lr", config.lr)
    _positive("finetune_lr", config.finetune_lr)
    if config.images > config.evaluations:
        raise InputError(
            "images", config.images, f"at most the search budget ({config.evaluations} evaluations) per condition"
        )
    if config.quality_threshold is not None and (
        isinstance(config.quality_threshold, bool) or not isinstance(config.quality_threshold, (int, float))
        or math.isnan(config.quality_threshold)
    ):
        raise InputError("quality_threshold", config.quality_threshold, "a number (objective units) or None")
    return dataclasses.replace(config, bias=bias)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LabelledImages:
    """Images with shape labels and, where known, test groups.

    Attributes:
        images: (n, 3, S, S) float32 in [0, 1].
        labels: (n,) int64, index into :data:`CLASSES`.
        groups: (n,) int64, index into :data:`GROUPS`, or -1 where the image is in none of
            them (e.g. a green triangle) or the group is unknown (synthetic images).
    """

    images: torch.Tensor
    labels: torch.Tensor
    groups: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise InputError("images", tuple(self.images.shape), "a tensor of shape (n, 3, S, S)")
        if self.labels.shape != (n,) or self.groups.shape != (n,):
            raise InputError("labels/groups", (tuple(self.labels.shape), self.groups.shape), f"arrays of shape ({n},)")

    def __len__(self) -> int:
        return len(self.labels)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 3, H, W) -> (n, 3, size, size), antialiased bilinear (no-op at the same size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images.contiguous()
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _from_attributes(attrs: world.ShapeAttributes, *, size: int) -> LabelledImages:
    """Renders attributes (triangles and squares) at the world's size, resized to ``size``."""
    names = attrs.shape_names()
    if not np.isin(names, CLASSES).all():
        raise InputError("shapes", sorted(set(names) - set(CLASSES)), "triangles and squares only")
    x = torch.from_numpy(world.render(attrs)).permute(0, 3, 1, 2)  # (n, 3, 64, 64)
    labels = torch.as_tensor([CLASSES.index(s) for s in names], dtype=torch.int64)
    colours = attrs.colour_names()
    groups = np.full(len(attrs), -1, dtype=np.int64)
    for g, (colour, shape) in enumerate(GROUPS):
        groups[(colours == colour) & (names == shape)] = g
    return LabelledImages(_resize(x, size), labels, groups)


def real_training_set(*, bias: str, n: int, size: int, rng: np.random.Generator) -> LabelledImages:
    """Biased "real" renders: triangles and squares (uniform), colours from the bias preset.

    Args:
        bias: Key of :data:`world.BIAS_PRESETS`.
        n: Number of images.
        size: Side of the returned images.
        rng: Source of randomness.

    Returns:
        :class:`LabelledImages` with n images, (n, 3, size, size).
    """
    spec = dataclasses.replace(world.BIAS_PRESETS[_normalise_bias(bias)], shapes=CLASSES)
    return _from_attributes(world.sample_attributes(n, bias=spec, rng=rng), size=size)


def balanced_test_set(*, per_group: int, size: int, rng: np.random.Generator) -> LabelledImages:
    """Held-out renders: ``per_group`` clean images of each of :data:`GROUPS`, in group order.

    Returns:
        :class:`LabelledImages` with ``4 * per_group`` images, (4 * per_group, 3, size, size).
    """
    parts = [world.attributes_for(per_group, rng=rng, shape=shape, colour=colour) for colour, shape in GROUPS]
    return _from_attributes(world.ShapeAttributes.concat(parts), size=size)


def labels_from_measures(measures: np.ndarray) -> np.ndarray:
    """Shape labels of synthetic images from their measures, as the method labels them.

    Args:
        measures: (n, k) measures of the run (``LABEL_MEASURE`` is triangle vs square).

    Returns:
        (n,) int64: 1 (triangle) where the triangle-vs-square measure is above
        :data:`LABEL_THRESHOLD`, else 0 (square).
    """
    return (np.asarray(measures)[:, LABEL_MEASURE] > LABEL_THRESHOLD).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Synthetic sets: one QD search per generator and seed, its balanced selection and random baseline
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SyntheticSets:
    """The fine-tuning sets of one seed drawn from the generator, and what they hold.

    Attributes:
        sets: "qd", "balanced_random", "random" -> images labelled from their measures.
        quadrants: One row per set: images and the share of each measure quadrant
            (red/blue by the colour measure's sign x triangle/square label).
        judge: One row per set: images, judge agreement (clean and on the claimed side of both
            measures) and the share the judge finds not a clean shape; NaN without a judge.
        search_seconds: Time of the search, the selection, rendering and judging.
        generator: ``describe()`` of the generator.
    """

    sets: dict[str, LabelledImages]
    quadrants: pd.DataFrame
    judge: pd.DataFrame
    search_seconds: float
    generator: dict

    @property
    def qd(self) -> LabelledImages:
        return self.sets["qd"]

    @property
    def random(self) -> LabelledImages:
        return self.sets["random"]


def _render_latents(generator: Generator, z: np.ndarray, *, size: int) -> torch.Tensor:
    """(n, d) latents -> (n, 3, size, size) float32 images in [0, 1] (``render_final``, no grad)."""
    from core.batching import iter_render

    parts = [_resize(chunk, size) for chunk in iter_render(generator, z, chunk=RENDER_CHUNK)]
    return torch.cat(parts) if parts else torch.zeros(0, 3, size, size)


def _quadrant_shares(measures: np.ndarray) -> dict[str, float]:
    red = measures[:, COLOUR_MEASURE] > 0
    tri = labels_from_measures(measures) == 1
    n = max(len(measures), 1)
    return {
        "red triangle": float((red & tri).sum() / n),
        "blue triangle": float((~red & tri).sum() / n),
        "red square": float((red & ~tri).sum() / n),
        "blue square": float((~red & ~tri).sum() / n),
    }


def _synthetic_key(config: BiasCheckConfig, seed: int) -> tuple:
    """What the synthetic sets depend on (not the real-data bias)."""
    return (config.generator, config.scorer, config.objective, config.algorithm, config.evaluations, config.images, config.bins,
            config.quality_threshold, config.image_size, config.device, seed)


def synthetic_sets(
    config: BiasCheckConfig,
    *,
    seed: int,
    generator: Generator,
    scorer: Scorer,
    on_event: Callable[[object], None] | None = None,
) -> SyntheticSets:
    """Runs the QD search for one seed and draws the three synthetic fine-tuning sets.

    Uses the engine as the dashboard and CLI do: :func:`core.search.run_search` with the
    red-vs-blue and triangle-vs-square measures, then the export's own balanced selection
    (:func:`core.export.select_for_run`) on the QD pool (QD) and on the run's random samples
    (balanced random); plain random is the first random samples above the same quality
    threshold, as many as the QD set holds. The run's judge reads every set.

    Args:
        config: A validated config.
        seed: The search seed.
        generator: The generator; scorer: the scorer.
        on_event: Called with each search :class:`~core.search.ProgressEvent`.

    Returns:
        :class:`SyntheticSets`, images (n, 3, image_size, image_size) with n <= ``images``
        (fewer when the search found fewer clear, distinct samples; plain random matches QD).

    Raises:
        QDGSError: the search produced no usable sample.
    """
    from core import metrics
    from core.export import select_for_run
    from core.judging import judge_selected, load_run_judge
    from core.search import run_search

    t0 = time.perf_counter()
    run_config = RunConfig(
        measures=MEASURES,
        objective=config.objective,
        generator=config.generator,
        scorer=config.scorer,
        algorithm=config.algorithm,
        evaluations=config.evaluations,
        seed=seed,
        device=config.device,
    )
    with tempfile.TemporaryDirectory(prefix="qdgs-biascheck-") as tmp:
        run = run_search(run_config, run_dir=Path(tmp) / "run", generator=generator, scorer=scorer, on_event=on_event)
    qd_sel = select_for_run(run, images=config.images, bins=config.bins, quality_threshold=config.quality_threshold)
    bal_sel = select_for_run(run, run.random_pool, images=config.images, bins=config.bins, quality_threshold=config.quality_threshold)
    n = len(qd_sel.indices)
    plain = np.flatnonzero(run.random_pool.objective >= qd_sel.quality_threshold)[:n]
    if n == 0 or len(plain) < n:
        raise QDGSError(
            f"the search gave {n} QD and {len(plain)} random images above the quality threshold "
            f"{qd_sel.quality_threshold:.3f}; raise the evaluations or lower the threshold"
        )
    if n < config.images:
        logger.warning("seed %d: %d of %d images (short bins: %s)", seed, n, config.images, ", ".join(qd_sel.short_bins))
    drawn = {
        "qd": (run.pool, qd_sel.indices, qd_sel.bin_index),
        "balanced_random": (run.random_pool, bal_sel.indices, bal_sel.bin_index),
        "random": (run.random_pool, plain, metrics.bin_indices(run.random_pool.measures[plain], run.measure_ranges, config.bins)),
    }
    judge_name, judge_options = run_config.resolved_judge()
    judge, note = load_run_judge(judge_name, options=judge_options, device=config.device, scorer_description=scorer.describe())
    pairs = [(m.positive, m.negative) for m in MEASURES]
    sets, quadrant_rows, judge_rows = {}, [], []
    for name, (samples, idx, rows) in drawn.items():
        measures = samples.measures[idx]
        sets[name] = LabelledImages(
            _render_latents(generator, samples.z[idx], size=config.image_size),
            torch.from_numpy(labels_from_measures(measures)),
            np.full(len(idx), -1, dtype=np.int64),
        )
        quadrant_rows.append({"set": name, "images": len(idx), **_quadrant_shares(measures)})
        if judge is not None:
            report = judge_selected(judge, generator, pairs, samples.z[idx], rows, config.bins)[0]
            judge_rows.append({"set": name, "images": len(idx), "judge_agreement": report.agreement,
                               "judge_not_clean": report.not_clean_share, "judge": report.judge})
        else:
            judge_rows.append({"set": name, "images": len(idx), "judge_agreement": float("nan"),
                               "judge_not_clean": float("nan"), "judge": note})
    return SyntheticSets(
        sets, pd.DataFrame(quadrant_rows), pd.DataFrame(judge_rows), time.perf_counter() - t0, dict(generator.describe())
    )


def balanced_real_set(*, n: int, size: int, rng: np.random.Generator) -> LabelledImages:
    """The ceiling: ``n`` true renders balanced over :data:`GROUPS` (as many per group as fit)."""
    per_group = max(1, n // len(GROUPS))
    data = balanced_test_set(per_group=per_group, size=size, rng=rng)
    return LabelledImages(data.images, data.labels, np.full(len(data), -1, dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# The classifier
# ---------------------------------------------------------------------------------------------


class ShapeClassifier(nn.Module):
    """A small CNN: (conv 3x3, GroupNorm, ReLU, max-pool 2) per width, global average pool, linear.

    GroupNorm rather than BatchNorm: it keeps no running statistics, so the model behaves the
    same in training and evaluation and across the real and synthetic data it is tuned on
    (without normalisation the same net barely learns shape in a few epochs).

    Args:
        channels: Conv widths, one block each (each halves the side); each divisible by
            :data:`NORM_GROUPS` or smaller than it (then one group).
        num_classes: Outputs (logits).
    """

    def __init__(self, *, channels: Iterable[int] = (8, 16, 32, 64), num_classes: int = len(CLASSES)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            groups = NORM_GROUPS if c % NORM_GROUPS == 0 else 1
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GroupNorm(groups, c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 3, S, S) in [0, 1] -> (n, num_classes) logits."""
        h = self.features(x * 2 - 1)  # (n, c, S / 2**blocks, S / 2**blocks)
        return self.head(h.mean(dim=(2, 3)))  # (n, num_classes)


def train_classifier(
    model: nn.Module,
    data: LabelledImages,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str = "cpu",
) -> nn.Module:
    """Trains ``model`` in place with Adam and cross-entropy; returns it (in eval mode).

    Args:
        model: The classifier.
        data: Training images and labels.
        epochs: Passes over ``data``; batch_size: images per step; lr: Adam learning rate.
        seed: Seeds the batch order.
        device: Where to train.
    """
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(int(seed))
    x_all, y_all = data.images, data.labels
    for _ in range(epochs):
        perm = torch.randperm(len(data), generator=order)
        for start in range(0, len(data), batch_size):
            idx = perm[start : start + batch_size]
            x, y = x_all[idx].to(device), y_all[idx].to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def predict(model: nn.Module, images: torch.Tensor, *, device: str = "cpu") -> np.ndarray:
    """(n, 3, S, S) images -> (n,) int64 predicted class indices."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), EVAL_BATCH):
            out.append(model(images[start : start + EVAL_BATCH].to(device)).argmax(dim=1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def group_accuracy(predictions: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, num_groups: int) -> np.ndarray:
    """Accuracy within each group.

    Args:
        predictions: (n,) predicted class indices.
        labels: (n,) true class indices.
        groups: (n,) group index of each example in [0, num_groups), or -1 (ignored).
        num_groups: Number of groups.

    Returns:
        (num_groups,) float64: the fraction of correct predictions among each group's examples.

    Raises:
        InputError: arrays of different lengths, a group index out of range, or a group
            without examples (its accuracy is undefined).
    """
    predictions, labels, groups = (np.asarray(a).reshape(-1) for a in (predictions, labels, groups))
    if not len(predictions) == len(labels) == len(groups):
        raise InputError("predictions/labels/groups", (len(predictions), len(labels), len(groups)), "arrays of one length")
    if ((groups < -1) | (groups >= num_groups)).any():
        raise InputError("groups", sorted(set(groups.tolist())), f"indices in [0, {num_groups}) or -1")
    correct = (predictions == labels).astype(np.float64)
    counts = np.bincount(groups[groups >= 0], minlength=num_groups)
    if (counts == 0).any():
        raise InputError("groups", counts.tolist(), "at least one example in every group")
    hits = np.bincount(groups[groups >= 0], weights=correct[groups >= 0], minlength=num_groups)
    return hits / counts


def accuracy_summary(per_group: np.ndarray) -> dict[str, float]:
    """Per-group accuracies (len(GROUPS),) -> {group name: acc, "mean": ..., "worst": ...}."""
    per_group = np.asarray(per_group, dtype=np.float64)
    if per_group.shape != (len(GROUPS),):
        raise InputError("per_group", per_group.shape, f"shape ({len(GROUPS)},)")
    return {**{name: float(a) for name, a in zip(GROUP_NAMES, per_group)}, "mean": float(per_group.mean()),
            "worst": float(per_group.min())}


def evaluate(model: nn.Module, test: LabelledImages, *, device: str = "cpu") -> dict[str, float]:
    """Accuracy of ``model`` per test group, their mean and the worst group's (see :data:`METRICS`)."""
    pred = predict(model, test.images, device=device)
    return accuracy_summary(group_accuracy(pred, test.labels.numpy(), test.groups, num_groups=len(GROUPS)))


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


@dataclasses.dataclass(frozen=True)
class BiasCheckResult:
    """What a bias check measured.

    Attributes:
        config: The (validated) config.
        records: One row per (seed, condition): ``seed``, ``condition``, ``images`` (the
            fine-tuning set's size, 0 for "none") and the accuracies of :data:`METRICS` (per
            group, mean, worst).
        synthetic: One row per (seed, set): images, the share of each measure quadrant, and the
            judge's agreement and not-clean share, for each set drawn from the generator.
        seconds: Wall-clock time of the whole check.
        generator: ``describe()`` of the generator (its training bias among others).
    """

    config: BiasCheckConfig
    records: pd.DataFrame
    synthetic: pd.DataFrame
    seconds: float
    generator: dict

    def table(self) -> pd.DataFrame:
        """Mean and std (over seeds, ddof=1; NaN for one seed) per condition.

        Returns:
            Index: conditions in :data:`CONDITIONS` order; columns ``(metric, "mean"|"std")``.
        """
        grouped = self.records.groupby("condition")[list(METRICS)]
        out = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1).swaplevel(axis=1)
        out = out.reindex(columns=pd.MultiIndex.from_product([METRICS, ["mean", "std"]]))
        return out.reindex([c for c in CONDITIONS if c in out.index])

    def display_table(self, digits: int = 3) -> pd.DataFrame:
        """The table as text cells "mean ± std", one row per condition (for CLI and UI)."""
        t = self.table()
        rows = []
        for cond in t.index:
            row = {"fine-tuned on": CONDITION_NAMES[cond]}
            for m in METRICS:
                row[m] = _fmt(t.loc[cond, (m, "mean")], t.loc[cond, (m, "std")], digits)
            rows.append(row)
        return pd.DataFrame(rows)

    def group_summary(self) -> pd.DataFrame:
        """Long form for plots: columns condition, group, mean, std (groups and "worst")."""
        t = self.table()
        rows = [
            {"condition": c, "group": m, "mean": float(t.loc[c, (m, "mean")]), "std": float(t.loc[c, (m, "std")])}
            for c in t.index
            for m in (*GROUP_NAMES, "worst")
        ]
        return pd.DataFrame(rows)

    def qd_beats(self, baseline: str = "balanced_random", metric: str = "worst") -> bool:
        """True when QD's mean over seeds of ``metric`` is above ``baseline``'s."""
        t = self.table()
        return bool(t.loc["qd", (metric, "mean")] > t.loc[baseline, (metric, "mean")])

    def qd_beats_random(self, metric: str = "worst") -> bool:
        """True when QD's mean over seeds of ``metric`` is above plain random's."""
        return self.qd_beats("random", metric)

    def generator_bias(self) -> str | None:
        """The bias level the generator was trained at, if it says (else None)."""
        for key in ("bias", "training_bias", "bias_level"):
            value = self.generator.get(key)
            if value is not None:
                level = value.get("level") if isinstance(value, dict) else value
                return f"{level:.2f}" if isinstance(level, (int, float)) else str(level)
        return None


def _seed_rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), SEED_STREAMS[stream]])


def _torch_seed(seed: int, stream: str) -> int:
    return int(_seed_rng(seed, stream).integers(2**31 - 1))


def run_bias_check(
    config: BiasCheckConfig,
    *,
    generator: Generator | None = None,
    scorer: Scorer | None = None,
    cache: dict | None = None,
    on_progress: Callable[[BiasCheckProgress], None] | None = None,
) -> BiasCheckResult:
    """Runs the experiment over ``config.seeds`` seeds (see the module docstring).

    Args:
        config: The experiment (validated here).
        generator: A loaded generator; loaded by name from ``config`` (once per process) if None.
        scorer: A loaded scorer; likewise.
        cache: A dict that keeps the synthetic sets per generator and seed across calls
            (e.g. over bias levels); None = none kept.
        on_progress: Called at each stage with a :class:`BiasCheckProgress`.

    Returns:
        :class:`BiasCheckResult`.

    Raises:
        InputError: a bad config field (bias not a preset, non-positive sizes, ...).
        WeightsNotFoundError: a model's weights are absent.
        QDGSError: the search gave no usable samples.
    """
    config = validate_bias_config(config)
    t0 = time.perf_counter()
    if generator is None or scorer is None:
        from core.models import get_generator, get_scorer

        generator = generator or get_generator(config.generator, device=config.device)
        scorer = scorer or get_scorer(config.scorer, device=config.device)
    cache = {} if cache is None else cache
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    stages = ("real data and pretraining", "synthetic data (QD search and export)", "fine-tuning on random",
              "fine-tuning on balanced random", "fine-tuning on QD", "fine-tuning on balanced real renders", "evaluation")
    total = len(stages) * len(seeds)
    done = 0

    def report(stage: str, seed: int | None, detail: str = "") -> None:
        if on_progress is not None:
            on_progress(BiasCheckProgress(done, total, stage, seed, detail))

    test = balanced_test_set(per_group=config.test_per_group, size=config.image_size,
                             rng=np.random.default_rng(config.test_seed))
    records: list[dict] = []
    synthetic_rows: list[pd.DataFrame] = []
    described: dict = dict(generator.describe())
    for seed in seeds:
        report(stages[0], seed)
        real = real_training_set(bias=config.bias, n=config.real_images, size=config.image_size, rng=_seed_rng(seed, "real"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_torch_seed(seed, "init"))
            base = ShapeClassifier(channels=config.channels)
        train_classifier(base, real, epochs=config.pretrain_epochs, batch_size=config.batch_size, lr=config.lr,
                         seed=_torch_seed(seed, "order"), device=config.device)
        done += 1

        key = _synthetic_key(config, seed)
        if key not in cache:
            report(stages[1], seed, "search")

            def on_event(event, seed=seed) -> None:
                report(stages[1], seed, f"search {event.evaluations}/{event.total_evaluations} evaluations")

            cache[key] = synthetic_sets(config, seed=seed, generator=generator, scorer=scorer, on_event=on_event)
        sets: SyntheticSets = cache[key]
        synthetic_rows.append(sets.quadrants.merge(sets.judge, on=["set", "images"]).assign(seed=seed))
        done += 1

        data = dict(sets.sets)
        data["real"] = balanced_real_set(n=len(sets.qd), size=config.image_size, rng=_seed_rng(seed, "ceiling"))
        models = {"none": base}
        for stage, cond in zip(stages[2:6], ("random", "balanced_random", "qd", "real")):
            report(stage, seed)
            models[cond] = train_classifier(
                copy.deepcopy(base), data[cond], epochs=config.finetune_epochs, batch_size=config.batch_size,
                lr=config.finetune_lr, seed=_torch_seed(seed, "order") + 1, device=config.device,
            )
            done += 1
        report(stages[6], seed)
        sizes = {"none": 0, **{cond: len(data[cond]) for cond in ("random", "balanced_random", "qd", "real")}}
        for cond in CONDITIONS:
            records.append({"seed": seed, "condition": cond, "images": sizes[cond],
                            **evaluate(models[cond], test, device=config.device)})
        done += 1
    report("done", None)
    synthetic = pd.concat(synthetic_rows, ignore_index=True)[
        ["seed", "set", "images", *GROUP_NAMES, "judge_agreement", "judge_not_clean", "judge"]
    ]
    return BiasCheckResult(config, pd.DataFrame(records), synthetic, time.perf_counter() - t0, described)


# ---------------------------------------------------------------------------------------------
# Command line: python -m core bias-check (registered by core.cli, which imports this module)
# ---------------------------------------------------------------------------------------------


def _add_arguments(p: argparse.ArgumentParser) -> None:
    d = BiasCheckConfig()
    p.add_argument("--bias", default=d.bias, help="real-data bias level, one of " + ", ".join(BIAS_LEVELS) + " (default: %(default)s)")
    p.add_argument("--images", type=int, default=d.images, help="synthetic fine-tuning images per condition (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=d.seeds, help="repetitions (default: %(default)s)")
    p.add_argument("--first-seed", type=int, default=d.first_seed, help="first seed (default: %(default)s)")
    p.add_argument("--real-images", type=int, default=d.real_images, help="biased real training renders (default: %(default)s)")
    p.add_argument("--evaluations", type=int, default=d.evaluations, help="QD search budget per seed (default: %(default)s)")
    p.add_argument("--generator", default=d.generator, help="registry name (default: %(default)s)")
    p.add_argument("--scorer", default=d.scorer, help="registry name (default: %(default)s)")
    p.add_argument("--objective", nargs=2, metavar=("POS", "NEG"), help="the search's quality pair (default: the generator's)")
    p.add_argument("--device", default=d.device, help="torch device (default: %(default)s)")
    p.add_argument("--out", metavar="FILE.csv", help="write one row per seed and condition to this CSV")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_cli(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    config = BiasCheckConfig(
        bias=args.bias, images=args.images, seeds=args.seeds, first_seed=args.first_seed, real_images=args.real_images,
        evaluations=args.evaluations, generator=args.generator, scorer=args.scorer, device=args.device,
        objective=PromptPair(*args.objective, label="quality") if args.objective else None,
    )
    config = validate_bias_config(config)
    out = Path(args.out).expanduser() if args.out else None
    if out is not None and not out.parent.is_dir():
        raise InputError("out", str(out), "a path in an existing folder")
    bar = tqdm(total=config.seeds * 7, unit="stage", disable=args.quiet, file=sys.stderr, desc="bias check")

    def progress(p: BiasCheckProgress) -> None:
        bar.update(p.done - bar.n)
        bar.set_description(f"seed {p.seed}: {p.stage}" if p.seed is not None else p.stage)
        bar.set_postfix_str(p.detail)

    try:
        result = run_bias_check(config, on_progress=progress)
    finally:
        bar.close()
    print(f"Bias check: real data bias {config.bias}, {config.images} synthetic images, {config.seeds} seeds, "
          f"generator trained at bias {result.generator_bias() or 'unknown'}; {result.seconds:.0f} s")
    print(result.display_table().to_string(index=False))
    for baseline in ("random", "balanced_random"):
        verdict = "beat" if result.qd_beats(baseline) else "did not beat"
        print(f"QD {verdict} {CONDITION_NAMES[baseline]} on worst-group accuracy (mean over seeds).")
    shares = result.synthetic.groupby("set")[["images", *GROUP_NAMES, "judge_agreement", "judge_not_clean"]].mean()
    print("\nSynthetic fine-tuning sets (mean over seeds): images, share of each measure quadrant, judge agreement")
    print(shares.reindex(list(SYNTHETIC_SETS)).round(3).to_string())
    if out is not None:
        result.records.assign(bias=config.bias, requested_images=config.images).to_csv(out, index=False)
        print(f"wrote {out}")
    return 0


def register_cli(register_subcommand: Callable[..., None]) -> None:
    """Adds ``bias-check`` to the command line (``core.cli`` calls this explicitly)."""
    register_subcommand(
        "bias-check",
        help="does balanced data help? fine-tune a biased shapes classifier on QD vs random data",
        add_arguments=_add_arguments,
        run=_run_cli,
    )
