"""Search throughput versus the raw batched forward pass of generator + scorer.

    python benchmarks/throughput.py                       # shapes world, default config
    python benchmarks/throughput.py --algorithm cma-mae --batch-sizes 16 36 64

For each batch size B (solutions per emitter per step; one step evaluates about
emitters x B latents), measures in one process:

- raw: latents/s of ``scorer.embed_images(generator.render(z))`` without gradients on
  batches of emitters x B prior latents (the models alone, no search);
- search: QD evaluations/s of :meth:`core.search.Search.step` (pyribs ask/tell, the
  CMA-MAEGA gradient pass, measures, pool), excluding the random baseline;
- end to end: evaluations/s of the whole run including the random baseline (which
  evaluates as many latents again).

Target (issue 3): search / raw >= 0.8.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import core  # noqa: E402,F401
from core.config import PRESETS, PromptPair, RunConfig  # noqa: E402
from core.models import get_models  # noqa: E402
from core.search import Search  # noqa: E402


def raw_rate(generator, scorer, n: int, seconds: float) -> float:
    z = generator.sample_prior(n, seed=123)
    with torch.no_grad():
        scorer.embed_images(generator.render(z))  # warm-up
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            scorer.embed_images(generator.render(z))
            done += n
    return done / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="shapes")
    p.add_argument("--scorer", default="shapes")
    p.add_argument("--stand-in", action="store_true", help="use the tests' stand-in models (no weights)")
    p.add_argument("--algorithm", default="cma-maega")
    p.add_argument("--emitters", type=int, default=RunConfig.emitters)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[RunConfig.batch_size])
    p.add_argument("--steps", type=int, default=15, help="timed search steps per batch size")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds of the raw pass")
    args = p.parse_args()

    measures = PRESETS["colour x shape"]
    objective = None
    if args.stand_in:
        from tests.core import stand_ins

        stand_ins.register()
        args.generator = args.scorer = stand_ins.NAME
        measures = (PromptPair("a red shape", "a blue shape"), PromptPair("a triangle", "a square"))
        objective = PromptPair("a clean shape", "a smudge")
    base = RunConfig(measures=measures, objective=objective, generator=args.generator, scorer=args.scorer)
    generator, scorer = get_models(base)
    print(f"{args.generator}/{args.scorer}, {args.algorithm}, {args.emitters} emitters, torch threads {torch.get_num_threads()}")
    print(f"{'B':>5} {'per step':>9} {'raw/s':>9} {'search/s':>9} {'ratio':>6} {'end-to-end/s':>13}")
    for b in args.batch_sizes:
        config = RunConfig(
            measures=measures, objective=objective, generator=args.generator, scorer=args.scorer,
            algorithm=args.algorithm, emitters=args.emitters, batch_size=b,
            evaluations=(2 * args.steps + 2) * args.emitters * (b + 1), seed=0,
        )
        search = Search(config, generator=generator, scorer=scorer)
        search.step()  # warm-up (numba compiles pyribs' CMA-ES on first use)
        n0, t0 = search.evaluations, time.perf_counter()
        for _ in range(args.steps):
            search.step()
        search_rate = (search.evaluations - n0) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        n0 = search.evaluations
        for _ in range(args.steps):
            search.step()
            search.catch_up_random()
        e2e = (search.evaluations - n0) / (time.perf_counter() - t0)
        raw = raw_rate(generator, scorer, search.step_size, args.seconds)
        print(f"{b:>5} {search.step_size:>9} {raw:>9.0f} {search_rate:>9.0f} {search_rate / raw:>6.2f} {e2e:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
