"""Model code of the shapes world (no I/O): the VAE generator and the dual-encoder scorer.

Architectures are described by small frozen config dataclasses that are saved as JSON in the
safetensors header, so a weight file carries what is needed to rebuild its model.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "VAEConfig",
    "ShapesVAE",
    "GaussianMixturePrior",
    "KernelPrior",
    "ScorerConfig",
    "ImageEncoder",
    "TextEncoder",
    "DualEncoder",
]


# ---------------------------------------------------------------------------------------------
# Generator: a small conv VAE whose decoder is modulated by z (FiLM) in its last block
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 12  # size of z
    image_size: int = 64  # side of rendered images
    enc_channels: tuple[int, ...] = (32, 64, 128)  # strided conv widths after a 2x pixel-unshuffle
    dec_channels: tuple[int, ...] = (128, 64, 32, 32)  # widths at image_size / 16, / 8, / 4, / 2
    gmm_components: int = 96  # components of the smooth density (Gaussian mixture) of z
    prior_kernels: int = 4096  # components of the sampling prior (one per encoded training render)


class _Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.PixelUnshuffle(2)]  # (n, 12, H/2, W/2), lossless
        c_in = 12
        for c in cfg.enc_channels:
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.GELU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        side = cfg.image_size // 2 ** (len(cfg.enc_channels) + 1)
        self.head = nn.Linear(c_in * side * side, 2 * cfg.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x * 2 - 1).flatten(1)  # (n, c*side*side)
        mu, logvar = self.head(h).chunk(2, dim=-1)  # (n, d) each
        return mu, logvar.clamp(-12, 6)


class _Decoder(nn.Module):
    """z -> 4x4 features -> (upsample, conv) blocks to half resolution -> FiLM(z) ->
    a conv to 4x3 channels -> pixel shuffle to full resolution (no full-resolution conv,
    which is what keeps it fast on a CPU)."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = cfg.dec_channels
        self.side = cfg.image_size // 2 ** len(ch)
        self.fc = nn.Linear(cfg.latent_dim, ch[0] * self.side * self.side)
        self.blocks = nn.ModuleList(
            nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(len(ch) - 1)
        )
        self.film = nn.Linear(cfg.latent_dim, 2 * ch[-1])  # z -> (scale, shift) of last block
        self.out = nn.Conv2d(ch[-1], 3 * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), -1, self.side, self.side)  # (n, c0, s, s)
        h = F.gelu(h)
        for block in self.blocks:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = F.gelu(block(h))  # (n, c, 2s, 2s)
        gamma, beta = self.film(z).chunk(2, dim=-1)  # (n, c_last) each
        h = F.gelu(h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None])  # (n, c, H/2, W/2)
        return torch.sigmoid(self.shuffle(self.out(h)))  # (n, 3, H, W) in [0, 1]


