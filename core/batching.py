"""Pushing many latents or images through a model: chunked, without gradients, memory-safe.

One helper each for the engine's bulk passes (galleries, exports, judging, baselines):
:func:`iter_render` yields rendered chunks so that callers can encode and drop them (peak
memory does not grow with the number of images), :func:`render_images` collects them, and
:func:`embed_images` embeds images in chunks. :class:`ChunkRunner` halves a chunk that runs
out of device memory and remembers the size that fitted.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator

import numpy as np
import torch

from .errors import InputError, QDGSError

__all__ = ["OutOfMemory", "is_out_of_memory", "ChunkRunner", "iter_render", "render_images", "embed_images", "RENDER_CHUNK"]

logger = logging.getLogger(__name__)

RENDER_CHUNK = 128  # latents rendered (or images embedded) per forward pass


class OutOfMemory(QDGSError):
    """The device ran out of memory even for a chunk of one sample."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device out-of-memory error (CUDA, or an allocator RuntimeError)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class ChunkRunner:
    """Runs a function over a batch in chunks, halving the chunk on out-of-memory.

    The chunk that last fitted is remembered, so the first call finds the size that fills
    the device and later calls start from it.

    Args:
        max_chunk: Largest chunk tried (the starting size).
        label: Name used in log lines and messages (e.g. ``"sd-turbo render"``).
    """

    def __init__(self, *, max_chunk: int, label: str) -> None:
        if max_chunk < 1:
            raise InputError("max_chunk", max_chunk, "a whole number >= 1")
        self.chunk = int(max_chunk)
        self.label = label

    def __call__(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """``fn`` applied to ``x`` (n, ...) chunk by chunk along dim 0, concatenated.

        Raises:
            OutOfMemory: even a chunk of one sample does not fit; the message says what to
                change.
        """
        if len(x) == 0:
            return fn(x)
        outs: list[torch.Tensor] = []
        start = 0
        while start < len(x):
            size = min(self.chunk, len(x) - start)
            try:
                outs.append(fn(x[start : start + size]))
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                del exc  # frees the failed chunk's tensors held by the traceback
                if x.is_cuda:
                    torch.cuda.empty_cache()
                if size == 1:
                    raise OutOfMemory(
                        f"{self.label}: out of memory on {x.device} even for one sample; "
                        "use a smaller resolution or another device"
                    ) from None
                self.chunk = max(1, size // 2)
                logger.warning("%s: out of memory at a chunk of %d; retrying with %d", self.label, size, self.chunk)
                continue
            start += size
        return torch.cat(outs)


def iter_render(generator, z: np.ndarray, *, chunk: int = RENDER_CHUNK) -> Iterator[torch.Tensor]:
    """Renders latents at export quality (``render_final``), one chunk at a time.

    Args:
        generator: A :class:`core.interfaces.Generator`.
        z: (n, latent_dim) latents.
        chunk: Latents per forward pass.

    Yields:
        (m, 3, H, W) float32 CPU tensors in [0, 1], in order, m <= chunk.
    """
    z = np.asarray(z, dtype=np.float32)
    if len(z) == 0:  # nothing to render (reshape could not infer the width of an empty array)
        return
    z = z.reshape(len(z), -1)
    for start in range(0, len(z), chunk):
        zc = torch.from_numpy(z[start : start + chunk]).to(generator.device)
        with torch.no_grad():
            yield generator.render_final(zc).clamp(0, 1).float().cpu()


def render_images(generator, z: np.ndarray, *, chunk: int = RENDER_CHUNK) -> torch.Tensor:
    """All of :func:`iter_render` as one (n, 3, H, W) tensor (an empty one for no latents)."""
    parts = list(iter_render(generator, z, chunk=chunk))
    if not parts:
        side = int(getattr(generator, "image_size", 1))
        return torch.zeros((0, 3, side, side))
    return torch.cat(parts)


def embed_images(scorer, images: torch.Tensor, *, chunk: int = RENDER_CHUNK) -> np.ndarray:
    """(n, D) float64 image embeddings from ``scorer.embed_images``, chunked, no gradients."""
    rows = []
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            rows.append(scorer.embed_images(images[start : start + chunk].to(scorer.device)).float().cpu())
    if not rows:
        return np.zeros((0, int(getattr(scorer, "embed_dim", 0))))
    return torch.cat(rows).double().numpy()
