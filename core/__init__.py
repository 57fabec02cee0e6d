"""QDGS Studio engine: generators, scorers, measures, search, metrics, export, runs.

This package never imports gradio or plotly.

    from core import load_generator, load_scorer
    g = load_generator("shapes")
    z = g.sample_prior(8, seed=0)      # (8, g.latent_dim)
    x = g.render(z)                    # (8, 3, H, W) in [0, 1]
    s = load_scorer("shapes")
    e = s.embed_images(x)              # (8, D), unit norm
"""

from .config import PromptPair
from .errors import InputError, QDGSError, StoppedError, WeightsNotFoundError
from .interfaces import Generator, Judge, Scorer, Verdicts
from .registry import (
    GeneratorDefaults,
    generator_entries,
    judge_entries,
    load_generator,
    load_judge,
    load_scorer,
    register_generator,
    register_judge,
    register_scorer,
    scorer_entries,
)

# Built-in registrations. Factories are imported lazily, on load.
register_generator(
    "shapes",
    "core.shapes.generator:load_shapes_generator",
    "Built-in shapes world: a small VAE trained on biased renders (offline, CPU)",
    availability="core.shapes.generator:generator_available",
    defaults=GeneratorDefaults(
        # Rewards a clean single subject; penalises the ways the scores can be gamed.
        objective=PromptPair(
            "a clean single shape | one shape with sharp edges",
            "a smudge | a blurry shape | several shapes | a pale grey shape | an irregular shape | a shape in mixed colours",
            label="quality",
        ),
        algorithm="jump",  # measured with the judge: benchmarks/README.md, "Truthful balance"
        judge="shapes",
        presets={
            "colour x shape": (
                PromptPair("a red shape", "a blue shape", label="red vs blue"),
                PromptPair("a triangle", "a square", label="triangle vs square"),
            ),
            "size x colour": (
                PromptPair("a large shape", "a small shape", label="large vs small"),
                PromptPair("a red shape", "a blue shape", label="red vs blue"),
            ),
            "shape x size": (
                PromptPair("a circle", "a square", label="circle vs square"),
                PromptPair("a large shape", "a small shape", label="large vs small"),
            ),
        },
        preset_scorer="shapes",
    ),
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
    defaults=GeneratorDefaults(
        objective=PromptPair(
            "a clear, detailed photo of one person | a sharp, well-lit portrait photo of a single person",
            "a blurry, distorted image | a drawing or a painting | a photo of several people | an image with no person",
            label="quality",
        ),
        algorithm="cma-maega",  # the method's algorithm; the jump emitter is unmeasured on diffusion noise
        judge="openclip",
        judge_options={"clean_prompts": [
            "a clear, detailed photo of one person",
            "a blurry, distorted image | a drawing or a painting | a photo of several people | an image with no person",
        ]},
        presets={
            # The method's four face measures.
            "faces": (
                PromptPair(
                    "a photo of a person with dark skin | a portrait of a dark-skinned person",
                    "a photo of a person with light skin | a portrait of a light-skinned person",
                    label="skin tone: dark vs light",
                ),
                PromptPair(
                    "a photo of a person with a feminine appearance | a portrait of a woman",
                    "a photo of a person with a masculine appearance | a portrait of a man",
                    label="gender presentation: feminine vs masculine",
                ),
                PromptPair(
                    "a photo of a person with long hair",
                    "a photo of a person with very short hair | a photo of a bald person",
                    label="hair length: long vs short",
                ),
                PromptPair(
                    "a photo of an old person | a portrait of an elderly person",
                    "a photo of a young person | a portrait of a young adult",
                    label="age: old vs young",
                ),
            ),
        },
        preset_scorer="openclip",
    ),
)
register_scorer(
    "openclip",
    "core.real.openclip_scorer:load_openclip_scorer",
    "open_clip text-image model (default ViT-B-32, LAION-2B)",
    availability="core.real.hub:openclip_available",
)
# Judges: never used by the search; they check exported images against the prompt pairs.
register_judge(
    "shapes",
    "core.shapes.judge:load_shapes_judge",
    "Shapes world: reads colour, outline and size off the pixels (no model)",
)
register_judge(
    "openclip",
    "core.real.openclip_judge:load_openclip_judge",
    "A second open_clip model, zero-shot on the run's prompt pairs (default ViT-B-16, LAION-2B)",
    availability="core.real.hub:openclip_judge_available",
)

__all__ = [
    "Generator",
    "Scorer",
    "Judge",
    "Verdicts",
    "load_judge",
    "register_judge",
    "judge_entries",
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
