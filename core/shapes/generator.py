"""The built-in shapes generator: a small VAE decoder, its sampling prior and a smooth density.

The decoder was trained on biased renders (see ``describe()["training_bias"]``); sampling
its prior (one kernel per encoded training render) reproduces that bias, which is what a
quality-diversity search corrects. ``log_prior`` is a smooth Gaussian-mixture density of
the same latents, for the search's realism term (see ``core.shapes.train.fit_density``).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import torch

from ..errors import InputError
from ..interfaces import Generator
from ._weights import GENERATOR_WEIGHTS, availability, config_from_meta, read_weights
from .models import GaussianMixturePrior, KernelPrior, ShapesVAE, VAEConfig

__all__ = ["ShapesGenerator", "load_shapes_generator", "generator_available"]


class ShapesGenerator(Generator):
    """Decoder (differentiable in z), a sampling prior over z and a smooth density of z.

    Args:
        vae: A :class:`ShapesVAE` (only its decoder is used).
        prior: The fitted :class:`KernelPrior` (what ``sample_prior`` draws from).
        density: The fitted :class:`GaussianMixturePrior` (what ``log_prior`` evaluates).
        metadata: Header metadata of the weight file (training settings).
        weights: Path the weights were read from.
        device: Torch device to run on.
    """

    name = "shapes"

    def __init__(
        self,
        *,
        vae: ShapesVAE,
        prior: KernelPrior,
        density: GaussianMixturePrior,
        metadata: dict[str, str],
        weights: Path,
        device: torch.device,
    ) -> None:
        self.device = device
        self.vae = vae.to(device).eval().requires_grad_(False)
        self.prior = prior.to(device)
        self.density = density.to(device)
        self.latent_dim = vae.cfg.latent_dim
        self.image_size = vae.cfg.image_size
        self.metadata = metadata
        self.weights = weights

    def _check_z(self, z: torch.Tensor) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            shown = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise InputError("z", shown, f"a float tensor of shape (n, {self.latent_dim})")
        return z.to(self.device, torch.float32)

    def sample_prior(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Draws ``n`` latents from the prior (the encoded training renders, slightly widened).

        Args:
            n: Number of latents (>= 0).
            seed: Seed of a private torch.Generator; None draws a fresh seed.

        Returns:
            Float tensor (n, latent_dim) on ``self.device``; the same for the same seed.

        Raises:
            InputError: ``n`` is negative or not an integer.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InputError("n", n, "a non-negative integer")
        gen = torch.Generator().manual_seed(secrets.randbits(63) if seed is None else int(seed))
        return self.prior.sample(n, gen).to(self.device)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """Decodes latents (n, latent_dim) to images (n, 3, 64, 64) in [0, 1], differentiably.

        Raises:
            InputError: ``z`` does not have shape (n, latent_dim).
        """
        return self.vae.decoder(self._check_z(z))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means (n, latent_dim) of images (n, 3, 64, 64) in [0, 1].

        Raises:
            InputError: the weight file holds no encoder, or ``images`` has the wrong shape.
        """
        if self.vae.encoder is None:
            raise InputError("generator weights", str(self.weights), "a file that keeps the encoder")
        shape = (3, self.image_size, self.image_size)
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != shape:
            shown = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise InputError("images", shown, f"a float tensor of shape (n, {', '.join(map(str, shape))})")
        return self.vae.encoder(images.to(self.device, torch.float32))[0]

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """Log density (n,) of z, differentiable in z.

        A smooth Gaussian mixture fitted to the same encoded renders as the prior: a guide
        to where realistic latents lie that a search can follow, not the exact density of
        ``sample_prior`` (whose kernels are too narrow to guide a search).
        """
        return self.density.log_prob(self._check_z(z))

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            weights=str(self.weights),
            training_bias=json.loads(self.metadata.get("bias", "null")),
            train_config=json.loads(self.metadata.get("train_config", "null")),
        )
        return out


def load_shapes_generator(*, device: str | torch.device = "cpu", weights: str | Path | None = None) -> ShapesGenerator:
    """Loads the shipped shapes generator (decoder + prior) from safetensors.

    Args:
        device: Torch device, e.g. "cpu" or "cuda".
        weights: A .safetensors file written by ``python -m core.shapes.train generator``;
            defaults to ``assets/shapes/generator.safetensors``.

    Returns:
        A :class:`ShapesGenerator`.

    Raises:
        WeightsNotFoundError: the weight file is missing (the message names the retrain command).
    """
    path = Path(weights) if weights is not None else GENERATOR_WEIGHTS
    tensors, meta = read_weights(path, kind="generator")
    cfg = config_from_meta(meta, VAEConfig)
    has_encoder = any(k.startswith("encoder.") for k in tensors)
    vae = ShapesVAE(cfg, with_encoder=has_encoder)
    for part in ("encoder", "decoder") if has_encoder else ("decoder",):
        getattr(vae, part).load_state_dict({k[len(part) + 1 :]: v for k, v in tensors.items() if k.startswith(part + ".")})
    prior = KernelPrior(cfg.prior_kernels, cfg.latent_dim)
    prior.load_state_dict({k[len("prior.") :]: v for k, v in tensors.items() if k.startswith("prior.")})
    density = GaussianMixturePrior(cfg.gmm_components, cfg.latent_dim)
    density.load_state_dict({k[len("density.") :]: v for k, v in tensors.items() if k.startswith("density.")})
    return ShapesGenerator(vae=vae, prior=prior, density=density, metadata=meta, weights=path, device=torch.device(device))


def generator_available() -> tuple[bool, str]:
    """Whether the shipped generator weights are present (registry availability hook)."""
    return availability(GENERATOR_WEIGHTS, "generator")
