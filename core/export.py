"""Balanced dataset export: images drawn evenly across measure bins, checked by a judge, as a zip.

The zip loads directly as a Hugging Face ``imagefolder`` dataset and as a torchvision
``ImageFolder``::

    README.md              dataset card (prompts, models, settings, figures vs both baselines)
    density.png            images per bin: this export, balanced random, plain random
    train/metadata.csv     file_name, label, measure_*, bin_*, judge_*, objective, prompts, latent
    train/<bin>/<id>.png   one folder per measure bin, e.g. train/b03_07/000123.png

``file_name`` is relative to the folder of ``metadata.csv`` (the imagefolder rule).

Which images: :func:`core.selection.select_balanced` on the run's pool (quality threshold,
clear ends, most representative first, distinct, even; short bins are reported, never
padded). With ``verified=True`` the judge checks candidates first and only images it agrees
with are kept. Beside the export, two baselines of the same size are drawn from the run's
random samples (the generator's prior, same budget): **balanced random**, the same
selection code on the random samples (the honest baseline), and **plain random**, the first
random samples above the same quality threshold. All three are judged and measured alike.

Images are rendered, judged, encoded into the zip and dropped a chunk at a time, so memory
does not grow with the number of images. The zip is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import metrics
from .batching import RENDER_CHUNK, embed_images, iter_render
from .checks import whole_number
from .errors import InputError
from .interfaces import Generator, Judge, Scorer, Verdicts
from .judging import JudgeReport, agreement, claims, judge_images, judge_report, load_run_judge
from .markdown import escape_markdown
from .runs import Run, Samples, atomic_file
from .selection import (
    DEDUP_FRACTION,
    DEFAULT_QUALITY_PERCENTILE,
    MAX_BINS_TOTAL,
    Selection,
    bin_label,
    default_quality_threshold,
    select_balanced,
)

__all__ = [
    "ExportResult",
    "export_balanced",
    "select_for_run",
    "Selection",
    "SIDES",
    "DEFAULT_QUALITY_PERCENTILE",
    "DEDUP_FRACTION",
    "MAX_BINS_TOTAL",
]

logger = logging.getLogger(__name__)

SIDES = ("qd", "balanced_random", "random")  # the export and its two baselines, in display order
SIDE_NAMES = {"qd": "this export (QD)", "balanced_random": "balanced random", "random": "plain random"}
SHOWN_SHORT_BINS = 50  # short bins listed by name in the card (all are in ExportResult)
CARD_FOLDERS = 64  # the card's per-folder table lists at most this many bins
METRIC_NAMES = (
    "images", "coverage", "uniformity", "kl_from_uniform", "judge_agreement", "judge_not_clean",
    "verified_uniformity", "vendi", "pure_diversity", "mean_objective",
)


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What :func:`export_balanced` wrote.

    Attributes:
        path: The zip file.
        n_images: Images written (fewer than requested if bins ran short).
        counts: Images per bin, shape (bins,) * k.
        short_bins: Labels of bins that had fewer usable samples than the even share.
        metrics: ``{"qd": {...}, "balanced_random": {...}, "random": {...}}``: coverage,
            uniformity, kl_from_uniform, judge agreement and not-clean share, verified
            uniformity, vendi, pure_diversity, mean_objective over the export bins.
        judge: ``{side: JudgeReport}`` (reports say why when there is no judge).
        card: The dataset card (README.md) text.
        requested: Images asked for.
        quality_threshold: Threshold applied.
        verified: Whether only judge-approved images were kept.
        rejected_by_judge: Candidates the judge turned down (verified exports).
    """

    path: Path
    n_images: int
    counts: np.ndarray
    short_bins: list[str]
    metrics: dict
    judge: dict
    card: str
    requested: int = 0
    quality_threshold: float = float("nan")
    verified: bool = False
    rejected_by_judge: int = 0


def _min_distance(run: Run, min_distance: float | None) -> float:
    if min_distance is not None:
        return float(min_distance)
    return DEDUP_FRACTION * run.calibration.prior_std * math.sqrt(run.pool.z.shape[1])


