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
)
register_scorer(
    "shapes",
    "core.shapes.scorer:load_shapes_scorer",
    "Built-in shapes text-image model (offline, CPU)",
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
