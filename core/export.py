"""Balanced dataset export: N images drawn evenly across measure bins, as a zip.

The zip loads directly as a Hugging Face ``imagefolder`` dataset and as a torchvision
``ImageFolder``::

    README.md              dataset card (prompts, models, settings, metrics vs random)
    density.png            counts per bin: this export vs a random export of the same size
    train/metadata.csv     file_name, label, measure_*, bin_*, objective, prompts, latent
    train/<bin>/<id>.png   one folder per measure bin, e.g. train/b03_07/000123.png

``file_name`` is relative to the folder of ``metadata.csv`` (the imagefolder rule).

How images are chosen: pool samples whose objective is at least the quality threshold are
binned on a grid of ``bins`` per measure over the run's measure ranges. Within a bin,
candidates are taken best objective first, skipping any within ``min_distance`` (latent
space) of one already taken, so near-duplicates are not exported twice. Each bin then
gets an even share of ``images`` (:func:`core.metrics.balanced_counts`): a bin with fewer
distinct samples than the even share gives what it has and is *reported* in
``short_bins`` and the card; it is never padded with copies or with samples from
elsewhere. The other bins share the remainder evenly.

The random export it is compared with is what plain random sampling gives: the first
samples of the random baseline that pass the same quality threshold, as many as were
exported.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import metrics
from .errors import InputError
from .interfaces import Generator, Scorer
from .markdown import escape_markdown
from .runs import Run

__all__ = [
    "ExportResult",
    "export_balanced",
    "select_balanced",
    "Selection",
    "DEFAULT_QUALITY_PERCENTILE",
    "DEDUP_FRACTION",
    "MAX_BINS_TOTAL",
]

logger = logging.getLogger(__name__)

DEFAULT_QUALITY_PERCENTILE = 10.0  # default threshold: this percentile of the random baseline's objective
DEDUP_FRACTION = 0.1  # near-duplicate latent distance, x prior std x sqrt(latent_dim)
MAX_BINS_TOTAL = 100_000  # bins ** measures above this is refused
RENDER_CHUNK = 128  # latents rendered at once
SHOWN_SHORT_BINS = 50  # short bins listed by name in the card (all are in ExportResult)


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which pool samples a balanced export takes.

    Attributes:
        indices: (n,) pool indices, grouped by bin.
        bin_index: (n, k) bin of each chosen sample.
        counts: Chosen per bin, shape (bins,) * k.
        available: Distinct candidates per bin, same shape.
        short_bins: Labels of bins holding fewer distinct candidates than the even share.
        even_share: ``ceil(images / bins**k)``.
        quality_threshold: Threshold applied.
        min_distance: Near-duplicate distance applied.
    """

    indices: np.ndarray
    bin_index: np.ndarray
    counts: np.ndarray
    available: np.ndarray
    short_bins: list[str]
    even_share: int
    quality_threshold: float
    min_distance: float


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What :func:`export_balanced` wrote.

    Attributes:
        path: The zip file.
        n_images: Images written (fewer than requested if the pool ran short).
        counts: Images per bin, shape (bins,) * k.
        short_bins: Labels of bins that had fewer distinct samples than the even share.
        metrics: ``{"qd": {...}, "random": {...}}``, figures of this export and of a random
            export of the same size (coverage, uniformity, kl_from_uniform, vendi,
            pure_diversity, mean_objective over the export bins).
        card: The dataset card (README.md) text.
        requested: Images asked for.
        quality_threshold: Threshold applied.
    """

    path: Path
    n_images: int
    counts: np.ndarray
    short_bins: list[str]
    metrics: dict
    card: str
    requested: int = 0
    quality_threshold: float = float("nan")


def bin_label(index: tuple[int, ...] | np.ndarray, bins: int) -> str:
    """Folder name of a bin, e.g. ``b03_07`` (bin 3 of measure 0, bin 7 of measure 1)."""
    width = len(str(bins - 1))
    return "b" + "_".join(str(int(i)).zfill(width) for i in index)


def _check_int(field: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"between {low} and {high}"
        raise InputError(field, value, f"a whole number {rng}")
    return int(value)


def default_quality_threshold(run: Run) -> float:
    """The default threshold: :data:`DEFAULT_QUALITY_PERCENTILE` of the random baseline's objective."""
    return float(np.percentile(run.random_pool.objective, DEFAULT_QUALITY_PERCENTILE))


