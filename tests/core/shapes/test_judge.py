"""The shapes judge on images drawn by hand (PIL, not the world's renderer), on the world's
renders and hybrids, and on the prompts it can read."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.shapes import world
from core.shapes.judge import ShapesJudge, read_shapes, requirements

PAIRS = [("a red shape", "a blue shape"), ("a triangle", "a square")]
RED, BLUE = (220, 30, 30), (30, 60, 220)


def _canvas(scale: int = 4) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    img = Image.new("RGB", (64 * scale, 64 * scale), "white")
    return img, ImageDraw.Draw(img), scale


def _done(img: Image.Image) -> np.ndarray:
    return np.asarray(img.resize((64, 64), Image.Resampling.BOX), dtype=np.float32) / 255.0


def red_square() -> np.ndarray:
    img, d, s = _canvas()
    d.rectangle([20 * s, 22 * s, 44 * s, 46 * s], fill=RED)  # 24 px: outer diameter 0.53 of the side
    return _done(img)


def blue_triangle() -> np.ndarray:
    img, d, s = _canvas()
    cx, cy, r = 32 * s, 33 * s, 17 * s
    pts = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in np.deg2rad([-90, 30, 150])]
    d.polygon(pts, fill=BLUE)
    return _done(img)


def blob() -> np.ndarray:
    img, d, s = _canvas()
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    radius = 14 * s * (1 + 0.35 * np.sin(3 * angles) + 0.2 * np.cos(5 * angles))
    d.polygon([(32 * s + r * np.cos(a), 32 * s + r * np.sin(a)) for a, r in zip(angles, radius)], fill=RED)
    return _done(img)


def two_shapes() -> np.ndarray:
    img, d, s = _canvas()
    d.rectangle([6 * s, 8 * s, 24 * s, 26 * s], fill=BLUE)
    d.ellipse([36 * s, 36 * s, 58 * s, 58 * s], fill=BLUE)
    return _done(img)


@pytest.fixture(scope="module")
def judge() -> ShapesJudge:
    return ShapesJudge()


def test_hand_drawn_red_square_and_blue_triangle(judge):
    v = judge.judge(np.stack([red_square(), blue_triangle()]), PAIRS)
    assert v.clean.tolist() == [True, True]
    assert v.side.tolist() == [[1, -1], [-1, 1]]  # red & square; blue & triangle
    assert v.judged == [True, True]
    assert list(v.notes) == ["medium red square", "medium blue triangle"]


def test_hand_drawn_blob_and_two_shapes_are_not_clean_subjects(judge):
    r = read_shapes(np.stack([blob(), two_shapes()]))
    assert r.clean.tolist() == [False, False]
    assert r.reason.tolist() == ["irregular outline", "several shapes"]
    v = judge.judge(np.stack([blob(), two_shapes()]), PAIRS)
    assert not v.clean.any()
    assert (v.side[:, 1] == 0).all()  # neither a triangle nor a square


def test_world_renders_and_hybrids():
    rng = np.random.default_rng(3)
    clean = world.sample_attributes(120, bias=world.BiasSpec(level=None, shapes=world.SHAPES), rng=rng)
    r = read_shapes(world.render(clean))
    assert (r.shape == clean.shape_names()).mean() >= 0.98
    assert (r.colour == clean.colour_names()).mean() >= 0.98
    hybrids = world.sample_attributes(120, bias=world.BiasSpec(level=None, shapes=world.SHAPES, morph_prob=1.0), rng=rng)
    assert hybrids.is_hybrid().all() and not hybrids.is_clean().any()
    rh = read_shapes(world.render(hybrids))
    assert (~rh.clean).mean() >= 0.9
    two = world.sample_attributes(60, bias=world.BiasSpec(level=None, two_colour_prob=1.0), rng=rng)
    assert (read_shapes(world.render(two)).colour == "mixed").mean() >= 0.9


def test_white_image_has_no_subject(judge):
    v = judge.judge(np.ones((1, 64, 64, 3), np.float32), PAIRS)
    assert not v.clean[0] and v.notes[0] == "no subject" and v.side.tolist() == [[0, 0]]


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("a tiny red box", [{"size": {"small"}, "colour": {"red"}, "shape": {"square"}}]),
        ("a shape with 3 edges | a triangle", [{"shape": {"triangle"}}, {"shape": {"triangle"}}]),
        ("a crisp clean shape", [{}]),
    ],
)
def test_requirements_read_the_scorers_words(prompt, expected):
    assert [{k: set(v) for k, v in r.items()} for r in requirements(prompt)] == expected


def test_pairs_without_colour_shape_or_size_are_not_judged(judge):
    pairs = [("a sharp shape", "a blurry shape"), ("a large shape", "a small shape")]
    assert judge.judgeable(pairs) == [False, True]
    v = judge.judge(np.stack([red_square()]), pairs)
    assert v.judged == [False, True] and v.side[0, 0] == 0
