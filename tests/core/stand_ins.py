"""Tiny stand-in models for the engine's tests: fast, deterministic, no weights.

The stand-in world mimics the shapes world's structure at a fraction of the cost:

- :class:`StandInGenerator` decodes z (8 dims) through a fixed linear map to 16x16 colour
  images. z[0] pushes the image towards red, z[1] towards blue, z[2] makes the top half
  brighter than the bottom ("triangle") or the reverse ("square"). Its prior is a
  two-component Gaussian mixture that is *biased*: red goes with "triangle" and blue with
  "square", so random sampling under-covers red squares and blue triangles.
- :class:`StandInScorer` embeds an image as a fixed projection of colour statistics and
  a text as the sum of known word vectors; unknown content words raise ``InputError``.
- :class:`StandInJudge` reads the same statistics straight off the pixels (red minus blue,
  top minus bottom) with a margin, so images near the middle are "neither"; an image whose
  mean is almost white is not a clean subject.

``register()`` adds all three to the registry under the name ``"stand-in"``.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import torch

import numpy as np

from core.config import PromptPair
from core.errors import InputError
from core.interfaces import Generator, Judge, Scorer, Verdicts, split_alternatives
from core.registry import GeneratorDefaults, register_generator, register_judge, register_scorer

NAME = "stand-in"
LATENT_DIM = 8
IMAGE_SIZE = 16
EMBED_DIM = 6  # [red, green, blue, top-minus-bottom, contrast, constant]
MIXTURE_MEANS = ((1.2, -1.2, 1.2), (-1.2, 1.2, -1.2))  # (z0, z1, z2) of the two modes
MIXTURE_STD = 0.6

# Word vectors in the stand-in embedding basis.
WORDS: dict[str, tuple[float, ...]] = {
    "red": (1, 0, 0, 0, 0, 0),
    "green": (0, 1, 0, 0, 0, 0),
    "blue": (0, 0, 1, 0, 0, 0),
    "triangle": (0, 0, 0, 1, 0, 0),
    "square": (0, 0, 0, -1, 0, 0),
    "clean": (0, 0, 0, 0, 1, 0),
    "sharp": (0, 0, 0, 0, 1, 0),
    "smudge": (0, 0, 0, 0, -1, 0),
    "blurry": (0, 0, 0, 0, -1, 0),
}
FILLER = {"a", "an", "the", "one", "shape", "with", "of", "photo", "image", "single", "edges", "several"}


class StandInGenerator(Generator):
    """z (n, 8) -> images (n, 3, 16, 16) through a fixed linear map and a sigmoid."""

    name = NAME
    latent_dim = LATENT_DIM
    image_size = IMAGE_SIZE

    def __init__(self, *, device: str = "cpu") -> None:
        self.device = torch.device(device)
        s = IMAGE_SIZE
        g = torch.Generator().manual_seed(1234)
        weight = 0.05 * torch.randn(3, s, s, LATENT_DIM, generator=g)  # texture from all dims
        rows = torch.linspace(1.0, -1.0, s).view(s, 1).expand(s, s)  # +1 at the top
        weight[0, :, :, 0] += 1.0  # z0: red channel
        weight[2, :, :, 1] += 1.0  # z1: blue channel
        weight[:, :, :, 2] += 0.8 * rows  # z2: top brighter than bottom
        self.weight = weight.reshape(3 * s * s, LATENT_DIM).to(self.device)
        self.bias = torch.full((3 * s * s,), -0.5, device=self.device)
        means = torch.zeros(2, LATENT_DIM)
        means[:, :3] = torch.tensor(MIXTURE_MEANS)
        self.means = means.to(self.device)

    def sample_prior(self, n: int, seed: int | None = None) -> torch.Tensor:
        g = torch.Generator().manual_seed(0 if seed is None else int(seed))
        comp = torch.randint(0, 2, (n,), generator=g)
        z = self.means.cpu()[comp] + MIXTURE_STD * torch.randn(n, LATENT_DIM, generator=g)
        return z.to(self.device)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.sigmoid(z @ self.weight.T + self.bias)  # (n, 3*16*16)
        return x.view(-1, 3, IMAGE_SIZE, IMAGE_SIZE)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        d = LATENT_DIM
        sq = ((z[:, None, :] - self.means[None]) ** 2).sum(-1)  # (n, 2)
        log_norm = -0.5 * d * math.log(2 * math.pi * MIXTURE_STD**2)
        return torch.logsumexp(log_norm - 0.5 * sq / MIXTURE_STD**2, dim=1) - math.log(2)


class StandInScorer(Scorer):
    """Embeds colour statistics of images and known words of texts into 6 dims."""

    name = NAME
    embed_dim = EMBED_DIM

    def __init__(self, *, device: str = "cpu") -> None:
        self.device = torch.device(device)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        h = images.shape[-2]
        mean = images.mean(dim=(2, 3))  # (n, 3)
        top = images[:, :, : h // 2].mean(dim=(1, 2, 3))
        bottom = images[:, :, h // 2 :].mean(dim=(1, 2, 3))
        contrast = images.std(dim=(2, 3)).mean(dim=1)
        feats = torch.cat(
            [mean - 0.5, (top - bottom)[:, None], (contrast - 0.1)[:, None], torch.full_like(top, 0.3)[:, None]],
            dim=1,
        )
        return torch.nn.functional.normalize(feats, dim=-1)

    def _words(self, phrase: str) -> list[str]:
        return re.findall(r"[a-z]+", phrase.lower())

    def check_prompt(self, prompt: str, field: str = "prompt") -> None:
        super().check_prompt(prompt, field)
        for phrase in split_alternatives(prompt):
            words = self._words(phrase)
            unknown = [w for w in words if w not in WORDS and w not in FILLER]
            if unknown or not any(w in WORDS for w in words):
                raise InputError(field, prompt, "words the stand-in scorer knows: " + ", ".join(sorted(WORDS)))

    def _embed_phrases(self, phrases: Sequence[str]) -> torch.Tensor:
        rows = []
        for phrase in phrases:
            v = torch.tensor([0, 0, 0, 0, 0, 0.3])
            for w in self._words(phrase):
                if w in WORDS:
                    v = v + torch.tensor(WORDS[w], dtype=torch.float32)
            rows.append(v)
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1).to(self.device)


JUDGE_MARGIN = 0.05  # |statistic| below this is "neither"
JUDGE_STATISTICS = {"red": (0, 1), "blue": (0, -1), "triangle": (1, 1), "square": (1, -1)}  # word -> (statistic, sign)


class StandInJudge(Judge):
    """Reads red-minus-blue and top-minus-bottom off the pixels; never used by the search."""

    name = NAME

    def _word(self, prompt: str) -> str | None:
        words = [w for w in re.findall(r"[a-z]+", prompt.lower()) if w in JUDGE_STATISTICS]
        return words[0] if words else None

    def judgeable(self, pairs):
        return [self._word(p) is not None and self._word(n) is not None for p, n in pairs]

    def judge(self, images, pairs):
        h = images.shape[-2]
        stats = torch.stack(
            [images[:, 0].mean(dim=(1, 2)) - images[:, 2].mean(dim=(1, 2)),
             images[:, :, : h // 2].mean(dim=(1, 2, 3)) - images[:, :, h // 2 :].mean(dim=(1, 2, 3))],
            dim=1,
        ).numpy()  # (n, 2)
        judged = self.judgeable(pairs)
        side = np.zeros((len(images), len(pairs)), dtype=np.int8)
        for j, (pos, _) in enumerate(pairs):
            if judged[j]:
                stat, sign = JUDGE_STATISTICS[self._word(pos)]
                value = sign * stats[:, stat]
                side[:, j] = np.where(value > JUDGE_MARGIN, 1, np.where(value < -JUDGE_MARGIN, -1, 0))
        clean = images.mean(dim=(1, 2, 3)).numpy() < 0.95
        notes = np.array(["clean" if c else "no subject" for c in clean], dtype=object)
        return Verdicts(side=side, confidence=np.abs(side).astype(float), clean=clean, judged=judged, notes=notes)


def load_stand_in_judge(**_) -> StandInJudge:
    return StandInJudge()


def load_stand_in_generator(**kwargs) -> StandInGenerator:
    return StandInGenerator(**kwargs)


def load_stand_in_scorer(**kwargs) -> StandInScorer:
    return StandInScorer(**kwargs)


def load_client_only_generator(**kwargs) -> StandInGenerator:
    """The stand-in generator, except inside a Dask worker, where its "weights" are missing
    (a cluster machine without a model's weights)."""
    try:
        from distributed.worker import Worker
    except ImportError:
        return StandInGenerator(**kwargs)
    if not Worker._instances:  # no Dask worker lives in this process
        return StandInGenerator(**kwargs)
    from core.errors import WeightsNotFoundError

    raise WeightsNotFoundError("stand-in weights are not on this worker")


def register() -> None:
    """Registers the stand-ins under ``"stand-in"`` (idempotent)."""
    register_generator(
        NAME,
        "tests.core.stand_ins:load_stand_in_generator",
        "Test stand-in generator",
        defaults=GeneratorDefaults(objective=PromptPair("a clean shape", "a smudge", label="quality"), algorithm="cma-maega", judge=NAME),
    )
    register_scorer(NAME, "tests.core.stand_ins:load_stand_in_scorer", "Test stand-in scorer")
    register_judge(NAME, "tests.core.stand_ins:load_stand_in_judge", "Test stand-in judge")
