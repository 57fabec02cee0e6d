"""Device, precision and out-of-memory handling shared by the real models.

- :func:`resolve_device` turns ``"auto"`` into CUDA when a GPU is visible, else the CPU, and
  rejects a device this machine does not have with a message that says what would work.
- :func:`resolve_dtype` picks bfloat16 on a GPU that supports it (float16 otherwise) and
  float32 on the CPU, where half precision is slow and less accurate.
- :class:`ChunkRunner` pushes a batch through a function in chunks that fill the GPU: it
  starts large, halves the chunk on ``torch.cuda.OutOfMemoryError``, logs it, retries, and
  remembers the size that fitted for the next call.
"""

from __future__ import annotations

import logging

import torch

from ..batching import ChunkRunner, OutOfMemory, is_out_of_memory  # noqa: F401 - re-exported
from ..errors import InputError

__all__ = [
    "DTYPES",
    "GRADIENT_FREE_HINT",
    "ChunkRunner",
    "OutOfMemory",
    "is_out_of_memory",
    "resolve_device",
    "resolve_dtype",
]

logger = logging.getLogger(__name__)

# Names accepted for ``precision`` options, and the dtype each stands for.
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}
GRADIENT_FREE_HINT = (
    "choose a gradient-free algorithm (cma-mae, cma-me or map-elites) or a smaller batch_size"
)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device to run on.

    Args:
        device: ``"auto"`` (CUDA when visible, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:N"`` or ``"mps"``, or a ``torch.device``.

    Raises:
        InputError: the text is no device name, or names a device this machine lacks.
    """
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise InputError("device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError("device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError("device", device, "'cpu' or 'auto' (no CUDA device is visible on this machine)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError("device", device, f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise InputError("device", device, "'cpu' or 'auto' (MPS is not available on this machine)")
    elif dev.type != "cpu":
        raise InputError("device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    return dev


def resolve_dtype(device: torch.device, precision: str | None = "auto") -> torch.dtype:
    """The floating-point type for model weights on ``device``.

    Args:
        device: Where the model runs.
        precision: ``"auto"`` / None (bfloat16 on a GPU that supports it, else float16 on a
            GPU; float32 on CPU and MPS), or one of :data:`DTYPES`.

    Raises:
        InputError: unknown precision name, or half precision asked for on the CPU.
    """
    if precision is None or precision == "auto":
        if device.type == "cuda":
            native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)  # Ampere and newer
            return torch.bfloat16 if native_bf16 else torch.float16
        return torch.float32
    if precision not in DTYPES:
        raise InputError("precision", precision, "'auto' or one of " + ", ".join(DTYPES))
    dtype = DTYPES[precision]
    if device.type == "cpu" and dtype == torch.float16:
        raise InputError("precision", precision, "'fp32' or 'bf16' on the CPU (float16 kernels are missing there)")
    return dtype


