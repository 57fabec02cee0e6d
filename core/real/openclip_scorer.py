"""An open_clip text-image model as a :class:`~core.interfaces.Scorer` (registry name ``openclip``).

Any open_clip architecture with a pretrained tag (weights found in the local Hugging Face
cache), a local checkpoint file, a local open_clip folder (``open_clip_config.json`` plus a
checkpoint) or a cached ``hf-hub:org/repo`` model. Preprocessing (resize mode, size,
interpolation, mean and std) comes from the model's own preprocess config and runs in torch
on tensors, so image embeddings are differentiable in the pixels (no PIL round trip).

    from core import load_scorer
    s = load_scorer("openclip")                               # ViT-B-32, LAION-2B, from cache
    s = load_scorer("openclip", path="/models/my_clip")       # a local open_clip folder
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from .. import _torchvision_compat
from ..errors import InputError, WeightsNotFoundError
from ..interfaces import Scorer
from . import hub
from .devices import ChunkRunner, resolve_device, resolve_dtype

_torchvision_compat.ensure_torchvision()  # open_clip imports torchvision

import open_clip  # noqa: E402

__all__ = [
    "OpenClipSource",
    "OpenClipScorer",
    "load_openclip_scorer",
    "preprocess_images",
    "resolve_openclip_source",
]

logger = logging.getLogger(__name__)

LOCAL_CONFIG_NAME = "open_clip_config.json"  # what open_clip's 'local-dir:' schema reads
OPENAI_CACHE_DIR = Path(os.path.expanduser("~")) / ".cache" / "clip"  # open_clip's cache for URL-only tags
_PRECISION_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
_PREPROCESS_KEYS = ("size", "mode", "mean", "std", "interpolation", "resize_mode", "fill_color")
_INTERPOLATION = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest", "area": "area"}
_PATH_OPTION = "--scorer-option path=/folder/or/checkpoint (scorer_options={'path': ...})"


@dataclasses.dataclass(frozen=True)
class OpenClipSource:
    """Where an open_clip model's config and weights come from (resolved locally)."""

    model_name: str  # passed to open_clip.create_model: an architecture or 'local-dir:/path'
    checkpoint: str | None  # local checkpoint file for `pretrained`, None for 'local-dir:'
    preprocess: dict  # preprocess settings of the pretrained tag (mean, std, ...), may be empty
    label: str  # how the user named it, for descriptions and messages


def _tag_checkpoint(model: str, tag: str, cache_dir: str | None) -> tuple[str, dict]:
    """Local checkpoint of an open_clip pretrained tag, or WeightsNotFoundError."""
    cfg = open_clip.get_pretrained_cfg(model, tag)
    preprocess = {k: cfg[k] for k in _PREPROCESS_KEYS if k in cfg}
    if cfg.get("file"):
        return cfg["file"], preprocess
    if cfg.get("hf_hub"):
        repo_id, filename = os.path.split(cfg["hf_hub"])
        names = [filename] if filename else []
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        names += ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        found = hub.cached_any(repo_id, names, cache_dir=cache_dir)
        if found is None:
            raise WeightsNotFoundError(
                hub.missing_weights_message(
                    f"open_clip scorer '{model}' / '{tag}'",
                    repo_id=repo_id,
                    download=hub.openclip_download_command(repo_id, filename or "open_clip_model.safetensors"),
                    option=_PATH_OPTION,
                    cache_dir=cache_dir,
                )
            )
        return str(found), preprocess
    url = cfg.get("url", "")
    local = Path(cache_dir or OPENAI_CACHE_DIR) / os.path.basename(url)
    if url and local.is_file():
        return str(local), preprocess
    raise WeightsNotFoundError(
        hub.missing_weights_message(
            f"open_clip scorer '{model}' / '{tag}'",
            repo_id=url or tag,
            download=f"curl -L -o {local} {url}",
            option=_PATH_OPTION,
        )
    )


