"""The shapes judge's own accuracy on held-out renders: clean shapes, degraded ones, hybrids.

    python benchmarks/judge_accuracy.py            # 600 renders per kind, seed 123

The world renders each kind with known attributes (seeds training never uses). The judge
(:mod:`core.shapes.judge`) must name a clean shape's shape, colour and size, and find every
degraded or hybrid image not a clean shape:

- clean: circles, squares, triangles and stars of every named colour and size;
- blurry, smudge (soft blobs), several shapes, pale, grey;
- morph: an outline blended between two shapes with weight 0.35..0.65 (the world's hybrids);
  also reported by weight, including near-pure blends (weight < 0.35 or > 0.65) that are
  not labelled hybrids and which the judge may call the nearer shape;
- two colours: one half of the shape in a second hue.

Then the generator: the share of its prior samples the judge finds clean.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core import load_generator  # noqa: E402
from core.shapes import world  # noqa: E402
from core.shapes.judge import read_shapes  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=600, help="renders per kind")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--prior", type=int, default=5000, help="generator prior samples judged")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    base = dict(level=None, shapes=world.SHAPES)
    kinds = {
        "clean": world.BiasSpec(**base),
        "blurry": world.BiasSpec(**base, blur_prob=1.0),
        "smudge": world.BiasSpec(**base, smudge_prob=1.0),
        "several": world.BiasSpec(**base, several_prob=1.0),
        "pale": world.BiasSpec(**base, pale_prob=1.0),
        "grey": world.BiasSpec(**base, grey_prob=1.0),
        "morph": world.BiasSpec(**base, morph_prob=1.0),
        "two colours": world.BiasSpec(**base, two_colour_prob=1.0),
    }
    print(f"== Shapes judge on held-out renders ({args.n} per kind, seed {args.seed}) ==")
    print(f"{'kind':14s}{'correct':>9s}   what 'correct' means")
    t0 = time.perf_counter()
    judged = 0
    for name, spec in kinds.items():
        attrs = world.sample_attributes(args.n, bias=spec, rng=rng)
        reading = read_shapes(world.render(attrs))
        judged += len(attrs)
        if name == "clean":
            ok = reading.clean & (reading.shape == attrs.shape_names()) & (reading.colour == attrs.colour_names())
            sizes = (reading.size_name == attrs.size_names()).mean()
            print(f"{name:14s}{ok.mean():>9.1%}   clean, right shape and colour (size name right: {sizes:.1%})")
            for s in world.SHAPES:
                m = attrs.shape_names() == s
                print(f"  {s:12s}{ok[m].mean():>9.1%}   (n={m.sum()}, outline IoU 5th percentile {np.percentile(reading.shape_iou[m], 5):.3f})")
        else:
            print(f"{name:14s}{(~reading.clean).mean():>9.1%}   found not a clean shape")
    elapsed = time.perf_counter() - t0
    # Blends by weight, including the near-pure ones that are not hybrids by the world's label.
    attrs = world.sample_attributes(3 * args.n, bias=world.BiasSpec(**base, morph_prob=1.0), rng=rng)
    attrs = attrs.replace(morph=rng.uniform(0.1, 0.9, size=len(attrs)))
    reading = read_shapes(world.render(attrs))
    print("\nOutlines blended between two shapes, by blend weight: share the judge finds irregular")
    for lo, hi in ((0.1, 0.25), (0.25, 0.35), (0.35, 0.65), (0.65, 0.75), (0.75, 0.9)):
        m = (attrs.morph >= lo) & (attrs.morph < hi)
        print(f"  weight {lo:.2f}..{hi:.2f}: {(reading.shape[m] == 'irregular').mean():6.1%}  (n={m.sum()})")
    pairs = [tuple(sorted((world.SHAPES[a], world.SHAPES[b]))) for a, b in zip(attrs.shape, attrs.morph_shape)]
    mid = (attrs.morph >= 0.35) & (attrs.morph < 0.65)
    print("  by pair (weights 0.35..0.65):", ", ".join(
        f"{a}-{b} {np.mean([reading.shape[i] == 'irregular' for i in np.flatnonzero(mid) if pairs[i] == (a, b)]):.0%}"
        for a, b in sorted(set(pairs))
    ))
    generator = load_generator("shapes")
    with torch.no_grad():
        images = torch.cat([generator.render(z) for z in generator.sample_prior(args.prior, seed=1).split(512)])
    prior = read_shapes(images)
    reasons = {r: int((prior.reason == r).sum()) for r in sorted(set(prior.reason.tolist()) - {""})}
    print(f"\nGenerator prior samples ({args.prior}): judged clean {prior.clean.mean():.1%}; not clean: {reasons}")
    print(f"judge speed: {judged / elapsed:.0f} images/s on this machine")


if __name__ == "__main__":
    main()
