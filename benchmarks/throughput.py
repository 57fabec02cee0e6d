"""Search throughput versus the raw batched forward pass of generator + scorer.

    python benchmarks/throughput.py                       # shapes world, default config
    python benchmarks/throughput.py --algorithm cma-mae --batch-sizes 16 36 64

For each batch size B (solutions per emitter per step; one step evaluates about
emitters x B latents), measures in one process:

- raw: latents/s of ``scorer.embed_images(generator.render(z))`` without gradients on
  one batch of as many prior latents as a search step evaluates (the models alone);
- search: QD evaluations/s of :meth:`core.search.Search.step` (pyribs ask/tell, the
  CMA-MAEGA gradient pass, measures, pool), excluding the random baseline;
- end to end: evaluations/s of the whole run including the random baseline (which
  evaluates as many latents again).

Raw passes and search steps are timed in alternation (``--rounds`` of each) so that load
from other processes hits both alike; the median and the best round are printed.
Target (issue 3): search / raw >= 0.8.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import core  # noqa: E402,F401
from core.config import PRESETS, PromptPair, RunConfig  # noqa: E402
from core.models import get_models  # noqa: E402
from core.search import Search  # noqa: E402


def raw_seconds(generator, scorer, z: torch.Tensor) -> float:
    """Seconds of one batched forward pass (render + embed, no gradients)."""
    t0 = time.perf_counter()
    with torch.no_grad():
        scorer.embed_images(generator.render(z))
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default="shapes")
    p.add_argument("--scorer", default="shapes")
    p.add_argument("--stand-in", action="store_true", help="use the tests' stand-in models (no weights)")
    p.add_argument("--algorithm", default="cma-maega")
    p.add_argument("--emitters", type=int, default=RunConfig.emitters)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[RunConfig.batch_size])
    p.add_argument("--rounds", type=int, default=12, help="interleaved timing rounds per batch size")
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
    print("rates in evaluations/s; median over rounds, then best round; end-to-end includes the random baseline")
    print(f"{'B':>5} {'per step':>9} {'raw/s':>9} {'search/s':>9} {'ratio':>6} {'best raw':>9} {'best srch':>9} "
          f"{'ratio':>6} {'end-to-end/s':>13}")
    for b in args.batch_sizes:
        config = RunConfig(
            measures=measures, objective=objective, generator=args.generator, scorer=args.scorer,
            algorithm=args.algorithm, emitters=args.emitters, batch_size=b,
            evaluations=(3 * args.rounds + 4) * args.emitters * (b + 1) + 1000, seed=0,
        )
        search = Search(config, generator=generator, scorer=scorer)
        search.step()  # warm-up (numba compiles pyribs' CMA-ES on first use)
        z = generator.sample_prior(search.step_size, seed=123)
        raw_seconds(generator, scorer, z)
        raw, qd, e2e = [], [], []
        for _ in range(args.rounds):  # interleaved, so that machine load hits both alike
            raw.append(search.step_size / raw_seconds(generator, scorer, z))
            n0, t0 = search.evaluations, time.perf_counter()
            search.step()
            qd.append((search.evaluations - n0) / (time.perf_counter() - t0))
            n0, t0 = search.evaluations, time.perf_counter()
            search.step()
            search.catch_up_random()
            e2e.append((search.evaluations - n0) / (time.perf_counter() - t0))
        med = lambda v: float(np.median(v))  # noqa: E731
        print(f"{b:>5} {search.step_size:>9} {med(raw):>9.0f} {med(qd):>9.0f} {med(qd) / med(raw):>6.2f} "
              f"{max(raw):>9.0f} {max(qd):>9.0f} {max(qd) / max(raw):>6.2f} {med(e2e):>13.0f}", flush=True)


if __name__ == "__main__":
    main()
