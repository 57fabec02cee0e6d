"""The two small interfaces every model implements: :class:`Generator` and :class:`Scorer`.

Any generator can be paired with any scorer. Both are plain ``torch`` code; neither knows about
search, the dashboard or files.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Sequence

import numpy as np
import torch

__all__ = ["Generator", "Scorer", "Judge", "Verdicts", "split_alternatives"]


class Generator(abc.ABC):
    """Maps latent vectors to images.

    Attributes:
        name: Registry name (e.g. ``"shapes"``).
        latent_dim: Dimension of z.
        image_size: Height and width of rendered images.
        device: Device the model runs on.
    """

    name: str = ""
    latent_dim: int
    image_size: int
    device: torch.device = torch.device("cpu")

    @abc.abstractmethod
    def sample_prior(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Draws ``n`` latents from the generator's own prior.

        This is what "random sampling of the generator" means everywhere in the product.

        Returns:
            Float tensor of shape (n, latent_dim) on ``self.device``.
        """

    @abc.abstractmethod
    def render(self, z: torch.Tensor) -> torch.Tensor:
        """Renders latents to images, differentiably in ``z``.

        Args:
            z: Float tensor of shape (n, latent_dim).

        Returns:
            Float tensor of shape (n, 3, image_size, image_size) with values in [0, 1].
        """

    def render_final(self, z: torch.Tensor) -> torch.Tensor:
        """Renders latents at export quality (e.g. the full VAE instead of a tiny decoder).

        Defaults to :meth:`render` without gradients.
        """
        with torch.no_grad():
            return self.render(z)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor | None:
        """Log density of ``z`` under the prior, shape (n,), differentiable; None if unknown.

        The search may use it to keep latents realistic.
        """
        return None

    def describe(self) -> dict:
        """A JSON-serialisable description recorded in run configs and dataset cards."""
        return {"name": self.name, "latent_dim": self.latent_dim, "image_size": self.image_size}


def split_alternatives(prompt: str) -> list[str]:
    """Splits a prompt on ``|`` into its alternative phrasings, dropping empty parts."""
    return [part.strip() for part in prompt.split("|") if part.strip()]


class Scorer(abc.ABC):
    """A text-image model: embeds images and texts into one space, unit-normalised.

    A prompt may hold several phrasings separated by ``|``; their embeddings are averaged
    and re-normalised. Subclasses implement :meth:`_embed_phrases` and
    :meth:`embed_images`.
    """

    name: str = ""
    embed_dim: int
    device: torch.device = torch.device("cpu")

    @abc.abstractmethod
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Embeds images, differentiably.

        Args:
            images: Float tensor (n, 3, H, W) in [0, 1]; any H, W (resized internally).

        Returns:
            Float tensor (n, embed_dim), each row of unit norm.
        """

    @abc.abstractmethod
    def _embed_phrases(self, phrases: Sequence[str]) -> torch.Tensor:
        """Embeds single phrases (no ``|``); returns (k, embed_dim), unit norm."""

    def check_prompt(self, prompt: str, field: str = "prompt") -> None:
        """Raises :class:`~core.errors.InputError` if this scorer cannot use ``prompt``."""
        from .errors import InputError

        if not isinstance(prompt, str) or not split_alternatives(prompt):
            raise InputError(field, prompt, "a non-empty text such as 'a red shape'")

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeds prompts; ``|``-separated phrasings of one prompt are averaged.

        Returns:
            Float tensor (len(texts), embed_dim), each row of unit norm.

        Raises:
            InputError: a prompt is empty or (for scorers with a closed vocabulary) has no
                word the scorer knows.
        """
        rows = []
        for i, text in enumerate(texts):
            self.check_prompt(text, field=f"prompt {i + 1}")
            phrases = split_alternatives(text)
            emb = self._embed_phrases(phrases).mean(dim=0)
            rows.append(torch.nn.functional.normalize(emb, dim=-1))
        return torch.stack(rows)

    def describe(self) -> dict:
        """A JSON-serialisable description recorded in run configs and dataset cards."""
        return {"name": self.name, "embed_dim": self.embed_dim}


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """A judge's reading of n images against k prompt pairs.

    Attributes:
        side: (n, k) int8: +1 the image is on the positive side of pair j, -1 on the
            negative side, 0 neither (or not judged).
        confidence: (n, k) how sure the judge is of ``side``, 0..1.
        clean: (n,) bool: the image shows one clean subject (no hybrid, blob, several
            subjects, blur).
        judged: k bools: whether the judge can check pair j at all.
        notes: (n,) short text per image: what the judge saw, or why it is not clean.
    """

    side: np.ndarray
    confidence: np.ndarray
    clean: np.ndarray
    judged: list[bool]
    notes: np.ndarray

    def __len__(self) -> int:
        return len(self.clean)

    @classmethod
    def concat(cls, parts: Sequence["Verdicts"], *, num_pairs: int, judged: Sequence[bool]) -> "Verdicts":
        """Verdicts of several image batches, in order."""
        if not parts:
            return cls(
                np.zeros((0, num_pairs), np.int8), np.zeros((0, num_pairs)), np.zeros(0, bool), list(judged), np.zeros(0, object)
            )
        return cls(
            np.concatenate([p.side for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.clean for p in parts]),
            list(parts[0].judged),
            np.concatenate([p.notes for p in parts]),
        )


class Judge(abc.ABC):
    """Says which side of each prompt pair images are on, independently of the search.

    A judge is never used by the search: it checks, after the fact, whether images show what
    the scorer's measures claim, so it can catch images that fool the scorer. It must share
    no model with the search's scorer.
    """

    name: str = ""

    def judgeable(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """Whether each (positive, negative) pair can be judged (default: all)."""
        return [True] * len(pairs)

    @abc.abstractmethod
    def judge(self, images: torch.Tensor, pairs: Sequence[tuple[str, str]]) -> Verdicts:
        """Judges images (n, 3, H, W) in [0, 1] against (positive, negative) prompt pairs."""

    def describe(self) -> dict:
        """A JSON-serialisable description recorded in summaries and dataset cards."""
        return {"name": self.name}
