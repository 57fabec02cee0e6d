"""Tiny, randomly initialised real-model folders for tests and the CPU benchmark run (test fixtures,
kept under tests/ and out of the package; issue 10).

They have the real file layouts, so the real loading code reads them back from a path:

- :func:`save_tiny_openclip`: an open_clip folder (``open_clip_config.json`` with
  ``model_cfg`` and ``preprocess_cfg``, and ``open_clip_model.safetensors``), which
  open_clip's ``local-dir:`` schema loads.
- :func:`save_tiny_pipeline`: a diffusers ``StableDiffusionPipeline`` folder (tiny
  UNet2DConditionModel, AutoencoderKL, CLIPTextModel, a CLIPTokenizer built from open_clip's
  bundled BPE vocabulary, Euler scheduler as sd-turbo's) written with ``save_pretrained``.
- :func:`save_tiny_decoder`: an ``AutoencoderTiny`` folder matching that pipeline's latents.

Random weights make images that are noise; these exist to test code paths and shapes,
never image quality.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from core import _torchvision_compat

_torchvision_compat.ensure_torchvision()

__all__ = [
    "TINY_OPENCLIP_CONFIG",
    "TINY_OPENCLIP_JUDGE_CONFIG",
    "clip_tokenizer_from_open_clip",
    "save_tiny_decoder",
    "save_tiny_openclip",
    "save_tiny_pipeline",
]

CONTEXT_LENGTH = 77  # CLIP's text context, as in every SD tokenizer
# A small open_clip ViT: 32 px images, 8 px patches, one layer per tower.
TINY_OPENCLIP_CONFIG: dict = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
# Another tiny architecture (wider embedding, 16 px patches), e.g. a judge that is not the scorer.
TINY_OPENCLIP_JUDGE_CONFIG: dict = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
# Preprocessing recorded with it (non-default mean/std so tests can see they are read).
TINY_OPENCLIP_PREPROCESS: dict = {
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def save_tiny_openclip(folder: str | os.PathLike, *, seed: int = 0, model_cfg: dict | None = None) -> Path:
    """Writes a tiny random open_clip model folder; returns its path.

    ``model_cfg``: the architecture (default :data:`TINY_OPENCLIP_CONFIG`).
    """
    import open_clip
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = TINY_OPENCLIP_CONFIG if model_cfg is None else model_cfg
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "open_clip_model.safetensors")
    config = {"model_cfg": model_cfg, "preprocess_cfg": TINY_OPENCLIP_PREPROCESS}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    return folder


def clip_tokenizer_from_open_clip():
    """A ``transformers.CLIPTokenizer`` with CLIP's real BPE vocabulary, offline.

    ``CLIPTokenizer()`` without vocabulary files maps every word to one unknown token; this
    one takes open_clip's bundled ``bpe_simple_vocab_16e6.txt.gz`` (49,408 tokens, the same
    vocabulary as OpenAI CLIP and SD's tokenizers) and ``model_max_length`` 77.
    """
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    simple = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(token, token): index for token, index in simple.encoder.items()}
    merges = [tuple(pair) for pair, _ in sorted(simple.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CONTEXT_LENGTH)


def save_tiny_pipeline(
    folder: str | os.PathLike, *, seed: int = 0, sample_size: int = 8, variant: str | None = None
) -> Path:
    """Writes a tiny random StableDiffusionPipeline folder; returns its path.

    Latents are (4, sample_size, sample_size); the VAE upsamples x4, so images are
    ``4 * sample_size`` pixels (32 by default). ``variant="fp16"`` names the weight files
    as the fp16 variant (``*.fp16.safetensors``), as a cache holding only those would.
    """
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
        use_linear_projection=True,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=4 * sample_size,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=CONTEXT_LENGTH,
            projection_dim=16,
        )
    )
    scheduler = EulerDiscreteScheduler(  # sd-turbo's scheduler settings
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        prediction_type="epsilon",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer_from_open_clip(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, variant=variant)
    return folder


def save_tiny_decoder(folder: str | os.PathLike, *, seed: int = 0) -> Path:
    """Writes a tiny random AutoencoderTiny (x4 upsampling, 4 latent channels); returns its path."""
    from diffusers import AutoencoderTiny

    folder = Path(folder)
    torch.manual_seed(seed)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8),
        decoder_block_out_channels=(8, 8, 8),
        num_encoder_blocks=(1, 1, 1),
        num_decoder_blocks=(1, 1, 1),
        latent_channels=4,
    ).save_pretrained(folder)
    return folder
