"""A few-step diffusers text-to-image model as a :class:`~core.interfaces.Generator` (``sd-turbo``).

The base prompt is fixed (e.g. "a portrait photo of a person"); what varies is the initial
noise. A low-dimensional latent z (d dimensions) sets it through
:class:`NoiseParameterisation`::

    noise = B z + (I - B Bᵀ) ε₀

with B an orthonormal (D, d) matrix and ε₀ a fixed standard-normal vector (D = the noise
tensor's size), both drawn from ``seed``. For z ~ N(0, I_d) and ε₀ ~ N(0, I_D) independent,
B z ~ N(0, B Bᵀ) and (I - B Bᵀ) ε₀ ~ N(0, I - B Bᵀ) (a projection), so noise ~ N(0, I_D):
the noise keeps the Gaussian marginal the model was trained on, and ``Bᵀ noise = z``
exactly. The prior of z is N(0, I_d).

Sampling is guidance-free (one UNet pass per step, as sd-turbo is meant to run) with the
pipeline's own scheduler, written out here so that it stays differentiable in z (diffusers'
pipeline ``__call__`` runs under ``no_grad``). :meth:`render` decodes with a tiny
autoencoder (``AutoencoderTiny``, e.g. ``madebyollin/taesd``) when one is loaded;
:meth:`render_final` always uses the pipeline's full VAE.

Supported: diffusers pipelines with a ``unet``, a ``vae`` and one text encoder (the Stable
Diffusion 1.x / 2.x family: sd-turbo, SD 1.5 / 2.1 with LCM or other few-step schedulers).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch

from .. import _torchvision_compat
from ..errors import InputError, WeightsNotFoundError
from ..interfaces import Generator
from . import hub
from .devices import GRADIENT_FREE_HINT, ChunkRunner, OutOfMemory, is_out_of_memory, resolve_device, resolve_dtype

_torchvision_compat.ensure_torchvision()  # diffusers' models import torchvision

__all__ = [
    "DiffusionSettings",
    "DiffusionGenerator",
    "NoiseParameterisation",
    "load_diffusion_generator",
]

logger = logging.getLogger(__name__)

_PATH_OPTION = "--generator-option path=/folder/with/model_index.json (generator_options={'path': ...})"
_TINY_AUTO = "auto"  # tiny decoder: the default one if it is cached, else the full VAE


@dataclasses.dataclass(frozen=True)
class DiffusionSettings:
    """How the generator samples (recorded in run configs through :meth:`describe`)."""

    steps: int = 1  # denoising steps (sd-turbo: 1; LCM-style models: 2-8)
    base_prompt: str = "a portrait photo of a person"  # fixed text condition of every image
    latent_dim: int = 128  # d, the dimension of z searched over
    seed: int = 0  # seeds the basis B and the fixed noise ε₀
    max_batch: int = 64  # largest chunk rendered at once without gradients (halved on OOM)


class NoiseParameterisation(torch.nn.Module):
    """Maps z (n, d) to initial noise (n, *shape) keeping the standard-normal marginal.

    ``noise = B z + (I - B Bᵀ) ε₀`` with B (D, d) orthonormal (QR of a seeded Gaussian
    matrix) and ε₀ (D,) a seeded standard-normal vector, D = prod(shape).

    Args:
        latent_dim: d.
        shape: Shape of one noise tensor, e.g. (4, 64, 64).
        seed: Seeds B and ε₀.

    Raises:
        InputError: d is not between 1 and D.
    """

    def __init__(self, *, latent_dim: int, shape: tuple[int, ...], seed: int) -> None:
        super().__init__()
        size = math.prod(shape)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or not 1 <= latent_dim <= size:
            raise InputError("generator_options.latent_dim", latent_dim, f"a whole number from 1 to {size}")
        gen = torch.Generator().manual_seed(int(seed))
        gauss = torch.randn(size, latent_dim, generator=gen, dtype=torch.float64)  # (D, d)
        q, r = torch.linalg.qr(gauss)  # q: (D, d) orthonormal columns
        q = q * torch.sign(torch.diagonal(r))[None, :]  # unique QR: deterministic across LAPACKs
        eps0 = torch.randn(size, generator=gen, dtype=torch.float64)  # (D,)
        eps_perp = eps0 - q @ (q.T @ eps0)  # (I - B Bᵀ) ε₀
        self.shape = tuple(shape)
        self.register_buffer("basis", q.float())  # (D, d)
        self.register_buffer("offset", eps_perp.float())  # (D,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(n, d) -> (n, *shape) noise, differentiable in z."""
        noise = z.to(self.basis.dtype) @ self.basis.T + self.offset  # (n, D)
        return noise.view(len(z), *self.shape)


