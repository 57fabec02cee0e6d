"""Checking images against what their bins claim, with a judge the search never saw.

A balanced export puts each image in a bin per measure. A bin at an end of a measure's range
*claims* that side of the prompt pair (the top bin: the positive prompt; the bottom bin: the
negative one); bins in between claim a degree, which a judge that answers positive /
negative / neither cannot check. An image *agrees* with its bin when the judge finds it a
clean subject and on the claimed side of every measure the judge can read. With two bins
per measure every image claims a side of every measure.

:func:`judge_report` turns a judge's :class:`~core.interfaces.Verdicts` into figures per bin
and overall; :func:`load_run_judge` finds a run's judge, or says why there is none.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .errors import InputError, QDGSError
from .interfaces import Judge, Verdicts

__all__ = [
    "claims",
    "JudgeReport",
    "DrawFigures",
    "judge_report",
    "judge_selected",
    "judge_draws",
    "load_run_judge",
    "JUDGE_SAMPLE",
]

logger = logging.getLogger(__name__)

JUDGE_SAMPLE = 200  # images judged per side for a run's summary (a 2-per-measure balanced draw)


def claims(bin_index: np.ndarray, bins: int) -> np.ndarray:
    """The side each image's bins claim: (n, k) int8, +1 top bin, -1 bottom bin, 0 in between."""
    bin_index = np.asarray(bin_index)
    return np.where(bin_index == bins - 1, 1, np.where(bin_index == 0, -1, 0)).astype(np.int8)


