"""The built-in shapes scorer: a small CLIP-like dual encoder over a closed vocabulary.

It reads colours, shapes, sizes and image-quality words (see :mod:`core.shapes.vocab`),
ignores filler words, and refuses a phrase with no word it knows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch

from ..errors import InputError
from ..interfaces import Scorer, split_alternatives
from . import vocab
from ._weights import SCORER_WEIGHTS, availability, config_from_meta, read_weights
from .models import DualEncoder, ScorerConfig

__all__ = ["ShapesScorer", "load_shapes_scorer", "scorer_available"]

_EXAMPLE_SYNONYMS = ("tiny", "big", "box", "round", "gray", "blob")


class ShapesScorer(Scorer):
    """Embeds images (any H, W) and phrases into one unit-norm space.

    Args:
        model: The trained :class:`DualEncoder`.
        metadata: Header metadata of the weight file.
        weights: Path the weights were read from.
        device: Torch device to run on.
    """

    name = "shapes"

    def __init__(self, *, model: DualEncoder, metadata: dict[str, str], weights: Path, device: torch.device) -> None:
        tokens = json.loads(metadata.get("tokens", "null"))
        if tokens is not None and tuple(tokens) != vocab.TOKENS:
            raise InputError("scorer weights", str(weights), "weights trained with this version's vocabulary (retrain the scorer)")
        self.device = device
        self.model = model.to(device).eval().requires_grad_(False)
        self.embed_dim = model.cfg.embed_dim
        self.metadata = metadata
        self.weights = weights

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Embeds images, differentiably.

        Args:
            images: Float tensor (n, 3, H, W) in [0, 1]; any H, W (resized to 64 internally).

        Returns:
            Float tensor (n, embed_dim), unit norm.

        Raises:
            InputError: ``images`` is not a (n, 3, H, W) tensor.
        """
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            shown = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise InputError("images", shown, "a float tensor of shape (n, 3, H, W) with values in [0, 1]")
        return self.model.embed_images(images.to(self.device, torch.float32))

    def check_prompt(self, prompt: str, field: str = "prompt") -> None:
        """Raises :class:`InputError` unless every ``|`` phrasing has a word the scorer knows."""
        super().check_prompt(prompt, field)
        for phrase in split_alternatives(prompt):
            if not vocab.tokenize(phrase):
                words = ", ".join(t for t in vocab.TOKENS if t != vocab.PAD)
                raise InputError(
                    field,
                    prompt,
                    f"each phrasing to hold a word the shapes scorer knows ({phrase!r} has none): {words}"
                    f"; synonyms such as {', '.join(_EXAMPLE_SYNONYMS)} are read as these",
                )

    def _embed_phrases(self, phrases: Sequence[str]) -> torch.Tensor:
        ids, mask = vocab.encode(list(phrases))
        return self.model.embed_tokens(torch.from_numpy(ids).to(self.device), torch.from_numpy(mask).to(self.device))

    def describe(self) -> dict:
        out = super().describe()
        out.update(weights=str(self.weights), train_config=json.loads(self.metadata.get("train_config", "null")))
        return out


def load_shapes_scorer(*, device: str | torch.device = "cpu", weights: str | Path | None = None) -> ShapesScorer:
    """Loads the shipped shapes scorer from safetensors.

    Args:
        device: Torch device, e.g. "cpu" or "cuda".
        weights: A .safetensors file written by ``python -m core.shapes.train scorer``;
            defaults to ``assets/shapes/scorer.safetensors``.

    Returns:
        A :class:`ShapesScorer`.

    Raises:
        WeightsNotFoundError: the weight file is missing (the message names the retrain command).
    """
    path = Path(weights) if weights is not None else SCORER_WEIGHTS
    tensors, meta = read_weights(path, kind="scorer")
    model = DualEncoder(config_from_meta(meta, ScorerConfig))
    model.load_state_dict(tensors)
    return ShapesScorer(model=model, metadata=meta, weights=path, device=torch.device(device))


def scorer_available() -> tuple[bool, str]:
    """Whether the shipped scorer weights are present (registry availability hook)."""
    return availability(SCORER_WEIGHTS, "scorer")
