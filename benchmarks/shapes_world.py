"""Figures of the built-in shapes world (issue 2): scorer accuracy, hue sweep, prior bias,
sample quality, speed and weight sizes.

    python benchmarks/shapes_world.py                 # everything
    python benchmarks/shapes_world.py --only scorer   # scorer figures only

Held-out images are rendered from seeds the training never uses. "PIL" images are drawn by
a different renderer (PIL ImageDraw polygons and ellipses, drawn 4x larger and downsampled
with a box filter) to check that the scorer did not learn our renderer's quirks.
"""

from __future__ import annotations

import argparse
import colorsys
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core  # noqa: E402,F401  (torchvision shim)
from core.registry import generator_defaults  # noqa: E402
from core.shapes import world  # noqa: E402
from core.shapes.generator import load_shapes_generator  # noqa: E402
from core.shapes.scorer import load_shapes_scorer  # noqa: E402

N = 1000  # held-out images per check
SEED = 424242  # never used by training (training uses seeds 0.. and 10_000..)
THREE_SHAPES = ("circle", "square", "triangle")


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def embed(scorer, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([scorer.embed_images(x[i : i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def classify(scorer, emb: torch.Tensor, classes, template: str) -> np.ndarray:
    t = scorer.embed_texts([template.format(c) for c in classes])
    return np.asarray(classes, dtype=object)[(emb @ t.T).argmax(-1).numpy()]


# --- a second, independent renderer -----------------------------------------------------------


def pil_render(shapes, hues, sizes, rng: np.random.Generator, *, side: int = 64, ss: int = 4) -> np.ndarray:
    """Draws one filled shape per image with PIL; returns float32 (n, side, side, 3)."""
    from PIL import Image, ImageDraw

    out = np.empty((len(shapes), side, side, 3), dtype=np.float32)
    big = side * ss
    for i, (shape, hue, size) in enumerate(zip(shapes, hues, sizes)):
        img = Image.new("RGB", (big, big), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        s, v = rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0)
        colour = tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, s, v))
        r = size * big / 2
        room = max(0.0, big / 2 - r - 2)
        cx, cy = big / 2 + rng.uniform(-1, 1) * min(room, 0.12 * big), big / 2 + rng.uniform(-1, 1) * min(room, 0.12 * big)
        if shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            sides = {"square": 4, "triangle": 3}[shape]
            draw.regular_polygon((cx, cy, r), sides, rotation=float(rng.uniform(0, 360)), fill=colour)
        out[i] = np.asarray(img.resize((side, side), Image.BOX), dtype=np.float32) / 255.0
    return out


def named_hues(names, rng: np.random.Generator) -> np.ndarray:
    return world._named_hue(np.asarray(names, dtype=object), rng)


# --- checks ----------------------------------------------------------------------------------


def scorer_checks(scorer) -> None:
    rng = np.random.default_rng(SEED)
    print("== Scorer zero-shot accuracy (1,000 held-out images per check) ==")
    print(f"{'check':28s} {'ours':>7s} {'PIL':>7s}")

    def run(name, classes, template, make):
        accs = []
        for renderer in ("ours", "pil"):
            images, labels = make(renderer)
            pred = classify(scorer, embed(scorer, to_tensor(images)), classes, template)
            accs.append((pred == labels).mean())
        print(f"{name:28s} {100 * accs[0]:6.1f}% {100 * accs[1]:6.1f}%")

    def colour_set(colours):
        def make(renderer):
            names = np.asarray(colours, dtype=object)[rng.integers(len(colours), size=N)]
            if renderer == "ours":
                a = world.sample_attributes(N, bias=world.UNBIASED, rng=rng).replace(hue=named_hues(names, rng))
                return world.render(a), a.colour_names()
            shapes = np.asarray(THREE_SHAPES)[rng.integers(3, size=N)]
            return pil_render(shapes, named_hues(names, rng), rng.uniform(0.22, 0.85, size=N), rng), names

        return make

    def shape_set(renderer):
        if renderer == "ours":
            a = world.sample_attributes(N, bias=world.UNBIASED, rng=rng)
            return world.render(a), a.shape_names()
        shapes = np.asarray(THREE_SHAPES, dtype=object)[rng.integers(3, size=N)]
        hues = named_hues(np.asarray(list(world.COLOURS), dtype=object)[rng.integers(8, size=N)], rng)
        return pil_render(shapes, hues, rng.uniform(0.22, 0.85, size=N), rng), shapes

    def size_set(renderer):
        names = np.asarray(["small", "large"], dtype=object)[rng.integers(2, size=N)]
        sizes = np.where(names == "small", rng.uniform(*world.SIZES["small"], size=N), rng.uniform(*world.SIZES["large"], size=N))
        if renderer == "ours":
            a = world.sample_attributes(N, bias=world.UNBIASED, rng=rng)
            room = np.clip((1 - sizes) / 2 - 0.02, 0, world.MAX_OFFSET)
            a = a.replace(size=sizes, dx=rng.uniform(-1, 1, N) * room, dy=rng.uniform(-1, 1, N) * room)
            return world.render(a), a.size_names()
        shapes = np.asarray(THREE_SHAPES)[rng.integers(3, size=N)]
        hues = named_hues(np.asarray(list(world.COLOURS), dtype=object)[rng.integers(8, size=N)], rng)
        return pil_render(shapes, hues, sizes, rng), names

    run("red vs blue", ("red", "blue"), "a {} shape", colour_set(("red", "blue")))
    run("green vs purple", ("green", "purple"), "a {} shape", colour_set(("green", "purple")))
    run("8 named colours", tuple(world.COLOURS), "a {} shape", colour_set(tuple(world.COLOURS)))
    run("shape: circle/square/tri", THREE_SHAPES, "a {}", shape_set)
    run("size: small vs large", ("small", "large"), "a {} shape", size_set)

    # Synonyms and templates on our renders.
    a = world.sample_attributes(N, bias=world.UNBIASED, rng=rng)
    emb = embed(scorer, to_tensor(world.render(a)))
    syn = {"circle": "a photo of a round disc", "square": "a picture of a box", "triangle": "a shape with 3 edges"}
    pred = classify(scorer, emb, list(syn.values()), "{}")
    inv = {v: k for k, v in syn.items()}
    print(f"{'shape via synonyms':28s} {100 * (np.array([inv[p] for p in pred]) == a.shape_names()).mean():6.1f}%   ({' / '.join(syn.values())})")

    hue_sweep(scorer)
    quality_checks(scorer)


@torch.no_grad()
def measure(scorer, emb: torch.Tensor, positive: str, negative: str) -> np.ndarray:
    t = scorer.embed_texts([positive, negative])
    return (emb @ t[0] - emb @ t[1]).numpy()


def hue_sweep(scorer, steps: int = 21, per_hue: int = 100) -> None:
    print("\n== Hue sweep red -> pink -> purple -> blue: m = sim('a red shape') - sim('a blue shape') ==")
    rng = np.random.default_rng(SEED + 1)
    base = world.sample_attributes(per_hue, bias=world.UNBIASED, rng=rng)
    start, stop = 1.0, world.COLOURS["blue"]  # 360 degrees (red) down to 230 (blue)
    means, mono = [], 0
    per_image = []
    for k in range(steps):
        hue = start + (stop - start) * k / (steps - 1)
        emb = embed(scorer, to_tensor(world.render(base.replace(hue=np.full(per_hue, hue % 1.0)))))
        m = measure(scorer, emb, "a red shape", "a blue shape")
        per_image.append(m)
        means.append(float(m.mean()))
        print(f"hue {360 * (hue % 1.0):6.1f} deg ({world.hue_to_colour(np.array([hue % 1.0]))[0]:6s}) mean m = {means[-1]:+.4f}")
    per_image = np.stack(per_image)  # (steps, per_hue)
    mono = np.all(np.diff(per_image, axis=0) < 0, axis=0).mean()
    print(f"mean curve strictly decreasing: {bool(np.all(np.diff(means) < 0))}; "
          f"images whose own curve is strictly decreasing: {100 * mono:.0f}%")


def quality_checks(scorer) -> None:
    pair = generator_defaults("shapes").objective
    print(f"\n== Default objective '{pair.positive}' vs '{pair.negative}' by image kind ==")
    rng = np.random.default_rng(SEED + 2)
    base = dict(level=None, shapes=world.SHAPES, named_hues=False)
    kinds = {
        "clean": world.BiasSpec(**base),
        "pale": world.BiasSpec(**base, pale_prob=1.0),
        "grey": world.BiasSpec(**base, grey_prob=1.0),
        "blurry": world.BiasSpec(**base, blur_prob=1.0),
        "smudge": world.BiasSpec(**base, smudge_prob=1.0),
        "several": world.BiasSpec(**base, several_prob=1.0),
    }
    for name, spec in kinds.items():
        a = world.sample_attributes(500, bias=spec, rng=rng)
        m = measure(scorer, embed(scorer, to_tensor(world.render(a))), pair.positive, pair.negative)
        print(f"{name:8s} mean {m.mean():+.3f}  5th-95th pct [{np.percentile(m, 5):+.3f}, {np.percentile(m, 95):+.3f}]  > 0: {100 * (m > 0).mean():5.1f}%")


@torch.no_grad()
def generator_checks(gen, scorer, *, n: int = 10_000, grid: Path) -> None:
    bias = gen.describe()["training_bias"]["level"]
    print(f"\n== Generator: {n:,} prior samples classified by the scorer (training bias {bias}) ==")
    z = gen.sample_prior(n, seed=SEED)
    emb = torch.cat([scorer.embed_images(gen.render(z[i : i + 500])) for i in range(0, n, 500)])
    rng = np.random.default_rng(SEED + 3)
    real = world.sample_attributes(n, bias=gen.describe()["train_config"]["bias"], rng=rng)
    emb_real = embed(scorer, to_tensor(world.render(real)))
    # "Clean single shape" criterion: the default objective above a threshold chosen on real
    # renders to separate clean shapes from degraded ones (pale, grey, blurry, smudge, several;
    # equal numbers of each), maximising balanced accuracy.
    pair = generator_defaults("shapes").objective
    clean = world.sample_attributes(2500, bias=world.BiasSpec(level=None, shapes=world.SHAPES), rng=rng)
    degraded = world.sample_attributes(
        2500,
        bias=world.BiasSpec(level=None, shapes=world.SHAPES, pale_prob=0.2, grey_prob=0.2, blur_prob=0.2, smudge_prob=0.2, several_prob=0.2),
        rng=rng,
    )
    q_clean = measure(scorer, embed(scorer, to_tensor(world.render(clean))), pair.positive, pair.negative)
    q_bad = measure(scorer, embed(scorer, to_tensor(world.render(degraded))), pair.positive, pair.negative)
    grid_t = np.linspace(-0.3, 0.6, 901)
    bal = [((q_clean > t).mean() + (q_bad <= t).mean()) / 2 for t in grid_t]
    thr = float(grid_t[int(np.argmax(bal))])
    print(f"clean criterion: objective > {thr:+.3f} (real renders: clean {100 * (q_clean > thr).mean():.1f}% pass, "
          f"degraded {100 * (q_bad > thr).mean():.1f}% pass)")
    for label, e in (("prior samples", emb), ("training renders", emb_real)):
        shape = classify(scorer, e, THREE_SHAPES, "a {}")
        colour = classify(scorer, e, tuple(world.COLOURS), "a {} shape")
        p_red_tri = (colour[shape == "triangle"] == "red").mean()
        p_blue_sq = (colour[shape == "square"] == "blue").mean()
        shares = {s: (shape == s).mean() for s in THREE_SHAPES}
        q = measure(scorer, e, pair.positive, pair.negative)
        print(f"{label:17s} P(red|triangle) {100 * p_red_tri:5.1f}%  P(blue|square) {100 * p_blue_sq:5.1f}%  "
              f"shapes " + " ".join(f"{k} {100 * v:4.1f}%" for k, v in shares.items())
              + f"  clean {100 * (q > thr).mean():5.1f}%  (objective mean {q.mean():+.3f})")
    t = scorer.embed_texts([f"a {s}" for s in (*world.SHAPES, "smudge")] + ["several shapes"])
    probs = torch.softmax(scorer.model.logit_scale.exp() * emb @ t.T, dim=-1)
    conf = probs[:, :4].max(-1).values.numpy()
    print(f"prior samples whose best label among 4 shapes / smudge / several is one shape with p > 0.5: {100 * (conf > 0.5).mean():.1f}%")

    from PIL import Image

    x = gen.render(gen.sample_prior(64, seed=0)).permute(0, 2, 3, 1).numpy()
    tiles = world.to_uint8(x).reshape(8, 8, 64, 64, 3).transpose(0, 2, 1, 3, 4).reshape(512, 512, 3)
    Image.fromarray(tiles).resize((1024, 1024), Image.NEAREST).save(grid)
    print(f"wrote {grid.relative_to(ROOT)} (64 prior samples, seed 0)")


def speed(gen, scorer) -> None:
    print("\n== Speed (CPU, torch threads = %d) ==" % torch.get_num_threads())
    for batch in (64, 256):
        z = gen.sample_prior(batch, seed=1)
        with torch.no_grad():
            gen.render(z)
            t = time.perf_counter()
            for _ in range(3):
                x = gen.render(z)
            dt_r = (time.perf_counter() - t) / 3
            t = time.perf_counter()
            for _ in range(3):
                scorer.embed_images(x)
            dt_e = (time.perf_counter() - t) / 3
        t = time.perf_counter()
        zz = z.clone().requires_grad_(True)
        e = scorer.embed_images(gen.render(zz))
        (e @ scorer.embed_texts(["a red shape"])[0]).sum().backward()
        dt_g = time.perf_counter() - t
        print(f"batch {batch:3d}: render {batch / dt_r:7.0f} img/s, embed {batch / dt_e:7.0f} img/s, "
              f"render+embed+backward {batch / dt_g:7.0f} img/s")


def sizes_and_load() -> None:
    files = sorted((ROOT / "assets" / "shapes").glob("*.safetensors"))
    total = sum(f.stat().st_size for f in files)
    print("\n== Weights ==")
    for f in files:
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size / 1e6:.2f} MB")
    print(f"total {total / 1e6:.2f} MB")
    t = time.perf_counter()
    load_shapes_generator()
    load_shapes_scorer()
    print(f"loading both: {time.perf_counter() - t:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("scorer", "generator", "speed"), default=None)
    parser.add_argument("--grid", type=Path, default=ROOT / "benchmarks" / "shapes_prior_grid.png")
    args = parser.parse_args()
    torch.manual_seed(0)
    scorer = load_shapes_scorer()
    if args.only in (None, "scorer"):
        scorer_checks(scorer)
    if args.only in (None, "generator", "speed"):
        gen = load_shapes_generator()
        if args.only in (None, "generator"):
            generator_checks(gen, scorer, grid=args.grid)
        if args.only in (None, "speed"):
            speed(gen, scorer)
        sizes_and_load()


if __name__ == "__main__":
    main()