def resolve_openclip_source(
    *, model: str, pretrained: str | None, path: str | os.PathLike | None = None, cache_dir: str | None = None
) -> OpenClipSource:
    """Finds an open_clip model's config and weights on this machine, without loading them.

    Args:
        model: An open_clip architecture (``"ViT-B-32"``) or ``"hf-hub:org/repo"``.
        pretrained: A pretrained tag of that architecture (``"laion2b_s34b_b79k"``) or a
            checkpoint file; ignored when ``path`` is a folder or ``model`` is ``hf-hub:``.
        path: A local checkpoint file (architecture from ``model``) or a folder holding
            ``open_clip_config.json`` and a checkpoint.
        cache_dir: Hugging Face cache to look in (default: the user's cache).

    Raises:
        InputError: unknown architecture or tag, or a path that does not exist.
        WeightsNotFoundError: the weights are not on this machine.
    """
    if path is not None and str(path).strip():
        p = Path(path).expanduser()
        if p.is_dir():
            if not (p / LOCAL_CONFIG_NAME).is_file():
                raise InputError("scorer_options.path", str(path), f"a folder holding {LOCAL_CONFIG_NAME} and weights")
            if not any(any(p.glob(pattern)) for pattern in ("*.safetensors", "*.bin", "*.pth")):
                raise WeightsNotFoundError(
                    f"The open_clip folder {p} holds {LOCAL_CONFIG_NAME} but no checkpoint "
                    "(*.safetensors, *.bin or *.pth); copy the model's weights file into it."
                )
            return OpenClipSource(f"local-dir:{p.resolve()}", None, {}, str(p))
        if p.is_file():
            if model not in open_clip.list_models():
                raise InputError("scorer_options.model", model, "an open_clip architecture such as 'ViT-B-32'")
            preprocess = {}
            if pretrained and open_clip.get_pretrained_cfg(model, pretrained):
                cfg = open_clip.get_pretrained_cfg(model, pretrained)
                preprocess = {k: cfg[k] for k in _PREPROCESS_KEYS if k in cfg}
            return OpenClipSource(model, str(p.resolve()), preprocess, f"{model} / {p}")
        raise InputError(
            "scorer_options.path", str(path), f"an existing checkpoint file or a folder with {LOCAL_CONFIG_NAME}"
        )
    if model.startswith("hf-hub:"):
        repo_id = model[len("hf-hub:") :]
        config = hub.cached_file(repo_id, LOCAL_CONFIG_NAME, cache_dir=cache_dir)
        weights = hub.cached_any(
            repo_id, ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"], cache_dir=cache_dir
        )
        if config is None or weights is None:
            raise WeightsNotFoundError(
                hub.missing_weights_message(
                    f"open_clip scorer '{model}'",
                    repo_id=repo_id,
                    download=hub.pipeline_download_command(repo_id),
                    option=_PATH_OPTION,
                )
            )
        return OpenClipSource(f"local-dir:{config.parent}", None, {}, model)
    if model not in open_clip.list_models():
        raise InputError(
            "scorer_options.model", model, "an open_clip architecture such as 'ViT-B-32' (see open_clip.list_models())"
        )
    if not pretrained:
        raise InputError("scorer_options.pretrained", pretrained, f"a pretrained tag of {model} or a checkpoint file")
    if Path(pretrained).expanduser().is_file():
        return OpenClipSource(model, str(Path(pretrained).expanduser().resolve()), {}, f"{model} / {pretrained}")
    tags = open_clip.list_pretrained_tags_by_model(model)
    if pretrained not in tags:
        raise InputError(
            "scorer_options.pretrained", pretrained, f"a checkpoint file or one of the tags of {model}: " + ", ".join(tags)
        )
    checkpoint, preprocess = _tag_checkpoint(model, pretrained, cache_dir)
    return OpenClipSource(model, checkpoint, preprocess, f"{model} / {pretrained}")


