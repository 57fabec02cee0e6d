"""The procedural shapes world: attribute sampling, bias presets, labels and rendering."""

import numpy as np
import pytest

from core.errors import InputError
from core.shapes import world


def test_render_shape_range_and_background():
    attrs = world.sample_attributes(12, bias=world.SCORER_WORLD, rng=np.random.default_rng(0))
    images = world.render(attrs)
    assert images.shape == (12, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.allclose(images[:, 0, 0], world.BACKGROUND)  # corners are plain background
    assert world.render(attrs, size=32).shape == (12, 32, 32, 3)


def test_sampling_is_a_pure_function_of_the_seed():
    a = world.sample_attributes(50, bias="0.90", rng=np.random.default_rng(3))
    b = world.sample_attributes(50, bias="0.90", rng=np.random.default_rng(3))
    c = world.sample_attributes(50, bias="0.90", rng=np.random.default_rng(4))
    assert np.array_equal(world.render(a), world.render(b))
    assert not np.array_equal(a.hue, c.hue)


@pytest.mark.parametrize("key", sorted(world.BIAS_PRESETS))
def test_bias_presets_hold_their_level(key):
    level = world.BIAS_PRESETS[key].level
    attrs = world.sample_attributes(20_000, bias=key, rng=np.random.default_rng(1))
    labels = attrs.labels()
    tri, sq = labels["shape"] == "triangle", labels["shape"] == "square"
    assert abs((labels["colour"][tri] == "red").mean() - level) < 0.02
    assert abs((labels["colour"][sq] == "blue").mean() - level) < 0.02
    circles = labels["colour"][labels["shape"] == "circle"]
    assert abs((circles == "red").mean() - 1 / 8) < 0.02  # other shapes: uniform colours


def test_labels_follow_attributes():
    attrs = world.attributes_for(30, rng=np.random.default_rng(0), shape="star", colour="green", size="large")
    labels = attrs.labels()
    assert set(labels["shape"]) == {"star"} and set(labels["colour"]) == {"green"} and set(labels["size"]) == {"large"}
    assert labels["clean"].all()
    grey = attrs.replace(saturation=0.0)
    assert set(grey.colour_names()) == {"grey"} and not grey.is_clean().any()


def test_degraded_kinds_appear_in_the_scorer_world():
    attrs = world.sample_attributes(4000, bias=world.SCORER_WORLD, rng=np.random.default_rng(0))
    labels = attrs.labels()
    for key in ("pale", "blurry", "several"):
        assert 0.02 < labels[key].mean() < 0.2, key
    assert 0.02 < (labels["shape"] == "smudge").mean() < 0.2
    assert (labels["colour"] == "grey").any()


def test_bad_inputs_name_the_field():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="bias: got '0.5'"):
        world.sample_attributes(3, bias="0.5", rng=rng)
    with pytest.raises(InputError, match="bias level"):
        world.BiasSpec(level=1.5)
    with pytest.raises(InputError, match="shapes"):
        world.BiasSpec(shapes=("hexagon",))
    with pytest.raises(InputError, match="colour"):
        world.attributes_for(2, rng=rng, colour="mauve")
    with pytest.raises(InputError, match="size"):
        world.render(world.sample_attributes(1, rng=rng), size=4)
