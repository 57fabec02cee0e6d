"""Optional ZeroGPU support on Hugging Face Spaces.

When the ``spaces`` package is importable (it is on a Space), :func:`gpu_task` wraps a function
with ``spaces.GPU`` so a GPU is attached for the duration of the call; anywhere else it returns
the function unchanged. Functions wrapped here return or yield CPU data only (numpy arrays,
plain numbers, frozen dataclasses of those), as ZeroGPU requires.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Callable, TypeVar

import torch

__all__ = ["gpu_task", "ZERO_GPU", "default_device"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable)

ZERO_GPU = importlib.util.find_spec("spaces") is not None
GPU_SECONDS = 120  # longest GPU lease asked of ZeroGPU per search


def gpu_task(fn: F) -> F:
    """``spaces.GPU(duration=GPU_SECONDS)(fn)`` on a Space with ZeroGPU, else ``fn`` itself."""
    if not ZERO_GPU:
        return fn
    import spaces  # noqa: PLC0415 - only present on Hugging Face Spaces

    log.info("ZeroGPU: %s runs with a GPU attached", fn.__name__)
    return spaces.GPU(duration=GPU_SECONDS)(fn)


def default_device() -> str:
    """"cuda" when a GPU is usable (or ZeroGPU will attach one), else "cpu"."""
    return "cuda" if ZERO_GPU or torch.cuda.is_available() else "cpu"
