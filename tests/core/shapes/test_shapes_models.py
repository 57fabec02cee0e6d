"""The shipped shapes generator and scorer through the public interface."""

import pytest
import torch

from core import load_generator, load_scorer
from core.errors import InputError, WeightsNotFoundError
from core.shapes import world
from core.shapes.generator import load_shapes_generator
from core.shapes.scorer import load_shapes_scorer


@pytest.fixture(scope="module")
def gen():
    return load_generator("shapes")


@pytest.fixture(scope="module")
def scorer():
    return load_scorer("shapes")


def test_shapes_of_outputs(gen, scorer):
    z = gen.sample_prior(6, seed=0)
    assert z.shape == (6, gen.latent_dim) and gen.latent_dim <= 16
    x = gen.render(z)
    assert x.shape == (6, 3, gen.image_size, gen.image_size)
    assert x.min() >= 0 and x.max() <= 1
    e = scorer.embed_images(x)
    t = scorer.embed_texts(["a red shape", "a tiny box"])
    assert e.shape == (6, scorer.embed_dim) and t.shape == (2, scorer.embed_dim)
    assert torch.allclose(e.norm(dim=-1), torch.ones(6), atol=1e-5)
    assert torch.allclose(t.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_prior_is_deterministic_for_a_seed(gen):
    assert torch.equal(gen.sample_prior(5, seed=3), gen.sample_prior(5, seed=3))
    assert not torch.equal(gen.sample_prior(5, seed=3), gen.sample_prior(5, seed=4))
    z = gen.sample_prior(4, seed=1)
    assert torch.equal(gen.render(z), gen.render(z))


def test_render_embed_and_log_prior_are_differentiable(gen, scorer):
    z = gen.sample_prior(3, seed=0).requires_grad_(True)
    sim = scorer.embed_images(gen.render(z)) @ scorer.embed_texts(["a red shape"])[0]
    (sim.sum() + gen.log_prior(z).sum()).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_log_prior_prefers_prior_samples(gen):
    z = gen.sample_prior(64, seed=0)
    far = z + 10.0
    assert gen.log_prior(z).shape == (64,)
    assert (gen.log_prior(z) > gen.log_prior(far)).all()


def test_embed_images_accepts_other_sizes(scorer):
    x = torch.from_numpy(world.render(world.sample_attributes(2, rng=__import__("numpy").random.default_rng(0)), size=96))
    x = x.permute(0, 3, 1, 2)
    assert scorer.embed_images(x).shape == (2, scorer.embed_dim)
    assert scorer.embed_images(torch.rand(2, 3, 40, 56)).shape == (2, scorer.embed_dim)


def test_scorer_reads_colour_and_shape(scorer):
    import numpy as np

    rng = np.random.default_rng(7)
    red_tri = world.attributes_for(8, rng=rng, shape="triangle", colour="red")
    blue_sq = world.attributes_for(8, rng=rng, shape="square", colour="blue")
    x = torch.from_numpy(world.render(world.ShapeAttributes.concat([red_tri, blue_sq]))).permute(0, 3, 1, 2)
    sims = scorer.embed_images(x) @ scorer.embed_texts(["a red triangle", "a blue square"]).T
    assert (sims[:8, 0] > sims[:8, 1]).all() and (sims[8:, 1] > sims[8:, 0]).all()


def test_alternatives_are_averaged(scorer):
    both = scorer.embed_texts(["a red shape | a big box"])[0]
    parts = scorer.embed_texts(["a red shape", "a big box"])
    assert torch.allclose(both, torch.nn.functional.normalize(parts.mean(0), dim=-1), atol=1e-6)


def test_unknown_words_are_refused(scorer):
    with pytest.raises(InputError, match=r"prompt 1: got 'a photo of nothing'.*a word the shapes scorer knows.*red, orange"):
        scorer.embed_texts(["a photo of nothing"])
    with pytest.raises(InputError, match="measure 1 positive prompt.*'zzz' has none"):
        scorer.check_prompt("a red shape | zzz", field="measure 1 positive prompt")
    scorer.check_prompt("a photo of a tiny crimson thingamajig")  # filler words are ignored


def test_bad_inputs(gen, scorer):
    with pytest.raises(InputError, match="z: got \\(2, 3\\)"):
        gen.render(torch.zeros(2, 3))
    with pytest.raises(InputError, match="images"):
        scorer.embed_images(torch.zeros(2, 64, 64))
    with pytest.raises(InputError, match="n: got -1"):
        gen.sample_prior(-1, seed=0)


def test_missing_weights_name_the_retrain_command(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=r"generator weights not found at .*python -m core.shapes.train generator"):
        load_shapes_generator(weights=tmp_path / "generator.safetensors")
    with pytest.raises(WeightsNotFoundError, match=r"scorer weights not found at .*python -m core.shapes.train scorer"):
        load_shapes_scorer(weights=tmp_path / "scorer.safetensors")


def test_describe_records_the_training_bias(gen):
    d = gen.describe()
    assert d["name"] == "shapes" and d["training_bias"]["level"] == pytest.approx(0.9)