def select_balanced(
    run: Run,
    *,
    images: int,
    bins: int,
    quality_threshold: float | None = None,
    min_distance: float | None = None,
) -> Selection:
    """Chooses pool samples for a balanced export (no rendering). See the module docstring.

    Args:
        run: The run.
        images: Images wanted.
        bins: Bins per measure.
        quality_threshold: Minimum objective; None = :func:`default_quality_threshold`.
        min_distance: Near-duplicate latent distance; None = :data:`DEDUP_FRACTION` x prior
            std x sqrt(latent_dim).

    Raises:
        InputError: bad ``images`` or ``bins``.
    """
    images = _check_int("images", images, 1)
    k = len(run.measure_ranges)
    bins = _check_int("bins", bins, 1, max(1, int(MAX_BINS_TOTAL ** (1.0 / k))))
    if quality_threshold is None:
        quality_threshold = default_quality_threshold(run)
    if not isinstance(quality_threshold, (int, float)) or math.isnan(quality_threshold) or quality_threshold == math.inf:
        raise InputError("quality", quality_threshold, "a number (objective units), or -inf for no threshold")
    pool = run.pool
    d = pool.z.shape[1]
    if min_distance is None:
        min_distance = DEDUP_FRACTION * run.calibration.prior_std * math.sqrt(d)

    ok = np.flatnonzero(pool.objective >= quality_threshold)
    idx_all = metrics.bin_indices(pool.measures[ok], run.measure_ranges, bins)  # (m, k)
    flat = np.ravel_multi_index(tuple(idx_all.T), (bins,) * k) if len(ok) else np.zeros(0, int)
    n_bins = bins**k
    even = math.ceil(images / n_bins)

    # Distinct candidates per bin, best objective first (at most `images` per bin).
    order = np.lexsort((-pool.objective[ok], flat))  # by bin, then objective descending
    distinct: dict[int, list[int]] = {}
    for pos in order:
        b = int(flat[pos])
        chosen = distinct.setdefault(b, [])
        if len(chosen) >= images:
            continue
        i = int(ok[pos])
        if chosen and np.min(np.linalg.norm(pool.z[chosen] - pool.z[i], axis=1)) < min_distance:
            continue
        chosen.append(i)

    available = np.zeros(n_bins, dtype=np.int64)
    for b, chosen in distinct.items():
        available[b] = len(chosen)
    take = metrics.balanced_counts(available, images)
    indices = [i for b in range(n_bins) if take[b] for i in distinct[b][: take[b]]]
    short = [bin_label(np.unravel_index(b, (bins,) * k), bins) for b in np.flatnonzero(available < even)]
    indices = np.asarray(indices, dtype=np.int64)
    bin_index = metrics.bin_indices(pool.measures[indices], run.measure_ranges, bins) if len(indices) else np.zeros((0, k), int)
    return Selection(
        indices=indices,
        bin_index=bin_index,
        counts=take.reshape((bins,) * k),
        available=available.reshape((bins,) * k),
        short_bins=short,
        even_share=even,
        quality_threshold=float(quality_threshold),
        min_distance=float(min_distance),
    )


def _render(generator: Generator, z: np.ndarray, on_chunk: Callable[[int], None] | None = None) -> torch.Tensor:
    """(n, d) latents -> (n, 3, H, W) float images in [0, 1] via ``render_final``."""
    out = []
    for start in range(0, len(z), RENDER_CHUNK):
        zc = torch.as_tensor(z[start : start + RENDER_CHUNK], dtype=torch.float32, device=generator.device)
        with torch.no_grad():
            out.append(generator.render_final(zc).clamp(0, 1).cpu())
        if on_chunk is not None:
            on_chunk(len(zc))
    if not out:
        return torch.zeros(0, 3, generator.image_size, generator.image_size)
    return torch.cat(out)


def _embed(scorer: Scorer, images: torch.Tensor) -> np.ndarray:
    rows = []
    with torch.no_grad():
        for start in range(0, len(images), RENDER_CHUNK):
            rows.append(scorer.embed_images(images[start : start + RENDER_CHUNK].to(scorer.device)).cpu())
    return torch.cat(rows).double().numpy()


def _png(image: torch.Tensor) -> bytes:
    from PIL import Image

    arr = (image.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)  # (H, W, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _side_metrics(measures: np.ndarray, objective: np.ndarray, emb: np.ndarray | None, ranges, bins: int) -> dict:
    counts = metrics.bin_counts(measures, ranges, bins)
    return {
        "images": int(len(objective)),
        "coverage": metrics.coverage(counts),
        "uniformity": metrics.normalized_entropy(counts),
        "kl_from_uniform": metrics.kl_from_uniform(counts),
        "vendi": metrics.vendi_score(emb) if emb is not None and len(emb) else 0.0,
        "pure_diversity": metrics.pure_diversity(emb) if emb is not None and len(emb) else 0.0,
        "mean_objective": metrics.mean_objective(objective),
    }