def select_for_run(
    run: Run,
    samples: Samples | None = None,
    *,
    images: int,
    bins: int,
    quality_threshold: float | None = None,
    min_distance: float | None = None,
    clear_ends: bool = True,
    verify=None,
) -> Selection:
    """:func:`core.selection.select_balanced` with a run's ranges, thresholds and clear levels.

    Args:
        run: The run.
        samples: The pool to choose from: the run's QD pool (None) or its random samples.
        images, bins, verify: As :func:`core.selection.select_balanced`.
        clear_ends: Bins at the ends of a measure take only clear examples of that side (the
            run's calibrated ``clear_levels``); False takes any sample there.
        quality_threshold: Minimum objective; None = the random baseline's
            :data:`DEFAULT_QUALITY_PERCENTILE` th percentile.
        min_distance: Near-duplicate latent distance; None = :data:`DEDUP_FRACTION` x prior
            std x sqrt(latent_dim).

    Raises:
        InputError: bad ``images``, ``bins`` or ``quality_threshold``.
    """
    if quality_threshold is None:
        quality_threshold = default_quality_threshold(run.random_pool)
    return select_balanced(
        run.pool if samples is None else samples,
        ranges=run.measure_ranges,
        images=images,
        bins=bins,
        quality_threshold=quality_threshold,
        min_distance=_min_distance(run, min_distance),
        clear_levels=run.calibration.clear_levels if clear_ends else None,
        verify=verify,
    )


def _png(image: torch.Tensor) -> bytes:
    from PIL import Image

    arr = (image.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)  # (H, W, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@dataclasses.dataclass
class _Side:
    """One set of images (the export or a baseline): what is rendered, and what it showed."""

    name: str
    samples: Samples
    indices: np.ndarray  # (n,) indices into samples
    bin_index: np.ndarray  # (n, k)
    embeddings: list = dataclasses.field(default_factory=list)
    verdicts: list = dataclasses.field(default_factory=list)


