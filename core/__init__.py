"""QDGS Studio engine: generators, scorers, measures, search, metrics, export, runs.

This package never imports gradio or plotly.

    from core import load_generator, load_scorer
    g = load_generator("shapes")
    z = g.sample_prior(8, seed=0)      # (8, g.latent_dim)
    x = g.render(z)                    # (8, 3, H, W) in [0, 1]
    s = load_scorer("shapes")
    e = s.embed_images(x)              # (8, D), unit norm
"""

from ._torchvision_compat import ensure_torchvision

ensure_torchvision()  # before anything imports torchvision (see that module)

from .errors import InputError, QDGSError, StoppedError, WeightsNotFoundError
from .interfaces import Generator, Scorer
from .registry import (
    generator_entries,
    load_generator,
    load_scorer,
    register_generator,
    register_scorer,
    scorer_entries,
)

# Built-in registrations. Factories are imported lazily, on load.
register_generator(
    "shapes",
    "core.shapes.generator:load_shapes_generator",
    "Built-in shapes world: a small VAE trained on biased renders (offline, CPU)",
    availability="core.shapes.generator:generator_available",
)
register_scorer(
    "shapes",
    "core.shapes.scorer:load_shapes_scorer",
    "Built-in shapes text-image model (offline, CPU)",
    availability="core.shapes.scorer:scorer_available",
)
# Real models (issue 5): weights from the local Hugging Face cache or a path, never downloaded.
register_generator(
    "sd-turbo",
    "core.real.diffusion_generator:load_diffusion_generator",
    "Few-step diffusers text-to-image model (default stabilityai/sd-turbo), searched over its initial noise",
    availability="core.real.hub:sd_turbo_available",
)
register_scorer(
    "openclip",
    "core.real.openclip_scorer:load_openclip_scorer",
    "open_clip text-image model (default ViT-B-32, LAION-2B)",
    availability="core.real.hub:openclip_available",
)

__all__ = [
    "Generator",
    "Scorer",
    "InputError",
    "QDGSError",
    "StoppedError",
    "WeightsNotFoundError",
    "load_generator",
    "load_scorer",
    "register_generator",
    "register_scorer",
    "generator_entries",
    "scorer_entries",
]