def density_png(qd_counts: np.ndarray, random_counts: np.ndarray, *, labels: list[str], ranges) -> bytes:
    """Side-by-side heatmaps of images per bin (first two measures; others summed out).

    With one measure, side-by-side bar charts.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def two_d(c: np.ndarray) -> np.ndarray:
        return c.sum(axis=tuple(range(2, c.ndim))) if c.ndim > 2 else c

    fig = Figure(figsize=(10, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    vmax = max(1, int(max(two_d(qd_counts).max(), two_d(random_counts).max())))
    for ax, counts, title in ((axes[0], qd_counts, "QD export"), (axes[1], random_counts, "Random sampling, same size")):
        if counts.ndim == 1:
            lo, hi = ranges[0]
            edges = np.linspace(lo, hi, len(counts) + 1)
            ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4c72b0")
            ax.set_ylim(0, vmax * 1.05)
            ax.set_xlabel(labels[0], parse_math=False)  # typed labels are text, never mathtext
            ax.set_ylabel("images")
        else:
            grid = two_d(counts)
            (x0, x1), (y0, y1) = ranges[0], ranges[1]
            im = ax.imshow(grid.T, origin="lower", extent=(x0, x1, y0, y1), aspect="auto", cmap="magma", vmin=0, vmax=vmax)
            ax.set_xlabel(labels[0], parse_math=False)
            ax.set_ylabel(labels[1], parse_math=False)
            fig.colorbar(im, ax=ax, label="images per bin")
        ax.set_title(f"{title} (n={int(counts.sum())})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def dataset_card(
    run: Run, *, selection: Selection, n_images: int, requested: int, bins: int, figures: dict
) -> str:
    """The dataset card (README.md) of an export; typed text (prompts, labels) is Markdown-escaped."""
    cfg = run.config
    s = run.summary
    md = escape_markdown
    measures = "\n".join(
        f"| `measure_{j}` | {md(m.display_label())} | {md(m.positive)} | {md(m.negative)} | {lo:.4f} .. {hi:.4f} |"
        for j, (m, (lo, hi)) in enumerate(zip(cfg.measures, run.measure_ranges))
    )
    obj = cfg.resolved_objective()
    rows = "\n".join(
        f"| {name} | {_fmt(figures['qd'][name])} | {_fmt(figures['random'][name])} |"
        for name in ("images", "coverage", "uniformity", "kl_from_uniform", "vendi", "pure_diversity", "mean_objective")
    )
    short = selection.short_bins
    if short:
        listed = ", ".join(short[:SHOWN_SHORT_BINS]) + (" ..." if len(short) > SHOWN_SHORT_BINS else "")
        short_text = (
            f"{len(short)} of {bins ** len(cfg.measures)} bins had fewer than {selection.even_share} distinct "
            f"samples above the quality threshold (the even share); they hold what was found and are not "
            f"padded: {listed}"
        )
    else:
        short_text = "None: every bin had at least the even share."
    return f"""# Balanced synthetic image dataset (QDGS Studio)

{n_images} images ({requested} requested) drawn evenly across {bins} bins per measure
({bins ** len(cfg.measures)} bins) from a quality-diversity search, with the figures of plain
random sampling of the same generator beside them.

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
- Algorithm: {cfg.algorithm} (pyribs), seed {cfg.seed}, {s.get("evaluations")} evaluations
  (budget {cfg.evaluations}), archive {cfg.archive_resolution} cells per measure.
- Random baseline: the same number of latents drawn from the generator's prior, scored the same way.
- Near-duplicates: within a bin, samples closer than {selection.min_distance:.4f} in latent space
  to one already taken are skipped.

## This export versus random sampling of the same size

Over the {bins}-per-measure export bins; uniformity = normalised Shannon entropy of images per
bin (1 = perfectly even); KL from uniform in nats; Vendi score and pure diversity of the scorer's
image embeddings.

| metric | this export | random sampling |
|---|---|---|
{rows}

Bins short of samples: {short_text}

`density.png` shows the images per bin of both.

## Files and loading

- `train/<bin>/<id>.png`: images, one folder per bin (`b<i>_<j>`: bin i of measure 0, bin j of measure 1).
- `train/metadata.csv`: `file_name`, `label` (the bin), `measure_*`, `bin_*`, `objective`, `prompts`, `latent` (JSON list).

```python
from datasets import load_dataset
ds = load_dataset("imagefolder", data_dir="<unzipped folder>")
from torchvision.datasets import ImageFolder
folder = ImageFolder("<unzipped folder>/train")
```

