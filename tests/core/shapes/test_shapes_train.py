"""Smoke tests of the training scripts: a few steps into a temporary folder, then loaded."""

import numpy as np
import torch
from safetensors.torch import load_file

from core.shapes import train
from core.shapes.generator import load_shapes_generator
from core.shapes.scorer import load_shapes_scorer


def test_scorer_script_runs_and_is_deterministic(tmp_path):
    for name in ("a", "b"):
        train.main(["scorer", "--steps", "3", "--batch-size", "16", "--seed", "5", "--out", str(tmp_path / name)])
    a, b = (load_file(tmp_path / n / train.SCORER_FILE) for n in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    scorer = load_shapes_scorer(weights=tmp_path / "a" / train.SCORER_FILE)
    assert scorer.embed_texts(["a red shape"]).shape == (1, scorer.embed_dim)


def test_generator_script_runs_and_is_deterministic(tmp_path):
    args = ["generator", "--steps", "2", "--batch-size", "8", "--prior-fit-images", "200", "--prior-components", "4", "--seed", "5"]
    for name in ("a", "b"):
        train.main([*args, "--out", str(tmp_path / name)])
    a, b = (load_file(tmp_path / n / train.GENERATOR_FILE) for n in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {k.split(".")[0] for k in a} == {"encoder", "decoder", "prior"}
    gen = load_shapes_generator(weights=tmp_path / "a" / train.GENERATOR_FILE)
    assert gen.render(gen.sample_prior(2, seed=0)).shape == (2, 3, 64, 64)
    assert gen.prior.weights.shape == (4,)

    # The prior can be refitted from the kept encoder, leaving the decoder as it was.
    train.main(["prior", "--weights", str(tmp_path / "a" / train.GENERATOR_FILE), "--prior-fit-images", "100",
                "--prior-components", "3", "--out", str(tmp_path / "c")])
    c = load_file(tmp_path / "c" / train.GENERATOR_FILE)
    assert c["prior.weights"].shape == (3,)
    assert all(torch.equal(a[k], c[k]) for k in a if not k.startswith("prior."))


def test_caption_targets_cover_every_matching_image():
    attrs = train.world.attributes_for(4, rng=np.random.default_rng(0), shape="triangle", colour="red", size="large")
    blue = train.world.attributes_for(4, rng=np.random.default_rng(1), shape="square", colour="blue", size="small")
    both = train.world.ShapeAttributes.concat([attrs, blue])
    t = train.caption_targets(["a red shape", "a tiny box", "a photo of a large red triangle"], train.concept_scores(both))
    assert (t[0, :4] > 0.9).all() and (t[0, 4:] < 0.01).all()
    assert (t[1, 4:] > 0.5).all() and (t[1, :4] < 0.01).all()
    assert (t[2, :4] > 0.5).all() and (t[2, 4:] < 0.01).all()
