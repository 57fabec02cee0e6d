"""Truthful balance: does the exported dataset show what it claims? Judged, not scored.

    python benchmarks/truthful_balance.py                                  # the issue's grid
    python benchmarks/truthful_balance.py --presets "colour x shape" --evaluations 3000 --seeds 0

For each preset, budget and seed: one search (the product's defaults) and the product's
exports (:func:`core.export.export_balanced`):

- a 2 x 2 export of ``--images`` images: per folder, the share of images the independent
  judge finds one clean shape on the claimed side of both measures, for QD, plain random
  sampling and balanced random sampling (the random samples through the same selection);
  the share that is not a clean shape; judge-verified images of the rare combinations (blue
  triangles and red squares, colour x shape only) for QD and balanced random;
- a 10 x 10 export of the same size: the not-clean share and the Vendi score of QD and both
  baselines.

The judge never guides the search; the scorer's own figures are not used here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import core  # noqa: E402,F401  (torchvision shim)
from core.config import PRESETS, RunConfig  # noqa: E402
from core.export import SIDES, export_balanced  # noqa: E402
from core.models import get_models  # noqa: E402
from core.search import run_search  # noqa: E402

RARE = {"colour x shape": ("b0_1", "b1_0")}  # blue triangle, red square (red vs blue x triangle vs square)
SIDE_SHORT = {"qd": "QD", "balanced_random": "bal.rnd", "random": "random"}


def _share(entry: dict) -> str:
    return f"{100 * entry['agree'] / entry['checked']:.0f}%" if entry.get("checked") else "-"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["colour x shape", "size x colour"], choices=list(PRESETS))
    p.add_argument("--evaluations", type=int, nargs="+", default=[3000, 10000])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--algorithm", default=None, help="default: the generator's")
    args = p.parse_args()
    t0 = time.perf_counter()
    rows = []
    for preset in args.presets:
        for evaluations in args.evaluations:
            for seed in args.seeds:
                config = RunConfig(measures=PRESETS[preset], evaluations=evaluations, seed=seed, algorithm=args.algorithm)
                generator, scorer = get_models(config)
                with tempfile.TemporaryDirectory() as tmp:
                    t = time.perf_counter()
                    run = run_search(config, run_dir=Path(tmp) / "run", generator=generator, scorer=scorer)
                    search_s = time.perf_counter() - t
                    two = export_balanced(run, images=args.images, bins=2, out=Path(tmp) / "2x2.zip", generator=generator, scorer=scorer)
                    ten = export_balanced(run, images=args.images, bins=10, out=Path(tmp) / "10x10.zip", generator=generator, scorer=scorer)
                rows.append((preset, evaluations, seed, search_s, two, ten))
                print_row(preset, evaluations, seed, search_s, two, ten)
    print_summary(rows)
    print(f"\n{len(rows)} runs in {time.perf_counter() - t0:.0f} s")


def print_row(preset, evaluations, seed, search_s, two, ten) -> None:
    folders = sorted(set().union(*(two.judge[s].per_bin for s in SIDES)))
    print(f"\n== {preset}, {evaluations} evaluations, seed {seed} (search {search_s:.0f} s; algorithm {two.card.split('Algorithm: ')[1].split(' ')[0]}) ==")
    print("2 x 2 export: images / judge agrees on both attributes, per folder")
    header = f"{'':10s}" + "".join(f"{f:>16s}" for f in folders) + f"{'all':>16s}{'not clean':>11s}"
    print(header)
    for side in SIDES:
        rep = two.judge[side]
        cells = "".join(f"{rep.per_bin.get(f, {}).get('images', 0):>7d} / {_share(rep.per_bin.get(f, {})):>5s} " for f in folders)
        agree = "-" if rep.agreement is None else f"{100 * rep.agreement:.0f}%"
        nc = "-" if rep.not_clean_share is None else f"{100 * rep.not_clean_share:.1f}%"
        print(f"{SIDE_SHORT[side]:10s}{cells}{rep.images:>7d} / {agree:>5s}  {nc:>9s}")
    if preset in RARE:
        got = {s: sum(two.judge[s].per_bin.get(f, {}).get("agree", 0) for f in RARE[preset]) for s in ("qd", "balanced_random")}
        ratio = got["qd"] / got["balanced_random"] if got["balanced_random"] else float("inf")
        print(f"judge-verified rare images (blue triangles + red squares): QD {got['qd']} vs balanced random "
              f"{got['balanced_random']} ({ratio:.1f}x)")
    m = ten.metrics
    print("10 x 10 export: " + "; ".join(
        f"{SIDE_SHORT[s]} {m[s]['images']} images, not clean {100 * (m[s]['judge_not_clean'] or 0):.1f}%, Vendi {m[s]['vendi']:.2f}"
        for s in SIDES
    ))


def print_summary(rows) -> None:
    print("\n== Summary (each cell: min / mean over seeds) ==")
    print(f"{'preset':16s}{'evals':>7s}  {'QD worst folder':>16s}{'QD not clean':>14s}{'bal.rnd worst':>15s}{'rare QD/bal.rnd':>17s}"
          f"{'10x10 not clean QD':>20s}{'Vendi QD / random':>20s}")
    keys = sorted({(r[0], r[1]) for r in rows}, key=lambda k: (k[0], k[1]))
    for preset, evaluations in keys:
        group = [r for r in rows if r[0] == preset and r[1] == evaluations]

        def worst(two, side):
            vals = [e["agree"] / e["checked"] for e in two.judge[side].per_bin.values() if e["checked"]]
            return min(vals) if vals else float("nan")

        qd_worst = [worst(r[4], "qd") for r in group]
        br_worst = [worst(r[4], "balanced_random") for r in group]
        nc = [r[4].judge["qd"].not_clean_share for r in group]
        nc10 = [r[5].metrics["qd"]["judge_not_clean"] for r in group]
        vendi = [(r[5].metrics["qd"]["vendi"], r[5].metrics["random"]["vendi"]) for r in group]
        rare = "-"
        if preset in RARE:
            ratios = []
            for r in group:
                q = sum(r[4].judge["qd"].per_bin.get(f, {}).get("agree", 0) for f in RARE[preset])
                b = sum(r[4].judge["balanced_random"].per_bin.get(f, {}).get("agree", 0) for f in RARE[preset])
                ratios.append(q / b if b else float("inf"))
            rare = f"{min(ratios):.1f}x / {np.mean(ratios):.1f}x"
        print(f"{preset:16s}{evaluations:>7d}  {min(qd_worst):>7.0%} / {np.mean(qd_worst):>5.0%}"
              f"{min(nc):>6.1%} / {np.mean(nc):>4.1%} {min(br_worst):>6.0%} / {np.mean(br_worst):>5.0%}{rare:>17s}"
              f"{np.mean(nc10):>19.1%} {np.mean([v[0] for v in vendi]):>9.2f} / {np.mean([v[1] for v in vendi]):.2f}")


if __name__ == "__main__":
    main()
