"""A second open_clip model as the independent :class:`~core.interfaces.Judge` of real-model runs.

The search's scorer and its judge must not share a model, or the judge would be fooled by
the same images. By default the judge is another architecture trained on another run
(``ViT-B-16``, LAION-2B ``laion2b_s34b_b88k``, against the scorer's ``ViT-B-32`` /
``laion2b_s34b_b79k``); any cached open_clip model can be chosen. It reads each prompt pair
zero-shot:

- side: softmax over (positive, negative) at the model's own logit scale; the image is on a
  side when that side's probability is at least ``threshold``, else *neither*;
- clean subject: the same test on a quality pair (``clean_prompts``), e.g. a clear photo of
  one person against a blurry, distorted or crowded image.

Weights load from the local Hugging Face cache or a path, like the scorer; when they are
absent, :func:`core.judging.load_run_judge` skips judging with a note and nothing else fails.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError, WeightsNotFoundError
from ..interfaces import Judge, Verdicts
from . import hub

__all__ = ["OpenClipJudge", "load_openclip_judge", "DEFAULT_CLEAN_PROMPTS"]

_JUDGE_PATH_OPTION = "--judge-option path=/folder/or/checkpoint (judge_options={'path': ...})"

DEFAULT_CLEAN_PROMPTS = (
    "a clear, sharp photo of one subject",
    "a blurry, distorted image | a collage of several images | an image with no clear subject",
)


def _check_threshold(threshold) -> float:
    """``threshold`` as a float from 0.5 to below 1, or InputError naming ``judge_options.threshold``."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(threshold, bool) or not 0.5 <= value < 1.0:
        raise InputError("judge_options.threshold", threshold, "a probability from 0.5 to below 1")
    return value


class OpenClipJudge(Judge):
    """Zero-shot judge on an open_clip model (see the module docstring).

    Args:
        scorer: The judge's model, loaded as an :class:`~core.real.openclip_scorer.OpenClipScorer`
            (embeddings only; it is never the search's scorer).
        threshold: Least softmax probability of a side for the image to be on it (0.5..1).
        clean_prompts: (positive, negative) quality pair of a clean subject.
    """

    name = "openclip"

    def __init__(self, *, scorer, threshold: float = 0.6, clean_prompts: tuple[str, str] = DEFAULT_CLEAN_PROMPTS) -> None:
        self.scorer = scorer
        self.threshold = _check_threshold(threshold)
        self.clean_prompts = (str(clean_prompts[0]), str(clean_prompts[1]))
        logit_scale = getattr(scorer.model, "logit_scale", None)
        self.logit_scale = float(logit_scale.exp().item()) if logit_scale is not None else 100.0

    def _probabilities(self, emb: torch.Tensor, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """(n, len(pairs)) probability of the positive side of each pair."""
        texts = [t for pair in pairs for t in pair]
        with torch.no_grad():
            t = self.scorer.embed_texts(texts).to(emb.device, emb.dtype)  # (2p, D)
        logits = self.logit_scale * emb @ t.T  # (n, 2p)
        logits = logits.view(len(emb), len(pairs), 2)
        return torch.softmax(logits.float(), dim=-1)[..., 0].cpu().double().numpy()

    def judge(self, images: torch.Tensor, pairs: Sequence[tuple[str, str]]) -> Verdicts:
        with torch.no_grad():
            emb = self.scorer.embed_images(images)  # (n, D)
        k = len(pairs)
        p = self._probabilities(emb, [*pairs, self.clean_prompts])  # (n, k + 1)
        pos = p[:, :k]
        side = np.where(pos >= self.threshold, 1, np.where(1 - pos >= self.threshold, -1, 0)).astype(np.int8)
        conf = np.maximum(pos, 1 - pos)
        clean = p[:, k] >= 0.5
        notes = np.array(["clean subject" if c else "not a clean subject" for c in clean], dtype=object)
        return Verdicts(side=side, confidence=conf, clean=clean, judged=[True] * k, notes=notes)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "method": "zero-shot open_clip, softmax over each prompt pair",
            "threshold": self.threshold,
            "clean_prompts": list(self.clean_prompts),
            "model": self.scorer.describe(),
        }


def load_openclip_judge(
    *,
    model: str = hub.DEFAULT_JUDGE_MODEL,
    pretrained: str | None = hub.DEFAULT_JUDGE_PRETRAINED,
    path: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    cache_dir: str | None = None,
    threshold: float = 0.6,
    clean_prompts: Sequence[str] = DEFAULT_CLEAN_PROMPTS,
) -> OpenClipJudge:
    """Loads the open_clip judge from local files only (the registry's ``openclip`` judge).

    Arguments as :func:`core.real.openclip_scorer.load_openclip_scorer`, plus ``threshold``
    and ``clean_prompts`` (see :class:`OpenClipJudge`).

    Raises:
        InputError: a bad threshold or prompt pair (checked first, before any weights are
            looked for); an unknown architecture, tag or path (named ``judge_options.*``).
        WeightsNotFoundError: the judge's weights are not on this machine (the message says
            what to download, or ``--judge-option path=...``).
    """
    from .openclip_scorer import _PATH_OPTION as scorer_path_option
    from .openclip_scorer import load_openclip_scorer

    # Options are checked before the weights are looked for, so a bad option is reported
    # even on a machine without them (where judging would otherwise be skipped silently).
    threshold = _check_threshold(threshold)
    if (
        not isinstance(clean_prompts, (list, tuple))
        or len(clean_prompts) != 2
        or not all(isinstance(t, str) and t.strip() for t in clean_prompts)
    ):
        raise InputError("judge_options.clean_prompts", clean_prompts, "two non-empty texts (clean, not clean)")
    try:
        scorer = load_openclip_scorer(
            model=model, pretrained=pretrained, path=path, device=device, precision=precision, cache_dir=cache_dir
        )
    except InputError as exc:  # the scorer's loader names scorer options; these are the judge's
        raise InputError(exc.field.replace("scorer_options.", "judge_options."), exc.value, exc.expected) from exc
    except WeightsNotFoundError as exc:  # likewise its message: say judge, and how to point the judge at weights
        text = str(exc).replace("open_clip scorer", "open_clip judge").replace(scorer_path_option, _JUDGE_PATH_OPTION)
        raise WeightsNotFoundError(text) from exc
    return OpenClipJudge(scorer=scorer, threshold=threshold, clean_prompts=(clean_prompts[0], clean_prompts[1]))
