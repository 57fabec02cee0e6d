"""QD versus random sampling at equal budget: coverage, export uniformity, seconds.

    python benchmarks/qd_vs_random.py                      # shapes world, 2 measures, its default algorithm
    python benchmarks/qd_vs_random.py --algorithm cma-mae --seeds 0 1 2

Runs the search (with its random baseline) and a balanced export of ``--images`` images
over ``--bins`` bins per measure, and prints, for QD and for random sampling of the same
size: archive coverage, the export's normalised entropy over the bins, and the seconds
taken. Targets (issue 3, 2 CPU cores): QD export entropy >= 0.97, QD coverage >= 3x
random's, search + export <= 60 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import core  # noqa: E402,F401  (torchvision shim)
from core.config import PRESETS, PromptPair, RunConfig  # noqa: E402
from core.export import export_balanced, select_for_run  # noqa: E402
from core.measures import Evaluator  # noqa: E402
from core.models import get_models  # noqa: E402
from core.search import SearchSettings, run_search  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="shapes")
    p.add_argument("--scorer", default="shapes")
    p.add_argument("--stand-in", action="store_true", help="use the tests' stand-in models (no weights)")
    p.add_argument("--preset", default="colour x shape", choices=list(PRESETS))
    p.add_argument("--algorithm", default=None, help="default: the generator's (shapes: jump)")
    p.add_argument("--evaluations", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=RunConfig.batch_size)
    p.add_argument("--emitters", type=int, default=RunConfig.emitters)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--resolution", type=int, default=RunConfig.archive_resolution, help="archive cells per measure")
    p.add_argument("--quality", type=float, default=None, help="export quality threshold (default: the export's)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="override SearchSettings fields, e.g. archive_learning_rate=0.05 evaluator.realism_weight=0")
    args = p.parse_args()
    settings = SearchSettings()
    for item in args.set:
        key, value = item.split("=", 1)
        if key.startswith("evaluator."):
            ev = dataclasses.replace(settings.evaluator, **{key[10:]: type(getattr(settings.evaluator, key[10:]))(float(value))})
            settings = dataclasses.replace(settings, evaluator=ev)
        else:
            settings = dataclasses.replace(settings, **{key: type(getattr(settings, key))(float(value))})
    if args.set:
        print("settings:", settings)

    measures = PRESETS[args.preset]
    objective = None
    if args.stand_in:
        from tests.core import stand_ins

        stand_ins.register()
        args.generator = args.scorer = stand_ins.NAME
        measures = (PromptPair("a red shape", "a blue shape"), PromptPair("a triangle", "a square"))
        objective = PromptPair("a clean shape", "a smudge")

    t0 = time.perf_counter()
    probe = RunConfig(measures=measures, generator=args.generator, scorer=args.scorer)
    generator, scorer = get_models(probe)
    load_s = time.perf_counter() - t0
    print(f"models loaded in {load_s:.2f} s ({args.generator} / {args.scorer}); algorithm {args.algorithm or 'generator default'}; "
          f"{args.evaluations} evaluations; export {args.images} images over {args.bins} bins per measure")
    header = ("seed", "qd_cov", "rnd_cov", "cov_x", "qd_H", "rnd_H", "qd_vendi", "rnd_vendi", "qd_qual", "rnd_qual",
              "qd_unreal", "short", "search_s", "export_s", "total_s")
    print(" ".join(f"{h:>9}" for h in header))
    print("(qd_qual/rnd_qual: mean quality term of the exports without the realism penalty; qd_unreal: share of "
          "exported latents below the prior's 5th-percentile log-density)")
    for seed in args.seeds:
        config = RunConfig(
            measures=measures,
            objective=objective,
            generator=args.generator,
            scorer=args.scorer,
            algorithm=args.algorithm,
            evaluations=args.evaluations,
            batch_size=args.batch_size,
            emitters=args.emitters,
            archive_resolution=args.resolution,
            seed=seed,
        )
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run = run_search(config, run_dir=Path(tmp) / "run", generator=generator, scorer=scorer, settings=settings)
            search_s = time.perf_counter() - t
            t = time.perf_counter()
            result = export_balanced(
                run, images=args.images, bins=args.bins, out=Path(tmp) / "x.zip", generator=generator, scorer=scorer,
                quality_threshold=args.quality,
            )
            export_s = time.perf_counter() - t
            # Realism check of what was exported: the quality term alone (no realism penalty)
            # and the share of latents less likely under the prior than its 5th-percentile sample.
            sel = select_for_run(run, images=args.images, bins=args.bins, quality_threshold=args.quality)
            plain = Evaluator.from_config(config, generator=generator, scorer=scorer)
            rnd_idx = np.flatnonzero(run.random_pool.objective >= sel.quality_threshold)[: len(sel.indices)]
            qd_q = plain.evaluate(run.pool.z[sel.indices]).quality.mean()
            rnd_q = plain.evaluate(run.random_pool.z[rnd_idx]).quality.mean()
            floor = np.percentile(generator.log_prior(torch.as_tensor(run.random_pool.z, dtype=torch.float32)).detach().numpy(), 5)
            lp = generator.log_prior(torch.as_tensor(run.pool.z[sel.indices], dtype=torch.float32)).detach().numpy()
            unreal = float((lp < floor).mean())
        qd, rnd = run.summary["qd"], run.summary["random"]
        eq, er = result.metrics["qd"], result.metrics["random"]
        row = (
            seed, qd["coverage"], rnd["coverage"], qd["coverage"] / max(rnd["coverage"], 1e-9), eq["uniformity"],
            er["uniformity"], eq["vendi"], er["vendi"], float(qd_q), float(rnd_q), unreal, len(result.short_bins),
            search_s, export_s, search_s + export_s,
        )
        print(" ".join(f"{v:>9.3f}" if isinstance(v, float) else f"{v:>9}" for v in row), flush=True)
        print(f"          export: {result.n_images} images; random export {er['images']}; "
              f"search {run.summary['search_seconds']:.1f} s + random baseline {run.summary['random_seconds']:.1f} s "
              f"of {run.summary['seconds']:.1f} s")


if __name__ == "__main__":
    main()