def agreement(verdicts: Verdicts, claimed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: (agrees, checked), bool (n,) each.

    ``checked``: the image claims a side of at least one measure the judge can read.
    ``agrees``: it is clean and on the claimed side of every such measure.
    """
    judged = np.asarray(verdicts.judged, dtype=bool)[None, :]  # (1, k)
    relevant = (claimed != 0) & judged  # (n, k)
    matches = (verdicts.side == claimed) | ~relevant
    checked = relevant.any(axis=1)
    return verdicts.clean & matches.all(axis=1), checked


@dataclasses.dataclass(frozen=True)
class JudgeReport:
    """A judge's figures for one set of binned images.

    Attributes:
        judge: The judge's name, or None when no judge was available.
        note: Why there is no judge (or ""), shown wherever the figures would be.
        images: Images judged.
        checked: Images whose bins claim a side the judge can read.
        agree: Of those, how many the judge agrees with.
        not_clean: Images the judge finds not a clean subject (of ``images``).
        per_bin: Bin label -> {"images", "checked", "agree", "not_clean"}.
        judged: Per measure, whether the judge can read it.
    """

    judge: str | None
    note: str = ""
    images: int = 0
    checked: int = 0
    agree: int = 0
    not_clean: int = 0
    per_bin: dict = dataclasses.field(default_factory=dict)
    judged: tuple[bool, ...] = ()
    bins: int = 0  # bins per measure of the binning judged
    measures: int = 0  # measures (k)

    @property
    def agreement(self) -> float | None:
        """Share of checked images the judge agrees with; None if nothing could be checked."""
        return self.agree / self.checked if self.judge and self.checked else None

    @property
    def not_clean_share(self) -> float | None:
        return self.not_clean / self.images if self.judge and self.images else None

    def verified_counts(self) -> np.ndarray | None:
        """Images the judge agrees with, per bin: shape (bins,) * measures, empty bins included."""
        if self.judge is None or not self.bins or not self.measures:
            return None
        out = np.zeros((self.bins,) * self.measures, dtype=np.int64)
        for label, entry in self.per_bin.items():
            out[tuple(int(v) for v in label[1:].split("_"))] = entry["agree"]
        return out

    @property
    def verified_uniformity(self) -> float | None:
        """Normalised entropy of :meth:`verified_counts`: how evenly the images the judge
        agrees with spread over every bin (the scorer-free counterpart of uniformity)."""
        from .metrics import normalized_entropy

        counts = self.verified_counts()
        return None if counts is None else normalized_entropy(counts)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["judged"] = list(self.judged)
        out["agreement"] = self.agreement
        out["not_clean_share"] = self.not_clean_share
        out["verified_uniformity"] = self.verified_uniformity
        return out

    @classmethod
    def unavailable(cls, note: str) -> "JudgeReport":
        return cls(judge=None, note=note)


def judge_report(
    verdicts: Verdicts, bin_index: np.ndarray, bins: int, *, judge: str, label: Callable[[np.ndarray], str]
) -> JudgeReport:
    """Figures per bin and overall for judged images.

    Args:
        verdicts: The judge's verdicts on n images.
        bin_index: (n, k) bin of each image.
        bins: Bins per measure.
        judge: The judge's name.
        label: Bin index row -> bin label (e.g. :func:`core.export.bin_label`).
    """
    claimed = claims(bin_index, bins)
    agrees, checked = agreement(verdicts, claimed)
    per_bin: dict[str, dict] = {}
    for i, row in enumerate(np.asarray(bin_index)):
        entry = per_bin.setdefault(label(row), {"images": 0, "checked": 0, "agree": 0, "not_clean": 0})
        entry["images"] += 1
        entry["checked"] += int(checked[i])
        entry["agree"] += int(agrees[i] and checked[i])
        entry["not_clean"] += int(not verdicts.clean[i])
    return JudgeReport(
        judge=judge,
        images=len(verdicts),
        checked=int(checked.sum()),
        agree=int((agrees & checked).sum()),
        not_clean=int((~verdicts.clean).sum()),
        per_bin=dict(sorted(per_bin.items())),
        judged=tuple(bool(j) for j in verdicts.judged),
        bins=int(bins),
        measures=int(np.asarray(bin_index).reshape(len(verdicts), -1).shape[1]) if len(verdicts) else len(verdicts.judged),
    )


def load_run_judge(
    name: str | None, *, options: dict | None = None, device: str = "cpu", scorer_description: dict | None = None
) -> tuple[Judge | None, str]:
    """The judge of a run, or (None, the reason) when it cannot be used here.

    Missing weights or libraries never fail the run: the figures say "no judge" and why.

    Args:
        name: Registry name of the judge; None or "none" = no judge.
        options: The judge factory's options.
        device: Torch device.
        scorer_description: The search scorer's ``describe()``; a judge that is the same
            model as the scorer is refused, because it would be fooled by the same images.

    Raises:
        InputError: unknown judge name, bad options, or the judge is the scorer itself.
    """
    if name is None or name == "none":
        return None, "no judge chosen for this run"
    from .models import get_judge

    try:
        judge = get_judge(name, options=options or {}, device=device)
    except InputError:
        raise
    except QDGSError as exc:  # weights or a library missing here
        logger.warning("judge %r unavailable: %s", name, exc)
        return None, f"judge '{name}' unavailable here, judging skipped: {' '.join(str(exc).split())[:400]}"
    described = judge.describe().get("model")
    if scorer_description and described and _same_model(described, scorer_description):
        raise InputError("judge", name, "a different model from the search's scorer (it would be fooled by the same images)")
    return judge, ""


def _same_model(a: dict, b: dict) -> bool:
    """Whether two ``describe()`` dicts name the same weights.

    Same ``name`` and, when both say where the weights come from, the same ``source`` (an
    open_clip scorer's "architecture / tag", folder or "architecture / checkpoint file"),
    with local paths resolved so that one folder named two ways (relative, absolute, through
    a link) is one model; without a source, the same non-empty ``model`` and ``pretrained``.
    The precision (``dtype``) is not compared: the same weights in bf16 are the same model.
    """
    if a.get("name") != b.get("name"):
        return False
    if a.get("source") and b.get("source"):
        return _resolved_source(a["source"]) == _resolved_source(b["source"])
    keys = ("model", "pretrained")
    return all(a.get(k) == b.get(k) for k in keys) and any(a.get(k) for k in keys)


def _resolved_source(source) -> str:
    """A source label with its local path (the whole label, or after " / ") made absolute."""
    text = str(source)
    head, sep, tail = text.rpartition(" / ")
    path = Path(tail).expanduser()
    return f"{head}{sep}{path.resolve()}" if path.exists() else text


def judge_images(
    judge: Judge, images: torch.Tensor, pairs: Sequence[tuple[str, str]]
) -> Verdicts:
    """The judge's verdicts on images (n, 3, H, W) in [0, 1] (an empty batch gives empty verdicts)."""
    if len(images) == 0:
        return Verdicts.concat([], num_pairs=len(pairs), judged=judge.judgeable(pairs))
    return judge.judge(images, pairs)


def judge_selected(
    judge: Judge | None,
    generator,
    pairs: Sequence[tuple[str, str]],
    z: np.ndarray,
    bin_index: np.ndarray,
    bins: int,
    *,
    scorer=None,
    note: str = "no judge",
) -> tuple[JudgeReport, np.ndarray | None]:
    """Renders latents once, a chunk at a time: the judge's report per bin (labels as
    :func:`core.selection.bin_label`) and, with a ``scorer``, the images' embeddings.

    Returns:
        (report, (n, D) embeddings or None); the report says ``note`` when there is no judge.
    """
    from .batching import embed_images, iter_render
    from .selection import bin_label

    parts, embeddings = [], []
    for images in iter_render(generator, z):
        if judge is not None:
            parts.append(judge_images(judge, images, pairs))
        if scorer is not None:
            embeddings.append(embed_images(scorer, images))
    emb = np.concatenate(embeddings) if embeddings else None
    if judge is None:
        return JudgeReport.unavailable(note), emb
    verdicts = Verdicts.concat(parts, num_pairs=len(pairs), judged=judge.judgeable(pairs))
    report = judge_report(verdicts, bin_index, bins, judge=judge.name, label=lambda row: bin_label(row, bins))
    return report, emb


@dataclasses.dataclass(frozen=True)
class DrawFigures:
    """What one side of a run shows on its final draw: the judge's report and diversity."""

    report: JudgeReport
    vendi: float | None  # Vendi score of the scorer's embeddings of the drawn images


def judge_draws(
    judge: Judge | None,
    generator,
    *,
    scorer,
    pairs: Sequence[tuple[str, str]],
    pool,
    random_pool,
    calibration,
    images: int = JUDGE_SAMPLE,
    bins: int = 2,
    note: str = "no judge",
) -> dict[str, DrawFigures]:
    """The final figures of a run's three sides, each rendered once: a balanced selection of
    ``images`` over ``bins`` bins per measure from the QD pool, the same selection from the
    random samples (the honest baseline), and the first ``images`` plain random samples, all
    above the default quality threshold. Judged (when there is a judge) and measured for
    diversity (Vendi score of the scorer's embeddings).

    Returns:
        {"qd": ..., "balanced_random": ..., "random": ...}.
    """
    import math

    from . import metrics
    from .selection import DEDUP_FRACTION, default_quality_threshold, select_balanced

    ranges = calibration.measure_ranges
    threshold = default_quality_threshold(random_pool)
    min_distance = DEDUP_FRACTION * calibration.prior_std * math.sqrt(pool.z.shape[1])
    drawn = {}
    for side, samples in (("qd", pool), ("balanced_random", random_pool)):
        sel = select_balanced(
            samples, ranges=ranges, images=images, bins=bins, quality_threshold=threshold,
            min_distance=min_distance, clear_levels=calibration.clear_levels,
        )
        drawn[side] = (samples.z[sel.indices], sel.bin_index)
    plain = np.flatnonzero(random_pool.objective >= threshold)[:images]
    rows = metrics.bin_indices(random_pool.measures[plain], ranges, bins) if len(plain) else np.zeros((0, len(pairs)), int)
    drawn["random"] = (random_pool.z[plain], rows)
    out = {}
    for side, (z, rows) in drawn.items():
        report, emb = judge_selected(judge, generator, pairs, z, rows, bins, scorer=scorer, note=note)
        vendi = metrics.vendi_score(emb) if emb is not None and len(emb) >= 2 else None
        out[side] = DrawFigures(report, vendi)
    return out