class DiffusionGenerator(Generator):
    """A UNet text-to-image model with a fixed prompt, searched over its initial noise.

    Build it with :func:`load_diffusion_generator` (from local weights) or directly from
    components (tests, benchmarks).

    Args:
        unet: ``UNet2DConditionModel``.
        vae: ``AutoencoderKL`` (the full decoder, used by :meth:`render_final`).
        scheduler: The pipeline's scheduler (copied per call; never mutated).
        prompt_embeds: (1, tokens, hidden) text-encoder states of the base prompt.
        tiny_vae: Optional ``AutoencoderTiny`` decoding the same latents, used by :meth:`render`.
        resolution: Image height and width in pixels.
        settings: Steps, base prompt, latent dimension, seed, chunk size.
        device: Where the models are.
        dtype: Their floating-point type.
        gradient_checkpointing: Recompute UNet activations in the backward pass (saves
            memory when gradients flow; costs about one more forward pass).
        description: Extra fields for :meth:`describe` (model id, tiny decoder id).

    Raises:
        InputError: a resolution the UNet cannot take, or a latent_dim out of range.
    """

    name = "sd-turbo"

    def __init__(
        self,
        *,
        unet: torch.nn.Module,
        vae: torch.nn.Module,
        scheduler: Any,
        prompt_embeds: torch.Tensor,
        tiny_vae: torch.nn.Module | None = None,
        resolution: int | None = None,
        settings: DiffusionSettings = DiffusionSettings(),
        device: torch.device = torch.device("cpu"),
        dtype: torch.dtype = torch.float32,
        gradient_checkpointing: bool = False,
        description: dict | None = None,
    ) -> None:
        if isinstance(settings.steps, bool) or not isinstance(settings.steps, int) or not 1 <= settings.steps <= 50:
            raise InputError("generator_options.steps", settings.steps, "a whole number from 1 to 50")
        self.vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)  # pixels per latent cell
        unet_multiple = 2 ** (len(unet.config.block_out_channels) - 1)  # latent size must divide by it
        if resolution is None:
            resolution = int(unet.config.sample_size) * self.vae_scale
        multiple = self.vae_scale * unet_multiple
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < multiple or resolution % multiple:
            raise InputError("generator_options.resolution", resolution, f"a multiple of {multiple} pixels")
        if tiny_vae is not None:
            tiny_scale = tiny_vae.config.upsampling_scaling_factor ** (len(tiny_vae.config.decoder_block_out_channels) - 1)
            if tiny_scale != self.vae_scale or tiny_vae.config.latent_channels != unet.config.out_channels:
                raise InputError(
                    "generator_options.tiny_decoder", (description or {}).get("tiny_decoder"),
                    f"a tiny autoencoder for {unet.config.out_channels}-channel latents upsampling x{self.vae_scale}",
                )
        self.unet = unet.eval().requires_grad_(False)
        self.vae = vae.eval().requires_grad_(False)
        self.tiny_vae = tiny_vae.eval().requires_grad_(False) if tiny_vae is not None else None
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.scheduler = scheduler
        self.settings = settings
        self.device = device
        self.dtype = dtype
        self.image_size = resolution
        self.latent_dim = settings.latent_dim
        side = resolution // self.vae_scale
        self.latent_shape = (int(unet.config.in_channels), side, side)
        self.noise = NoiseParameterisation(latent_dim=settings.latent_dim, shape=self.latent_shape, seed=settings.seed)
        self.noise.to(device)
        self.prompt_embeds = prompt_embeds.to(device=device, dtype=dtype)  # (1, tokens, hidden)
        self._description = dict(description or {})
        self._runner = ChunkRunner(max_chunk=settings.max_batch, label="sd-turbo render")

    # -- the prior ---------------------------------------------------------------------------
    def sample_prior(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n draws of z ~ N(0, I_d), shape (n, latent_dim), float32 on ``self.device``."""
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        return torch.randn(n, self.latent_dim, generator=gen).to(self.device)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I_d), shape (n,), differentiable."""
        return -0.5 * (z.float() ** 2).sum(dim=1) - 0.5 * self.latent_dim * math.log(2 * math.pi)

    # -- sampling ----------------------------------------------------------------------------
    def denoise(self, z: torch.Tensor) -> torch.Tensor:
        """z (n, d) -> denoised latents (n, C, h, w) in the UNet's (scaled) latent space."""
        scheduler = copy.deepcopy(self.scheduler)  # schedulers keep a step index: one per call
        scheduler.set_timesteps(self.settings.steps, device=self.device)
        latents = self.noise(z.to(self.device)) * scheduler.init_noise_sigma  # (n, C, h, w)
        latents = latents.to(self.dtype)
        cond = self.prompt_embeds.expand(len(z), -1, -1)  # (n, tokens, hidden)
        for t in scheduler.timesteps:
            model_in = scheduler.scale_model_input(latents, t)
            eps = self.unet(model_in, t, encoder_hidden_states=cond, return_dict=False)[0]  # (n, C, h, w)
            latents = scheduler.step(eps, t, latents, return_dict=False)[0]
        return latents

    def decode(self, latents: torch.Tensor, *, tiny: bool) -> torch.Tensor:
        """Latents (n, C, h, w) -> images (n, 3, H, W) float32 in [0, 1]."""
        decoder = self.tiny_vae if tiny and self.tiny_vae is not None else self.vae
        shift = getattr(decoder.config, "shift_factor", None) or 0.0
        x = decoder.decode(latents.to(self.dtype) / decoder.config.scaling_factor + shift, return_dict=False)[0]
        return (x.float() / 2 + 0.5).clamp(0.0, 1.0)

    def _images(self, z: torch.Tensor, *, tiny: bool) -> torch.Tensor:
        return self.decode(self.denoise(z), tiny=tiny)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """Renders z with the tiny decoder (the full VAE if none), differentiably in z.

        Args:
            z: (n, latent_dim).

        Returns:
            (n, 3, image_size, image_size) float32 in [0, 1].

        Raises:
            OutOfMemory: with gradients, the batch does not fit (the message suggests a
                gradient-free algorithm); without, not even one sample fits.
        """
        if torch.is_grad_enabled() and z.requires_grad:
            try:
                return self._images(z, tiny=True)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                raise OutOfMemory(
                    f"sd-turbo: gradients for a batch of {len(z)} at {self.image_size} px do not fit in "
                    f"the memory of {self.device}; {GRADIENT_FREE_HINT}"
                ) from None
        with torch.no_grad():
            return self._runner(lambda zc: self._images(zc, tiny=True), z)

    def render_final(self, z: torch.Tensor) -> torch.Tensor:
        """Renders z at export quality with the full VAE, without gradients; as :meth:`render`."""
        with torch.no_grad():
            return self._runner(lambda zc: self._images(zc, tiny=False), z)

    def describe(self) -> dict:
        return {
            **super().describe(),
            **self._description,
            "steps": self.settings.steps,
            "base_prompt": self.settings.base_prompt,
            "noise_seed": self.settings.seed,
            "dtype": str(self.dtype).replace("torch.", ""),
            "tiny_decoder_in_search": self.tiny_vae is not None,
        }


def _load_pipeline(source: str, *, dtype: torch.dtype, cache_dir: str | None, variant: str | None, label: str):
    """The diffusers pipeline at ``source`` from local files only, or WeightsNotFoundError."""
    from diffusers import DiffusionPipeline

    kwargs = dict(torch_dtype=dtype, local_files_only=True, cache_dir=hub.cache_folder(cache_dir), use_safetensors=True)
    tries = [variant] if variant else [None, "fp16"]  # full files first, then the fp16 variant
    errors = []
    for v in tries:
        try:
            return DiffusionPipeline.from_pretrained(source, variant=v, **kwargs)
        except (OSError, ValueError) as exc:  # files missing from the cache / folder
            errors.append(f"{type(exc).__name__}: {exc}")
    raise WeightsNotFoundError(
        hub.missing_weights_message(
            label, repo_id=source, download=hub.pipeline_download_command(source), option=_PATH_OPTION,
            detail=errors[-1], cache_dir=cache_dir,
        )
    )


def _load_tiny_decoder(tiny_decoder: str | None, *, dtype: torch.dtype, cache_dir: str | None):
    """The tiny autoencoder named by ``tiny_decoder`` (id, path, "auto" or None)."""
    if tiny_decoder is None or str(tiny_decoder).strip().lower() in ("", "none", "off"):
        return None, None
    from diffusers import AutoencoderTiny

    explicit = tiny_decoder != _TINY_AUTO
    source = hub.DEFAULT_TINY_DECODER if not explicit else str(tiny_decoder)
    if Path(source).expanduser().is_dir():
        source = str(Path(source).expanduser().resolve())
    elif explicit and source.count("/") != 1:
        raise InputError(
            "generator_options.tiny_decoder", tiny_decoder, "a Hugging Face id (org/name), a local folder, 'auto' or 'none'"
        )
    try:
        return AutoencoderTiny.from_pretrained(
            source, torch_dtype=dtype, local_files_only=True, cache_dir=hub.cache_folder(cache_dir), use_safetensors=True
        ), source
    except (OSError, ValueError) as exc:
        if not explicit:
            logger.warning(
                "tiny decoder %s is not cached (run: %s); the search decodes with the full VAE (slower)",
                source, hub.pipeline_download_command(source),
            )
            return None, None
        raise WeightsNotFoundError(
            hub.missing_weights_message(
                f"tiny decoder '{source}'", repo_id=source, download=hub.pipeline_download_command(source),
                option="--generator-option tiny_decoder=/folder or tiny_decoder=none", detail=str(exc),
                cache_dir=cache_dir,
            )
        ) from exc


def load_diffusion_generator(
    *,
    model: str = hub.DEFAULT_DIFFUSION_MODEL,
    path: str | os.PathLike | None = None,
    steps: int = DiffusionSettings.steps,
    base_prompt: str = DiffusionSettings.base_prompt,
    latent_dim: int = DiffusionSettings.latent_dim,
    resolution: int | None = None,
    tiny_decoder: str | None = _TINY_AUTO,
    seed: int = DiffusionSettings.seed,
    device: str | torch.device = "auto",
    precision: str = "auto",
    variant: str | None = None,
    cache_dir: str | None = None,
    max_batch: int | None = None,
    gradient_checkpointing: bool | None = None,
) -> DiffusionGenerator:
    """Loads a few-step diffusers model from local files only (the registry's ``sd-turbo`` factory).

    Args:
        model: Hugging Face id of the pipeline, looked up in the local cache.
        path: A local pipeline folder (``model_index.json`` and component folders); takes
            precedence over ``model``.
        steps: Denoising steps (1 for sd-turbo).
        base_prompt: The fixed prompt of every image.
        latent_dim: d, the dimension of z.
        resolution: Image size in pixels (default: the UNet's native size).
        tiny_decoder: ``"auto"`` (``madebyollin/taesd`` if cached, else the full VAE),
            an id or folder of an ``AutoencoderTiny``, or None / ``"none"``.
        seed: Seeds the noise basis and the fixed noise.
        device: ``"auto"`` (CUDA when visible), ``"cpu"``, ``"cuda"``...
        precision: ``"auto"`` (bf16 / fp16 on a GPU, fp32 on CPU), ``"fp32"``, ``"fp16"``, ``"bf16"``.
        variant: Weight file variant (e.g. ``"fp16"``); default: full files, else fp16.
        cache_dir: Hugging Face cache folder (default: the user's).
        max_batch: Largest chunk rendered at once without gradients (default 64 on a GPU,
            8 on the CPU); halved automatically on out-of-memory.
        gradient_checkpointing: Default: on for CUDA.

    Raises:
        InputError: a bad option (the message names it) or a pipeline this generator cannot drive.
        WeightsNotFoundError: the weights are not on this machine (the message says what to
            download and how).
    """
    dev = resolve_device(device)
    dtype = resolve_dtype(dev, precision)
    if not isinstance(base_prompt, str) or not base_prompt.strip():
        raise InputError("generator_options.base_prompt", base_prompt, "a non-empty text such as 'a portrait photo of a person'")
    if path is not None and str(path).strip():
        folder = Path(path).expanduser()
        if not (folder / "model_index.json").is_file():
            raise InputError("generator_options.path", str(path), "a diffusers pipeline folder holding model_index.json")
        source, label = str(folder.resolve()), f"sd-turbo generator at '{folder}'"
    else:
        source, label = model, f"sd-turbo generator '{model}'"
    pipe = _load_pipeline(source, dtype=dtype, cache_dir=cache_dir, variant=variant, label=label)
    parts = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
    if any(getattr(pipe, p, None) is None for p in parts) or getattr(pipe, "text_encoder_2", None) is not None:
        raise InputError(
            "generator_options.model", source,
            "a diffusers UNet text-to-image pipeline with one text encoder (Stable Diffusion 1.x/2.x family, "
            f"e.g. {hub.DEFAULT_DIFFUSION_MODEL}); got {type(pipe).__name__}",
        )
    pipe.text_encoder.to(dev)
    with torch.no_grad():
        prompt_embeds = pipe.encode_prompt(base_prompt, dev, 1, False)[0]  # (1, tokens, hidden), no guidance
    tiny_vae, tiny_source = _load_tiny_decoder(tiny_decoder, dtype=dtype, cache_dir=cache_dir)
    settings = DiffusionSettings(
        steps=steps, base_prompt=base_prompt, latent_dim=latent_dim, seed=seed,
        max_batch=max_batch or (64 if dev.type == "cuda" else 8),
    )
    generator = DiffusionGenerator(
        unet=pipe.unet.to(dev),
        vae=pipe.vae.to(dev),
        scheduler=pipe.scheduler,
        prompt_embeds=prompt_embeds,
        tiny_vae=tiny_vae.to(dev) if tiny_vae is not None else None,
        resolution=resolution,
        settings=settings,
        device=dev,
        dtype=dtype,
        gradient_checkpointing=dev.type == "cuda" if gradient_checkpointing is None else bool(gradient_checkpointing),
        description={"model": source, "pipeline": type(pipe).__name__, "tiny_decoder": tiny_source},
    )
    del pipe  # drops the text encoder: the prompt is encoded once
    return generator