class ShapesVAE(nn.Module):
    """Encoder (training only) and FiLM decoder."""

    def __init__(self, cfg: VAEConfig, *, with_encoder: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = _Encoder(cfg) if with_encoder else None
        self.decoder = _Decoder(cfg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, mu, logvar for images x (n, 3, H, W) in [0, 1]."""
        assert self.encoder is not None, "encoder dropped from this model"
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(z), mu, logvar


class KernelPrior(nn.Module):
    """A diagonal-covariance Gaussian mixture over z with many components, stored as buffers.

    The shipped sampling prior is a kernel estimate of the VAE's aggregate posterior: one component per
    encoded training render, centred on its posterior mean, with the posterior's standard
    deviations widened by a bandwidth (see ``core.shapes.train.fit_prior``).

    Buffers: ``weights`` (K,), ``means`` (K, d), ``scales`` (K, d) (standard deviations).
    """

    def __init__(self, components: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, dim))
        self.register_buffer("scales", torch.ones(components, dim))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, d) samples, a pure function of ``generator``'s state (drawn on CPU)."""
        comp = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.means.shape[1], generator=generator)  # (n, d)
        return self.means.cpu()[comp] + self.scales.cpu()[comp] * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(n,) log density of z (n, d), differentiable in z.

        The squared Mahalanobis distances to all K components come from three matrix
        products, so memory is O(n K), not O(n K d).
        """
        prec = self.scales.to(z.dtype).pow(-2)  # (K, d)
        means = self.means.to(z.dtype)
        maha = (z * z) @ prec.T - 2.0 * z @ (means * prec).T + (means * means * prec).sum(-1)  # (n, K)
        maha = maha.clamp_min(0.0)
        d = z.shape[1]
        log_norm = -torch.log(self.scales.to(z.dtype)).sum(-1) - 0.5 * d * math.log(2 * math.pi)  # (K,)
        return torch.logsumexp(-0.5 * maha + log_norm + torch.log(self.weights.to(z.dtype)), dim=-1)


class GaussianMixturePrior(nn.Module):
    """A full-covariance Gaussian mixture over z with few components, stored as buffers.

    The shipped generator uses one as a smooth density of its latents (the search's realism
    term); see ``core.shapes.train.fit_density``.

    Buffers: ``weights`` (K,), ``means`` (K, d), ``scale_tril`` (K, d, d) (Cholesky factors
    of the covariances).
    """

    def __init__(self, components: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, dim))
        self.register_buffer("scale_tril", torch.eye(dim).repeat(components, 1, 1))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, d) samples, a pure function of ``generator``'s state (drawn on CPU)."""
        comp = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.means.shape[1], generator=generator)  # (n, d)
        means, tril = self.means.cpu()[comp], self.scale_tril.cpu()[comp]
        return means + (tril @ eps[:, :, None])[:, :, 0]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(n,) log density of z (n, d), differentiable in z."""
        diff = z[:, None, :] - self.means[None]  # (n, K, d)
        tril = self.scale_tril[None].expand(len(z), -1, -1, -1)
        sol = torch.linalg.solve_triangular(tril, diff[..., None], upper=False)[..., 0]  # (n, K, d)
        maha = (sol**2).sum(-1)  # (n, K)
        logdet = torch.log(torch.diagonal(self.scale_tril, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        d = z.shape[1]
        log_comp = -0.5 * maha - logdet - 0.5 * d * torch.log(torch.tensor(2 * torch.pi, dtype=z.dtype))
        return torch.logsumexp(log_comp + torch.log(self.weights), dim=-1)


# ---------------------------------------------------------------------------------------------
# Scorer: a small CLIP-like dual encoder
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScorerConfig:
    embed_dim: int = 64  # size of the joint embedding
    image_size: int = 64  # images are resized to this side before encoding
    conv_channels: tuple[int, ...] = (16, 32, 64, 128)  # strided conv widths, 64 -> 4
    vocab_size: int = 33  # number of canonical tokens (set from vocab.TOKENS)
    max_tokens: int = 12  # tokens per phrase
    text_width: int = 64  # transformer width
    text_layers: int = 2  # transformer layers
    text_heads: int = 4  # attention heads


class ImageEncoder(nn.Module):
    def __init__(self, cfg: ScorerConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(cfg.conv_channels):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(c_in, c, k, stride=2, padding=k // 2), nn.GELU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * c_in, 128), nn.GELU(), nn.Linear(128, cfg.embed_dim))
        self.image_size = cfg.image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) in [0, 1] -> (n, embed_dim), not normalised."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True, align_corners=False)
        h = self.conv((x - 0.5) * 4)  # (n, c, 4, 4)
        h = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)  # (n, 2c)
        return self.head(h)


class TextEncoder(nn.Module):
    def __init__(self, cfg: ScorerConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.pos = nn.Parameter(torch.zeros(cfg.max_tokens, cfg.text_width))
        layer = nn.TransformerEncoderLayer(
            cfg.text_width, cfg.text_heads, 2 * cfg.text_width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.text_width)
        self.proj = nn.Linear(cfg.text_width, cfg.embed_dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask (k, T) -> (k, embed_dim), not normalised; mask True = real token."""
        h = self.tok(ids) + self.pos[: ids.shape[1]]  # (k, T, w)
        h = self.transformer(h, src_key_padding_mask=~mask)
        m = mask[..., None].to(h.dtype)
        h = (self.norm(h) * m).sum(1) / m.sum(1).clamp_min(1.0)  # masked mean, (k, w)
        return self.proj(h)


class DualEncoder(nn.Module):
    """Image and text encoders plus a learned logit scale (CLIP-style)."""

    def __init__(self, cfg: ScorerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.image = ImageEncoder(cfg)
        self.text = TextEncoder(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(2.66))  # log(1/0.07)

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(x), dim=-1)

    def embed_tokens(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(ids, mask), dim=-1)