def preprocess_images(images: torch.Tensor, cfg: dict) -> torch.Tensor:
    """open_clip's inference preprocessing, in torch and differentiable.

    Same steps as ``open_clip.image_transform`` for inference: resize (``shortest``: the
    shorter side to the target then a centre crop; ``longest``: the longer side then pad
    with ``fill_color``; ``squash``: straight to the target), then normalise with the
    config's mean and std. Resizing uses antialiasing when shrinking, like PIL.

    Args:
        images: (n, 3, H, W) float in [0, 1].
        cfg: A preprocess config (``model.visual.preprocess_cfg``): size, mean, std,
            interpolation, resize_mode, fill_color.

    Returns:
        (n, 3, h, w) float, normalised; (h, w) the config's size.
    """
    size = cfg["size"]
    th, tw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    mode = _INTERPOLATION.get(cfg.get("interpolation", "bicubic"), "bicubic")
    resize_mode = cfg.get("resize_mode", "shortest")
    _, _, h, w = images.shape
    x = images

    def resize(x: torch.Tensor, rh: int, rw: int) -> torch.Tensor:
        if (rh, rw) == tuple(x.shape[-2:]):
            return x
        kwargs: dict[str, Any] = {"mode": mode}
        if mode in ("bilinear", "bicubic"):
            kwargs.update(align_corners=False, antialias=True)
        return F.interpolate(x, size=(rh, rw), **kwargs)

    if resize_mode == "squash":
        x = resize(x, th, tw)
    elif resize_mode == "longest":
        scale = min(th / h, tw / w)
        rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
        x = resize(x, rh, rw)
        fill = float(cfg.get("fill_color", 0)) / 255.0
        top, left = (th - rh) // 2, (tw - rw) // 2
        x = F.pad(x, (left, tw - rw - left, top, th - rh - top), value=fill)
    else:  # "shortest": cover the target, then centre crop
        scale = max(th / h, tw / w)
        rh, rw = max(th, int(h * scale)), max(tw, int(w * scale))
        x = resize(x, rh, rw)
        top, left = (rh - th) // 2, (rw - tw) // 2
        x = x[:, :, top : top + th, left : left + tw]
    x = x.clamp(0.0, 1.0)  # bicubic overshoot; PIL clips to the pixel range too
    mean = torch.tensor(cfg["mean"], dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(cfg["std"], dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


class OpenClipScorer(Scorer):
    """Embeds images and texts with an open_clip model; both unit-normalised.

    Args:
        model: An open_clip model (``CLIP`` / ``CustomTextCLIP``) already on ``device``.
        tokenizer: The model's tokenizer: a callable from a list of texts to token ids
            (k, context_length).
        device: Where the model runs.
        dtype: The model's floating-point type (images are cast to it).
        description: Extra fields for :meth:`describe` (model, pretrained, ...).
        max_batch: Largest chunk of images embedded at once without gradients (halved on
            out-of-memory).
    """

    name = "openclip"

    def __init__(
        self,
        *,
        model: torch.nn.Module,
        tokenizer: Callable[[list[str]], torch.Tensor],
        device: torch.device,
        dtype: torch.dtype,
        description: dict | None = None,
        max_batch: int = 256,
    ) -> None:
        self.model = model.eval().requires_grad_(False)  # frozen; gradients still reach the input
        self.tokenizer = tokenizer
        self.device = device
        self.dtype = dtype
        self.preprocess_cfg = dict(open_clip.get_model_preprocess_cfg(model))
        with torch.no_grad():
            probe = torch.zeros(1, 3, *self._input_size(), device=device, dtype=dtype)
            self.embed_dim = int(self.model.encode_image(probe).shape[-1])
        self._description = dict(description or {})
        self._runner = ChunkRunner(max_chunk=max_batch, label="openclip embed_images")

    def _input_size(self) -> tuple[int, int]:
        size = self.preprocess_cfg["size"]
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        x = preprocess_images(images.to(self.device, torch.float32), self.preprocess_cfg)  # (n, 3, h, w)
        feats = self.model.encode_image(x.to(self.dtype))  # (n, D)
        return F.normalize(feats.float(), dim=-1)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Embeds images, differentiably in the pixels.

        Args:
            images: (n, 3, H, W) float in [0, 1], any H and W.

        Returns:
            (n, embed_dim) float32, unit norm rows.

        Raises:
            InputError: ``images`` is not (n, 3, H, W).
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError("images", tuple(images.shape), "a tensor of shape (n, 3, H, W)")
        if torch.is_grad_enabled() and images.requires_grad:
            return self._embed(images)  # one graph; chunking would not save memory here
        with torch.no_grad():
            return self._runner(self._embed, images)

    def _embed_phrases(self, phrases: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(phrases)).to(self.device)  # (k, context_length)
        with torch.no_grad():
            feats = self.model.encode_text(tokens)  # (k, D)
        return F.normalize(feats.float(), dim=-1)

    def describe(self) -> dict:
        return {**super().describe(), **self._description, "dtype": str(self.dtype).replace("torch.", "")}


def load_openclip_scorer(
    *,
    model: str = hub.DEFAULT_OPENCLIP_MODEL,
    pretrained: str | None = hub.DEFAULT_OPENCLIP_PRETRAINED,
    path: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    cache_dir: str | None = None,
    max_batch: int = 256,
) -> OpenClipScorer:
    """Loads an open_clip scorer from local files only (the registry's ``openclip`` factory).

    Args:
        model: open_clip architecture (``"ViT-B-32"``) or ``"hf-hub:org/repo"`` (cached).
        pretrained: Pretrained tag (``"laion2b_s34b_b79k"``) or a checkpoint file.
        path: Local checkpoint file, or folder with ``open_clip_config.json`` and weights;
            takes precedence over ``pretrained``.
        device: ``"auto"`` (CUDA when visible), ``"cpu"``, ``"cuda"``...
        precision: ``"auto"`` (bf16/fp16 on a GPU, fp32 on CPU), ``"fp32"``, ``"fp16"``, ``"bf16"``.
        cache_dir: Hugging Face cache folder (default: the user's).
        max_batch: Largest image chunk per forward pass without gradients.

    Raises:
        InputError: unknown architecture, tag, device or precision; a path that does not exist.
        WeightsNotFoundError: the weights are not on this machine (the message says what to
            download and how).
    """
    dev = resolve_device(device)
    dtype = resolve_dtype(dev, precision)
    source = resolve_openclip_source(model=model, pretrained=pretrained, path=path, cache_dir=cache_dir)
    logger.info("loading open_clip %s on %s (%s)", source.label, dev, dtype)
    clip = open_clip.create_model(
        source.model_name,
        pretrained=source.checkpoint,
        precision=_PRECISION_NAMES[dtype],
        device=dev,
        force_preprocess_cfg=source.preprocess or None,
        cache_dir=cache_dir,
        require_pretrained=True,
    )
    try:
        tokenizer = open_clip.get_tokenizer(source.model_name, cache_dir=cache_dir)
    except OSError as exc:  # an HF tokenizer that is not cached
        raise WeightsNotFoundError(
            hub.missing_weights_message(
                f"tokenizer of the open_clip scorer '{source.label}'",
                repo_id=model,
                download=hub.pipeline_download_command(model.removeprefix("hf-hub:")),
                option=_PATH_OPTION,
                detail=str(exc),
            )
        ) from exc
    return OpenClipScorer(
        model=clip,
        tokenizer=tokenizer,
        device=dev,
        dtype=dtype,
        description={"source": source.label, "model": None if path else model, "pretrained": None if path else pretrained},
        max_batch=max_batch,
    )
