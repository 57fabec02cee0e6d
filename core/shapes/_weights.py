"""Reading the shipped safetensors weight files (tensors plus JSON metadata in the header)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import WeightsNotFoundError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "shapes"
GENERATOR_WEIGHTS = ASSETS / "generator.safetensors"
SCORER_WEIGHTS = ASSETS / "scorer.safetensors"
RETRAIN = {
    "generator": "python -m core.shapes.train generator",
    "scorer": "python -m core.shapes.train scorer",
}


def read_weights(path: Path, *, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and header metadata of a shapes-world weight file.

    Args:
        path: The .safetensors file.
        kind: "generator" or "scorer" (named in the error message).

    Raises:
        WeightsNotFoundError: the file does not exist, naming the retrain command.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(
            f"shapes {kind} weights not found at {path}; regenerate them with: {RETRAIN[kind]}"
            + ("" if path.parent == ASSETS else f" --out {path.parent}")
        )
    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    return tensors, meta


def config_from_meta(meta: dict[str, str], cls: type) -> object:
    """Rebuilds a config dataclass from the JSON stored under ``model_config``."""
    raw = json.loads(meta["model_config"])
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def availability(path: Path, kind: str) -> tuple[bool, str]:
    """(True, "") if the weight file exists, else (False, a reason naming the retrain command)."""
    if Path(path).is_file():
        return True, ""
    return False, f"weights not found at {path}; run: {RETRAIN[kind]}"
