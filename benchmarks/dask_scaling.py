"""Evaluations per second on the local back end and on Dask LocalClusters of 1, 2 and 4 workers.

    python benchmarks/dask_scaling.py                          # shapes world, jump, 3,000 evaluations
    python benchmarks/dask_scaling.py --evaluations 6000 --workers 1 2 4 --repeats 3

Every configuration runs the same search (shapes world, colour x shape preset, the shapes
world's default algorithm, ``--chunk-size`` latents per evaluation chunk, so a step of
emitters x batch size latents is several chunks that workers can evaluate at once). Figures:

- ``eval/s``: evaluations (QD and random baseline: both go through the back end) per second
  between the first and the last step's event: steps and random catch-ups, pyribs' ask/tell
  and the figures of each event included; not model loading, calibration, the cluster's start
  or the final figures;
- ``wall_s``: seconds of the whole ``RunHandle.run`` (cluster connection and final figures in);
- ``same``: the archive, pool and random samples are bit-identical to the first configuration.

Local runs use ``--local-threads`` torch threads (1 by default, as each Dask worker: Dask
starts workers with OMP_NUM_THREADS=1); ``--local-threads 0`` keeps torch's default. Each
configuration is run ``--repeats`` times; the best run is printed (load from other processes
only ever slows a run down), and the load average before each configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.config import PRESETS, RunConfig  # noqa: E402
from core.measures import EvaluatorSettings  # noqa: E402
from core.run import prepare  # noqa: E402
from core.search import SearchSettings  # noqa: E402


def run_once(config: RunConfig, settings: SearchSettings, out: Path):
    """(eval/s between the first and the last step's event, wall seconds, the run)."""
    handle = prepare(config, settings=settings)
    t0 = time.perf_counter()
    steps = [e for e in handle.run(out, checkpoint_seconds=float("inf")) if not e.done]
    wall = time.perf_counter() - t0
    a, b = steps[0], steps[-1]
    evaluated = (b.evaluations - a.evaluations) + (b.random_evaluations - a.random_evaluations)
    return evaluated / (b.elapsed - a.elapsed), wall, handle.result


def same(a, b) -> bool:
    return bool(
        a.archive.equals(b.archive)
        and all(np.array_equal(getattr(a.pool, f), getattr(b.pool, f)) for f in ("z", "measures", "objective"))
        and all(np.array_equal(getattr(a.random_pool, f), getattr(b.random_pool, f)) for f in ("z", "measures", "objective"))
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--evaluations", type=int, default=3000)
    p.add_argument("--chunk-size", type=int, default=36, help="latents per chunk (default 36: 4 chunks a step)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--local-threads", type=int, default=1, help="torch threads of the local runs (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    if args.local_threads:
        torch.set_num_threads(args.local_threads)
    config = RunConfig(measures=PRESETS["colour x shape"], evaluations=args.evaluations, seed=args.seed, judge="none")
    settings = SearchSettings(evaluator=EvaluatorSettings(chunk_size=args.chunk_size))
    step = config.emitters * config.batch_size
    print(
        f"shapes world, {config.resolved_algorithm()}, {args.evaluations:,} evaluations, steps of {step} latents in chunks "
        f"of {args.chunk_size}; {os.cpu_count()} CPUs; local torch threads {torch.get_num_threads()}; best of {args.repeats}"
    )
    backends = ["local"] + [f"local-cluster:{n}" for n in args.workers]
    rows, first = [], None
    root = Path(tempfile.mkdtemp(prefix="dask-scaling-"))
    prepare(config)  # models loaded once in this process before any timing
    for backend in backends:
        load = os.getloadavg()[0]
        best = None
        for r in range(args.repeats):
            rate, wall, result = run_once(dataclasses.replace(config, backend=backend), settings, root / f"{backend.replace(':', '-')}-{r}")
            if best is None or rate > best[0]:
                best = (rate, wall, result)
        first = first or best[2]
        rows.append((backend, best[0], best[1], same(first, best[2]), load))
        print(f"  {backend:<16} {best[0]:8.0f} eval/s  wall {best[1]:6.1f} s  same={rows[-1][3]}  load before {load:.1f}", flush=True)
    local = rows[0][1]
    print()
    print("| back end | eval/s | x local | wall s | same result | load avg before |")
    print("|---|---|---|---|---|---|")
    for backend, rate, wall, ok, load in rows:
        print(f"| {backend} | {rate:,.0f} | {rate / local:.2f} | {wall:.1f} | {'yes' if ok else 'NO'} | {load:.1f} |")
    one = next((r for r in rows if r[0] == "local-cluster:1"), None)
    if one is not None:
        chunks = -(-step // args.chunk_size)
        per_chunk = (1 / one[1] - 1 / local) * args.chunk_size * 1000
        print(f"\ndask 1 worker / local: {one[1] / local:.2f}; overhead about {per_chunk:.1f} ms per chunk of "
              f"{args.chunk_size} ({chunks} chunks a step)")


if __name__ == "__main__":
    main()