def _verifier(judge: Judge, generator: Generator, samples: Samples, pairs, bins: int):
    """The ``verify`` callback of a selection: render candidates, keep those the judge agrees with."""

    def verify(idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
        images = torch.cat(list(iter_render(generator, samples.z[idx])))
        agrees, _ = agreement(judge_images(judge, images, pairs), claims(rows, bins))
        return agrees

    return verify


def _figures(side: _Side, report: JudgeReport, ranges, bins: int, k: int) -> dict:
    measures = side.samples.measures[side.indices]
    counts = metrics.bin_counts(measures.reshape(-1, k), ranges, bins)
    emb = np.concatenate(side.embeddings) if side.embeddings else None
    return {
        "images": int(len(side.indices)),
        "coverage": metrics.coverage(counts),
        "uniformity": metrics.normalized_entropy(counts),
        "kl_from_uniform": metrics.kl_from_uniform(counts),
        "judge_agreement": report.agreement,
        "judge_not_clean": report.not_clean_share,
        "verified_uniformity": report.verified_uniformity,
        "vendi": metrics.vendi_score(emb) if emb is not None and len(emb) else 0.0,
        "pure_diversity": metrics.pure_diversity(emb) if emb is not None and len(emb) else 0.0,
        "mean_objective": metrics.mean_objective(side.samples.objective[side.indices]),
    }


def density_png(counts: dict[str, np.ndarray], *, labels: list[str], ranges) -> bytes:
    """Heatmaps of images per bin (first two measures; others summed out), one per side.

    With one measure, bar charts.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def two_d(c: np.ndarray) -> np.ndarray:
        return c.sum(axis=tuple(range(2, c.ndim))) if c.ndim > 2 else c

    fig = Figure(figsize=(15, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(counts))
    vmax = max(1, int(max(two_d(c).max() for c in counts.values())))
    for ax, (side, c) in zip(np.atleast_1d(axes), counts.items()):
        if c.ndim == 1:
            lo, hi = ranges[0]
            edges = np.linspace(lo, hi, len(c) + 1)
            ax.bar(edges[:-1], c, width=np.diff(edges), align="edge", color="#4c72b0")
            ax.set_ylim(0, vmax * 1.05)
            ax.set_xlabel(labels[0], parse_math=False)  # typed labels are text, never mathtext
            ax.set_ylabel("images")
        else:
            grid = two_d(c)
            (x0, x1), (y0, y1) = ranges[0], ranges[1]
            im = ax.imshow(grid.T, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", cmap="magma", vmin=0, vmax=vmax)
            ax.set_xlabel(labels[0], parse_math=False)
            ax.set_ylabel(labels[1], parse_math=False)
            fig.colorbar(im, ax=ax, label="images per bin")
        ax.set_title(f"{SIDE_NAMES[side]} (n={int(c.sum())})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def dataset_card(
    run: Run,
    *,
    selection: Selection,
    n_images: int,
    requested: int,
    bins: int,
    figures: dict,
    reports: dict[str, JudgeReport],
    verified: bool,
) -> str:
    """The dataset card (README.md) of an export; typed text (prompts, labels) is Markdown-escaped."""
    cfg = run.config
    s = run.summary
    k = len(cfg.measures)
    md = escape_markdown
    measures = "\n".join(
        f"| `measure_{j}` | {md(m.display_label())} | {md(m.positive)} | {md(m.negative)} | {lo:.4f} .. {hi:.4f} |"
        for j, (m, (lo, hi)) in enumerate(zip(cfg.measures, run.measure_ranges))
    )
    obj = cfg.resolved_objective()
    rows = "\n".join(
        f"| {name} | " + " | ".join(_fmt(figures[side][name]) for side in SIDES) + " |" for name in METRIC_NAMES
    )
    short = selection.short_bins
    if short:
        listed = ", ".join(short[:SHOWN_SHORT_BINS]) + (" ..." if len(short) > SHOWN_SHORT_BINS else "")
        short_text = (
            f"{len(short)} of {bins ** k} bins had fewer than {selection.even_share} usable samples (the even "
            f"share); they hold what was found and are not padded: {listed}"
        )
    else:
        short_text = "None: every bin had at least the even share."
    qd_report = reports["qd"]
    if qd_report.judge is None:
        judge_text = f"No judge checked these images: {qd_report.note}"
        folder_table = ""
    else:
        judge_text = (
            f"Judge: `{json.dumps(s.get('judge') or {'name': qd_report.judge})}`. It never guided the search. "
            f"An image agrees with its folder when the judge finds one clean subject on the claimed side of "
            f"each measure it can read (folders at an end of a measure claim that side; folders in between "
            f"claim a degree and are checked for a clean subject only)."
            + (" This export is **verified**: only images the judge agreed with were kept "
               f"({selection.rejected_by_judge} candidates turned down)." if verified else "")
        )
        labels = sorted(set(reports["qd"].per_bin) | set(reports["balanced_random"].per_bin))[:CARD_FOLDERS]
        lines = []
        for label in labels:
            cells = []
            for side in ("qd", "balanced_random"):
                e = reports[side].per_bin.get(label, {"images": 0, "checked": 0, "agree": 0, "not_clean": 0})
                cells.append(f"{e['images']} | {_pct(e['agree'], e['checked'])} | {_pct(e['not_clean'], e['images'])}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        folder_table = (
            "\n\nPer folder (judge agreement among images whose folder claims a side; not clean among all):\n\n"
            "| folder | QD images | QD agree | QD not clean | balanced random images | agree | not clean |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(lines)
        )
    return f"""# Balanced synthetic image dataset (QDGS Studio)

{n_images} images ({requested} requested) drawn evenly across {bins} bins per measure
({bins ** k} bins) from a quality-diversity search, checked by an independent judge, with the
figures of two baselines of the same size beside them: the generator's random samples put
through the same balanced selection (balanced random), and plain random sampling.

## Measures and objective

Each measure is a prompt pair scored by the scorer: sim(image, positive) - sim(image, negative).

| column | label | positive | negative | range (binned) |
|---|---|---|---|---|
{measures}

Objective (quality): 100 x [sim(image, "{md(obj.positive)}") - sim(image, "{md(obj.negative)}")], minus a
realism penalty for latents far less likely under the generator's prior than its typical samples.
Quality threshold: objective >= {selection.quality_threshold:.3f}.

## How it was made

- Generator: `{json.dumps(s.get("generator", {"name": cfg.generator}))}`
- Scorer: `{json.dumps(s.get("scorer", {"name": cfg.scorer}))}`
- Algorithm: {s.get("algorithm", cfg.algorithm)} (pyribs), seed {cfg.seed}, {s.get("evaluations")} evaluations
  (budget {cfg.evaluations}), archive {cfg.archive_resolution} cells per measure.
- Random baseline: the same number of latents drawn from the generator's prior, scored the same way.
- Selection: in a folder at an end of a measure, only images at least as similar to that side's
  prompt as the prior's clear examples ({selection.unclear} candidates kept out); most
  representative first; within a folder, samples closer than {selection.min_distance:.4f} in latent
  space to one already taken are skipped.

## What the judge saw

{judge_text}{folder_table}

## This export versus the baselines

Over the {bins}-per-measure export bins; uniformity = normalised Shannon entropy of images per
bin (1 = perfectly even); verified uniformity = the same over the images the judge agrees with;
KL from uniform in nats; Vendi score and pure diversity of the scorer's image embeddings.
The scorer's own figures (coverage, uniformity) say what the scorer believes; the judge's say
what the images show.

| metric | this export (QD) | balanced random | plain random |
|---|---|---|---|
{rows}

Bins short of samples: {short_text}

`density.png` shows the images per bin of all three.

## Files and loading

- `train/<bin>/<id>.png`: images, one folder per bin (`b<i>_<j>`: bin i of measure 0, bin j of measure 1).
- `train/metadata.csv`: `file_name`, `label` (the bin), `measure_*`, `bin_*`, `judge_*` (the judge's side
  of each measure: positive, negative, neither or not judged), `judge_clean`, `judge_note`, `objective`,
  `prompts`, `latent` (JSON list).

```python
from datasets import load_dataset
ds = load_dataset("imagefolder", data_dir="<unzipped folder>")
from torchvision.datasets import ImageFolder
folder = ImageFolder("<unzipped folder>/train")
```

Made with QDGS Studio; method: Quality-Diversity Generative Sampling (Chang et al., AAAI 2024).
"""


_SIDE_WORDS = {1: "positive", -1: "negative", 0: "neither"}


def export_balanced(
    run: Run | str | os.PathLike,
    *,
    images: int,
    bins: int,
    quality_threshold: float | None = None,
    out: str | os.PathLike,
    generator: Generator | None = None,
    scorer: Scorer | None = None,
    verified: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    min_distance: float | None = None,
    clear_ends: bool = True,
    judge: tuple[Judge | None, str] | None = None,
) -> ExportResult:
    """Writes a balanced dataset zip from a run's pool (atomically: temp file, then rename).

    Args:
        run: A :class:`~core.runs.Run` or its directory.
        images: Images wanted (>= 1).
        bins: Bins per measure (>= 1).
        quality_threshold: Minimum objective; None = the random baseline's
            :data:`DEFAULT_QUALITY_PERCENTILE` th percentile; ``-inf`` = no threshold.
        out: Path of the zip to write (its folder must exist; ``.zip`` suffix).
        generator: Loaded generator (else loaded from the run's config, once per process).
        scorer: Loaded scorer (likewise).
        verified: Keep only images the run's judge agrees with (bins left short are reported).
        on_progress: Called as ``on_progress(done, total)`` while images are rendered.
        min_distance: Near-duplicate latent distance (see :func:`select_for_run`).
        clear_ends: Bins at the ends of a measure take only clear examples of that side
            (see :func:`select_for_run`).
        judge: (judge or None, note) already loaded for this run; loaded from its config if None.

    Returns:
        An :class:`ExportResult`.

    Raises:
        InputError: bad ``images``, ``bins``, ``quality_threshold`` (also one no sample
            passes) or ``out``; a run directory that is not a finished run; ``verified`` for
            a run without a judge.
    """
    if not isinstance(run, Run):
        run = Run.open(run)
    out = Path(out).expanduser()
    if out.suffix.lower() != ".zip":
        raise InputError("out", str(out), "a file name ending in .zip")
    if not out.parent.is_dir():
        raise InputError("out", str(out), "a path in an existing folder")
    cfg = run.config
    # checked before any model loads (select_balanced checks them the same way)
    whole_number("images", images, low=1, integers_only=True)
    whole_number("bins", bins, low=1, high=max(1, int(MAX_BINS_TOTAL ** (1.0 / len(cfg.measures)))), integers_only=True)
    if generator is None or scorer is None:
        from .models import get_generator, get_scorer

        generator = generator or get_generator(cfg.generator, options=cfg.generator_options, device=cfg.device)
        scorer = scorer or get_scorer(cfg.scorer, options=cfg.scorer_options, device=cfg.device)
    if judge is None:
        judge_name, judge_options = cfg.resolved_judge()
        judge = load_run_judge(judge_name, options=judge_options, device=cfg.device, scorer_description=scorer.describe())
    judge, judge_note = judge
    if verified and judge is None:
        raise InputError("verified", True, f"a run with a judge to verify with ({judge_note})")
    pairs = [(m.positive, m.negative) for m in cfg.measures]
    k = len(pairs)
    if quality_threshold is None:
        quality_threshold = default_quality_threshold(run.random_pool)

    def choose(samples: Samples) -> Selection:
        verify = _verifier(judge, generator, samples, pairs, bins) if verified else None
        return select_for_run(
            run, samples, images=images, bins=bins, quality_threshold=quality_threshold, min_distance=min_distance,
            clear_ends=clear_ends, verify=verify,
        )

    selection = choose(run.pool)
    if not (run.pool.objective >= selection.quality_threshold).any():
        best = float(np.max(run.pool.objective)) if len(run.pool) else float("nan")
        raise InputError(
            "quality", selection.quality_threshold, f"a threshold some samples pass (the best objective of this run is {best:.3f})"
        )
    balanced_random = choose(run.random_pool)
    n = len(selection.indices)
    plain = np.flatnonzero(run.random_pool.objective >= selection.quality_threshold)[:n]
    ranges = run.measure_ranges
    plain_rows = metrics.bin_indices(run.random_pool.measures[plain], ranges, bins) if len(plain) else np.zeros((0, k), np.int64)
    sides = {
        "qd": _Side("qd", run.pool, selection.indices, selection.bin_index),
        "balanced_random": _Side("balanced_random", run.random_pool, balanced_random.indices, balanced_random.bin_index),
        "random": _Side("random", run.random_pool, plain, plain_rows),
    }
    total = sum(len(side.indices) for side in sides.values())
    done = 0

    prompts = "; ".join(f"{m.positive} vs {m.negative}" for m in cfg.measures)
    header = [
        "file_name", "label", *[f"measure_{j}" for j in range(k)], *[f"bin_{j}" for j in range(k)],
        *[f"judge_{j}" for j in range(k)], "judge_clean", "judge_note", "objective", "prompts", "latent",
    ]
    csv_buf = io.StringIO()
    writer = csv.writer(csv_buf)
    writer.writerow(header)
    labels = selection.labels
    judged_words = judge.judgeable(pairs) if judge is not None else [False] * k

    with atomic_file(out) as f:
        with zipfile.ZipFile(f, "w") as zf:
            for side in sides.values():
                for start, chunk in zip(range(0, len(side.indices), RENDER_CHUNK), iter_render(generator, side.samples.z[side.indices])):
                    side.embeddings.append(embed_images(scorer, chunk))
                    verdicts = judge_images(judge, chunk, pairs) if judge is not None else None
                    if verdicts is not None:
                        side.verdicts.append(verdicts)
                    if side.name == "qd":
                        _write_chunk(zf, writer, chunk, start, side, labels, verdicts, judged_words, prompts)
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(done, total)
            reports = {
                name: _report(side, judge, judge_note, pairs, bins) for name, side in sides.items()
            }
            figures = {name: _figures(side, reports[name], ranges, bins, k) for name, side in sides.items()}
            card = dataset_card(
                run, selection=selection, n_images=n, requested=images, bins=bins, figures=figures,
                reports=reports, verified=verified,
            )
            counts = {
                "qd": selection.counts,
                "balanced_random": balanced_random.counts,
                "random": metrics.bin_counts(run.random_pool.measures[plain].reshape(-1, k), ranges, bins),
            }
            zf.writestr("train/metadata.csv", csv_buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr("density.png", density_png(counts, labels=run.labels, ranges=ranges))
            zf.writestr("README.md", card, compress_type=zipfile.ZIP_DEFLATED)
    logger.info("wrote %s: %d images, %d short bins", out, n, len(selection.short_bins))
    return ExportResult(
        path=out.resolve(),
        n_images=n,
        counts=selection.counts,
        short_bins=list(selection.short_bins),
        metrics=figures,
        judge=reports,
        card=card,
        requested=images,
        quality_threshold=selection.quality_threshold,
        verified=verified,
        rejected_by_judge=selection.rejected_by_judge,
    )


def _report(side: _Side, judge: Judge | None, note: str, pairs, bins: int) -> JudgeReport:
    if judge is None:
        return JudgeReport.unavailable(note)
    verdicts = Verdicts.concat(side.verdicts, num_pairs=len(pairs), judged=judge.judgeable(pairs))
    return judge_report(verdicts, side.bin_index, bins, judge=judge.name, label=lambda row: bin_label(row, bins))


def _write_chunk(zf, writer, chunk, start, side: _Side, labels, verdicts, judged, prompts) -> None:
    """PNGs of one rendered chunk of the export into the zip, and their metadata rows."""
    samples = side.samples
    for offset, image in enumerate(chunk):
        row = start + offset
        i = int(side.indices[row])
        label = labels[row]
        name = f"{label}/{i:06d}.png"
        zf.writestr(f"train/{name}", _png(image))
        if verdicts is not None:
            judge_cols = [_SIDE_WORDS[int(v)] if ok else "not judged" for v, ok in zip(verdicts.side[offset], judged)]
            clean, note = bool(verdicts.clean[offset]), str(verdicts.notes[offset])
        else:
            judge_cols, clean, note = ["not judged"] * len(judged), "", ""
        writer.writerow(
            [
                name,
                label,
                *[f"{v:.6f}" for v in samples.measures[i]],
                *[int(b) for b in side.bin_index[row]],
                *judge_cols,
                clean,
                note,
                f"{samples.objective[i]:.4f}",
                prompts,
                json.dumps([round(float(v), 6) for v in samples.z[i]]),
            ]
        )
