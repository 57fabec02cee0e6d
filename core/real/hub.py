"""Where real-model weights are found: the local Hugging Face cache or a path. Never the network.

Everything here is a cheap file-system lookup (``huggingface_hub.try_to_load_from_cache``),
so the dashboard can ask which real models are usable without loading any weights. When
weights are missing, :func:`missing_weights_message` says what to download and how, and
that the built-in shapes world works meanwhile.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Iterable, Sequence

from huggingface_hub import constants, try_to_load_from_cache

__all__ = [
    "DEFAULT_OPENCLIP_MODEL",
    "DEFAULT_OPENCLIP_PRETRAINED",
    "DEFAULT_DIFFUSION_MODEL",
    "DEFAULT_TINY_DECODER",
    "PIPELINE_WEIGHT_FILES",
    "cache_folder",
    "cached_file",
    "cached_any",
    "missing_libraries",
    "missing_weights_message",
    "openclip_available",
    "openclip_judge_available",
    "sd_turbo_available",
]

DEFAULT_OPENCLIP_MODEL = "ViT-B-32"  # open_clip architecture name
DEFAULT_OPENCLIP_PRETRAINED = "laion2b_s34b_b79k"  # open_clip pretrained tag (LAION-2B)
DEFAULT_JUDGE_MODEL = "ViT-B-16"  # the judge: another architecture than the scorer's ...
DEFAULT_JUDGE_PRETRAINED = "laion2b_s34b_b88k"  # ... and another training run
DEFAULT_DIFFUSION_MODEL = "stabilityai/sd-turbo"  # one-step text-to-image pipeline
DEFAULT_TINY_DECODER = "madebyollin/taesd"  # AutoencoderTiny for SD 1.x/2.x latents

# Files a UNet text-to-image pipeline needs, each as alternatives (full or fp16 variant).
PIPELINE_WEIGHT_FILES: tuple[tuple[str, ...], ...] = (
    ("model_index.json",),
    ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors"),
    ("vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors"),
    ("text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors"),
)
TINY_DECODER_WEIGHT_FILES: tuple[str, ...] = ("diffusion_pytorch_model.safetensors",)

_SHAPES_NOTE = (
    "Meanwhile the built-in shapes world works offline: --generator shapes --scorer shapes "
    "(the dashboard's default)."
)


def cache_folder(cache_dir: str | os.PathLike | None = None) -> str:
    """The Hugging Face cache folder in use: ``cache_dir`` or the user's (read at call time)."""
    return str(cache_dir) if cache_dir else str(constants.HF_HUB_CACHE)


def cached_file(repo_id: str, filename: str, *, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The local path of ``filename`` of model repo ``repo_id`` in the HF cache, or None.

    A file-system lookup only; never downloads.
    """
    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_folder(cache_dir))
    except ValueError:  # not a valid repo id (e.g. a path with several slashes)
        return None
    return Path(found) if isinstance(found, str) else None


def cached_any(repo_id: str, filenames: Iterable[str], *, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The first of ``filenames`` found in the cache, or None."""
    for name in filenames:
        path = cached_file(repo_id, name, cache_dir=cache_dir)
        if path is not None:
            return path
    return None


def missing_libraries(modules: Sequence[str]) -> list[str]:
    """Those of ``modules`` that are not installed (checked without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def missing_weights_message(
    what: str, *, repo_id: str, download: str, option: str, detail: str = "", cache_dir: str | os.PathLike | None = None
) -> str:
    """The message of a :class:`~core.errors.WeightsNotFoundError`.

    Args:
        what: The model as the user chose it (e.g. ``"sd-turbo generator 'stabilityai/sd-turbo'"``).
        repo_id: Hugging Face repo holding the weights.
        download: The exact command that fetches them on a machine with network.
        option: How to point at a local copy instead (CLI option / options key).
        detail: What the loader reported, if anything.
        cache_dir: The cache folder looked in (default: the user's).
    """
    cache = cache_folder(cache_dir)
    text = (
        f"Weights for the {what} are not on this machine (looked in the local Hugging Face cache "
        f"{cache} for '{repo_id}'; nothing is downloaded here). On a machine with network, run:\n"
        f"    {download}\n"
        f"then copy the cache folder here (or set HF_HOME), or point at a local copy with {option}. "
        f"{_SHAPES_NOTE}"
    )
    if detail:
        text += f"\n(loader said: {detail.strip().splitlines()[0][:300]})"
    return text


def openclip_download_command(repo_id: str, filename: str) -> str:
    """The command that fetches one open_clip checkpoint into the HF cache."""
    return f"hf download {repo_id} {filename}   (older clients: huggingface-cli download {repo_id} {filename})"


def pipeline_download_command(repo_id: str) -> str:
    """The command that fetches a diffusers pipeline into the HF cache."""
    return f"hf download {repo_id}   (older clients: huggingface-cli download {repo_id})"


def _openclip_resolvable(model: str, pretrained: str) -> tuple[bool, str]:
    missing = missing_libraries(["open_clip", "torchvision"])
    if missing:
        return False, "needs a library that is not installed: " + ", ".join(missing)
    from .openclip_scorer import resolve_openclip_source  # imports open_clip's tables only

    try:
        resolve_openclip_source(model=model, pretrained=pretrained)
    except Exception as exc:  # WeightsNotFoundError (or a changed open_clip table): say why
        return False, " ".join(str(exc).split())
    return True, ""


def openclip_available() -> tuple[bool, str]:
    """Whether the default open_clip scorer (ViT-B-32, LAION-2B) can load here, and if not why."""
    return _openclip_resolvable(DEFAULT_OPENCLIP_MODEL, DEFAULT_OPENCLIP_PRETRAINED)


def openclip_judge_available() -> tuple[bool, str]:
    """Whether the default open_clip judge (ViT-B-16, LAION-2B) can load here, and if not why."""
    return _openclip_resolvable(DEFAULT_JUDGE_MODEL, DEFAULT_JUDGE_PRETRAINED)


def sd_turbo_available() -> tuple[bool, str]:
    """Whether the default diffusers generator (sd-turbo) can load here, and if not why.

    The tiny decoder is optional: without it the search decodes with the full VAE (slower).
    """
    missing = missing_libraries(["diffusers", "transformers", "torchvision"])
    if missing:
        return False, "needs a library that is not installed: " + ", ".join(missing)
    for alternatives in PIPELINE_WEIGHT_FILES:
        if cached_any(DEFAULT_DIFFUSION_MODEL, alternatives) is None:
            message = missing_weights_message(
                f"sd-turbo generator '{DEFAULT_DIFFUSION_MODEL}'",
                repo_id=DEFAULT_DIFFUSION_MODEL,
                download=pipeline_download_command(DEFAULT_DIFFUSION_MODEL),
                option="--generator-option path=/folder/with/model_index.json",
                detail=f"missing {alternatives[0]}",
            )
            return False, " ".join(message.split())
    return True, ""
