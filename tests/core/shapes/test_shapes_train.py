"""Smoke tests of the training scripts: a few steps into a temporary folder, then loaded."""

import math

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
    prior = ["--prior-kernels", "50", "--density-fit-images", "200", "--density-components", "4"]
    args = ["generator", "--steps", "2", "--batch-size", "8", *prior, "--seed", "5"]
    for name in ("a", "b"):
        train.main([*args, "--out", str(tmp_path / name)])
    a, b = (load_file(tmp_path / n / train.GENERATOR_FILE) for n in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {k.split(".")[0] for k in a} == {"encoder", "decoder", "prior", "density"}
    gen = load_shapes_generator(weights=tmp_path / "a" / train.GENERATOR_FILE)
    assert gen.render(gen.sample_prior(2, seed=0)).shape == (2, 3, 64, 64)
    assert gen.prior.means.shape == (50, gen.latent_dim) and gen.density.weights.shape == (4,)

    # A refit from the kept encoder with the training seed gives what training wrote, and
    # other prior settings change only the prior and the density.
    train.main(["prior", "--weights", str(tmp_path / "a" / train.GENERATOR_FILE), *prior, "--seed", "5", "--out", str(tmp_path / "c")])
    c = load_file(tmp_path / "c" / train.GENERATOR_FILE)
    assert all(torch.equal(a[k], c[k]) for k in a)
    train.main(["prior", "--weights", str(tmp_path / "a" / train.GENERATOR_FILE), "--prior-kernels", "30",
                "--prior-bandwidth", "0.3", "--density-fit-images", "100", "--density-components", "3", "--out", str(tmp_path / "d")])
    d = load_file(tmp_path / "d" / train.GENERATOR_FILE)
    assert d["prior.means"].shape[0] == 30 and d["density.weights"].shape == (3,)
    assert all(torch.equal(a[k], d[k]) for k in a if k.startswith(("encoder.", "decoder.")))


def test_kernel_prior_samples_and_density_match_their_definition():
    from core.shapes.models import KernelPrior

    prior = KernelPrior(2, 3)
    prior.means.copy_(torch.tensor([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]]))
    prior.scales.copy_(torch.tensor([[1.0, 1.0, 1.0], [0.5, 0.5, 0.5]]))
    z = prior.sample(4000, torch.Generator().manual_seed(0))
    near_second = (z - 10).norm(dim=1) < 3
    assert 0.45 < near_second.float().mean() < 0.55
    assert abs(z[near_second].std().item() - 0.5) < 0.05
    q = torch.tensor([[0.3, -0.2, 0.1], [9.0, 10.5, 10.0]])
    dists = torch.distributions
    ref = torch.logsumexp(torch.stack([
        dists.Independent(dists.Normal(prior.means[k], prior.scales[k]), 1).log_prob(q) + math.log(0.5) for k in range(2)
    ]), dim=0)
    assert torch.allclose(prior.log_prob(q), ref, atol=1e-4)


def test_caption_targets_cover_every_matching_image():
    attrs = train.world.attributes_for(4, rng=np.random.default_rng(0), shape="triangle", colour="red", size="large")
    blue = train.world.attributes_for(4, rng=np.random.default_rng(1), shape="square", colour="blue", size="small")
    both = train.world.ShapeAttributes.concat([attrs, blue])
    t = train.caption_targets(["a red shape", "a tiny box", "a photo of a large red triangle"], train.concept_scores(both))
    assert (t[0, :4] > 0.9).all() and (t[0, 4:] < 0.01).all()
    assert (t[1, 4:] > 0.5).all() and (t[1, :4] < 0.01).all()
    assert (t[2, :4] > 0.5).all() and (t[2, 4:] < 0.01).all()
