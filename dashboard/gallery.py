"""Images for the galleries: thumbnails of latents, the elite grid laid out by measure cell.

Rendering goes through :func:`core.batching.render_images` (the generator's ``render_final``,
chunked, no gradients); nothing here searches.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from core.batching import render_images

from .plots import cell_grid

__all__ = ["to_thumbnails", "elite_grid", "grid_image", "caption", "enlarge"]

THUMB_SIDE = 96  # pixels of a gallery thumbnail
GRID_TILE = 72  # pixels of one tile of the elite grid image
LARGE_SIDE = 320  # pixels of the selected-sample view
LABEL_FONT_SIZE = 18  # axis labels of the grid image


def to_thumbnails(images: torch.Tensor, *, side: int = THUMB_SIDE) -> np.ndarray:
    """(n, 3, H, W) images in [0, 1] -> (n, side, side, 3) uint8 thumbnails."""
    arr = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    out = np.zeros((len(arr), side, side, 3), dtype=np.uint8)
    for i, img in enumerate(arr):
        pil = Image.fromarray(img)
        resample = Image.Resampling.NEAREST if pil.width * 2 <= side else Image.Resampling.LANCZOS
        out[i] = np.asarray(pil.resize((side, side), resample))
    return out


def elite_grid(
    measures: np.ndarray,
    objective: np.ndarray,
    ranges: Sequence[tuple[float, float]],
    *,
    cells: int,
    axes: Sequence[int] = (0, 1),
) -> list[tuple[int, int, int]]:
    """Picks the best elite per coarse cell along two measures.

    Args:
        measures: (n, k) elite measures.
        objective: (n,) elite objective.
        ranges: k (low, high) ranges.
        cells: coarse cells per measure.
        axes: the two measures (one index with a single measure).

    Returns:
        (row, col, elite index) per filled coarse cell; row 0 is the top (high second measure).
    """
    measures = np.asarray(measures, dtype=float).reshape(len(measures), -1)
    if not len(measures):
        return []
    grid = cell_grid(measures, ranges, cells)
    best: dict[tuple[int, int], int] = {}
    for i in np.argsort(-np.asarray(objective, dtype=float)):
        col = int(grid[i, axes[0]])
        row = cells - 1 - int(grid[i, axes[1]]) if len(axes) > 1 and measures.shape[1] > 1 else 0
        best.setdefault((row, col), int(i))
    return [(r, c, i) for (r, c), i in sorted(best.items())]


def grid_image(tiles: np.ndarray, placement: list[tuple[int, int, int]], *, cells: int, rows: int, labels: Sequence[str]) -> Image.Image:
    """Composes tiles into one image laid out along the two measures.

    Args:
        tiles: (n, t, t, 3) uint8 tiles, one per entry of ``placement`` (same order).
        placement: (row, col, _) per tile.
        cells: columns of the grid.
        rows: rows of the grid (``cells`` for two measures, 1 for one).
        labels: measure names: x axis, then y axis.
    """
    t = tiles.shape[1] if len(tiles) else GRID_TILE
    gap, margin = 3, LABEL_FONT_SIZE + 14
    font = ImageFont.load_default(size=LABEL_FONT_SIZE)
    background, ink = (245, 245, 247), (55, 65, 81)
    width = margin + cells * (t + gap) + gap
    height = rows * (t + gap) + gap + margin
    img = Image.new("RGB", (width, height), background)
    for tile, (r, c, _) in zip(tiles, placement):
        img.paste(Image.fromarray(tile), (margin + gap + c * (t + gap), gap + r * (t + gap)))
    draw = ImageDraw.Draw(img)
    draw.text((margin + 4, height - margin + 6), f"{labels[0]}  -->", fill=ink, font=font)
    if len(labels) > 1 and rows > 1:
        y_label = Image.new("RGB", (height - margin, margin), background)
        ImageDraw.Draw(y_label).text((4, 6), f"{labels[1]}  -->", fill=ink, font=font)
        img.paste(y_label.rotate(90, expand=True), (0, 0))
    return img


def caption(*, measures: Sequence[float], labels: Sequence[str], objective: float) -> str:
    """Compact caption: 'colour +0.31 · shape -0.12 · q 0.42' (labels cut to 12 characters)."""
    short = lambda label: label if len(label) <= 12 else label[:11] + "…"  # noqa: E731
    parts = [f"{short(label)} {value:+.2f}" for label, value in zip(labels, measures)]
    return " · ".join(parts + [f"q {objective:.2f}"])


def enlarge(generator, z: np.ndarray, *, side: int = LARGE_SIDE) -> np.ndarray:
    """One latent rendered at export quality and shown ``side`` pixels wide: (side, side, 3) uint8."""
    return to_thumbnails(render_images(generator, np.asarray(z, dtype=np.float32).reshape(1, -1)), side=side)[0]