Made with QDGS Studio; method: Quality-Diversity Generative Sampling (Chang et al., AAAI 2024).
"""


def export_balanced(
    run: Run | str | os.PathLike,
    *,
    images: int,
    bins: int,
    quality_threshold: float | None = None,
    out: str | os.PathLike,
    generator: Generator | None = None,
    scorer: Scorer | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    min_distance: float | None = None,
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
        on_progress: Called as ``on_progress(done, total)`` while images are rendered.
        min_distance: Near-duplicate latent distance (see :func:`select_balanced`).

    Returns:
        An :class:`ExportResult`.

    Raises:
        InputError: bad ``images``, ``bins``, ``quality_threshold`` (also one no sample
            passes) or ``out``; a run directory that is not a finished run.
    """
    if not isinstance(run, Run):
        run = Run.open(run)
    out = Path(out).expanduser()
    if out.suffix.lower() != ".zip":
        raise InputError("out", str(out), "a file name ending in .zip")
    if not out.parent.is_dir():
        raise InputError("out", str(out), "a path in an existing folder")
    selection = select_balanced(
        run, images=images, bins=bins, quality_threshold=quality_threshold, min_distance=min_distance
    )
    if not len(selection.indices):
        best = float(np.max(run.pool.objective)) if len(run.pool) else float("nan")
        raise InputError(
            "quality", selection.quality_threshold, f"a threshold some samples pass (the best objective of this run is {best:.3f})"
        )
    if generator is None or scorer is None:
        from .models import get_generator, get_scorer

        cfg = run.config
        generator = generator or get_generator(cfg.generator, options=cfg.generator_options, device=cfg.device)
        scorer = scorer or get_scorer(cfg.scorer, options=cfg.scorer_options, device=cfg.device)

    pool = run.pool
    n = len(selection.indices)
    rnd_ok = np.flatnonzero(run.random_pool.objective >= selection.quality_threshold)[:n]
    total = n + len(rnd_ok)
    done = [0]

    def tick(k: int) -> None:
        done[0] += k
        if on_progress is not None:
            on_progress(done[0], total)

    qd_images = _render(generator, pool.z[selection.indices], tick)
    rnd_images = _render(generator, run.random_pool.z[rnd_ok], tick)
    qd_emb = _embed(scorer, qd_images) if n else None
    rnd_emb = _embed(scorer, rnd_images) if len(rnd_ok) else None
    ranges = run.measure_ranges
    figures = {
        "qd": _side_metrics(pool.measures[selection.indices], pool.objective[selection.indices], qd_emb, ranges, bins),
        "random": _side_metrics(
            run.random_pool.measures[rnd_ok], run.random_pool.objective[rnd_ok], rnd_emb, ranges, bins
        ),
    }
    card = dataset_card(run, selection=selection, n_images=n, requested=images, bins=bins, figures=figures)
    random_counts = metrics.bin_counts(run.random_pool.measures[rnd_ok], ranges, bins)
    density = density_png(selection.counts, random_counts, labels=run.labels, ranges=ranges)

    # metadata.csv rows
    k = len(ranges)
    prompts = "; ".join(f"{m.positive} vs {m.negative}" for m in run.config.measures)
    header = ["file_name", "label", *[f"measure_{j}" for j in range(k)], *[f"bin_{j}" for j in range(k)], "objective", "prompts", "latent"]
    csv_buf = io.StringIO()
    writer = csv.writer(csv_buf)
    writer.writerow(header)
    members = []
    for row, i in enumerate(selection.indices):
        label = bin_label(selection.bin_index[row], bins)
        name = f"{label}/{int(i):06d}.png"
        members.append((f"train/{name}", qd_images[row]))
        writer.writerow(
            [
                name,
                label,
                *[f"{v:.6f}" for v in pool.measures[i]],
                *[int(b) for b in selection.bin_index[row]],
                f"{pool.objective[i]:.4f}",
                prompts,
                json.dumps([round(float(v), 6) for v in pool.z[i]]),
            ]
        )

    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w") as zf:
            zf.writestr("README.md", card, compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr("density.png", density)
            zf.writestr("train/metadata.csv", csv_buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
            for arcname, image in members:
                zf.writestr(arcname, _png(image))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %s: %d images, %d short bins", out, n, len(selection.short_bins))
    return ExportResult(
        path=out.resolve(),
        n_images=n,
        counts=selection.counts,
        short_bins=list(selection.short_bins),
        metrics=figures,
        card=card,
        requested=images,
        quality_threshold=selection.quality_threshold,
    )
