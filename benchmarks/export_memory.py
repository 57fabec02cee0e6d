"""Peak memory of a balanced export against the number of images: flat when it streams.

    python benchmarks/export_memory.py                       # shapes world and tiny real models, 500 and 2000 images
    python benchmarks/export_memory.py --world shapes --images 250 1000 2000

For each world and image count, a fresh process loads the models, opens a run and writes
one export; it prints its resident memory before the export and its peak (``ru_maxrss``)
after, so the export's own cost is the difference. The run is made once per world: a short
search for its config and calibration, whose pool and random baseline are then replaced by
2,600 prior samples each (so the export has 2,000 distinct images to draw; the measures are
spread uniformly over the calibrated ranges, since only the export path is measured here).

Worlds: ``shapes`` (64 px) and ``tiny-real``, the tiny real-layout models of
``tests/core/real_tiny.py`` (a random sd-turbo-layout pipeline whose VAE decodes 512 px
images, taesd's architecture for the search, an open_clip scorer) read back through the real
loaders. The script runs unchanged on the code before streaming (commit d6d6261), for the
"before" figures: ``--repo`` points it at another checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
POOL = 2600  # samples in the replaced pool and random baseline


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tiny_folders(root: Path) -> dict:
    try:
        from tests.core import real_tiny as tiny
    except ImportError:  # the code before the tiny models moved under tests/
        from core.real import tiny
    folders = {"pipe": root / "pipe", "taesd": root / "taesd", "clip": root / "clip"}
    if not folders["pipe"].exists():
        tiny.save_tiny_pipeline(folders["pipe"], sample_size=128)  # 512 px images
        tiny.save_tiny_decoder(folders["taesd"])
        tiny.save_tiny_openclip(folders["clip"])
    return folders


def _config(world: str, root: Path):
    from core.config import PRESETS, PromptPair, RunConfig

    if world == "shapes":
        return RunConfig(measures=PRESETS["colour x shape"], evaluations=64, seed=0, algorithm="map-elites")
    folders = _tiny_folders(root)
    import dataclasses

    no_judge = {"judge": "none"} if "judge" in {f.name for f in dataclasses.fields(RunConfig)} else {}  # (older code: none)
    return RunConfig(
        measures=(PromptPair("a photo of an old person", "a photo of a young person"),),
        objective=PromptPair("a clear photo", "a blurry photo"),
        generator="sd-turbo",
        scorer="openclip",
        algorithm="map-elites",
        evaluations=32,
        batch_size=8,
        emitters=2,
        seed=0,
        device="cpu",
        generator_options={"path": str(folders["pipe"]), "tiny_decoder": str(folders["taesd"]), "latent_dim": 16, "max_batch": 16},
        scorer_options={"path": str(folders["clip"]), "max_batch": 64},
        **no_judge,
    )


def make_run(world: str, root: Path) -> Path:
    """A run directory whose pool and random baseline hold POOL prior samples each."""
    import numpy as np

    import core  # noqa: F401
    from core.models import get_models
    from core.runs import Samples
    from core.search import run_search

    config = _config(world, root)
    run_dir = root / f"run-{world}"
    generator, scorer = get_models(config)
    run_search(config, run_dir=run_dir, generator=generator, scorer=scorer)
    ranges = json.loads((run_dir / "calibration.json").read_text())["measure_ranges"]
    rng = np.random.default_rng(0)
    k = len(ranges)
    for name, seed in (("pool.npz", 1), ("random_pool.npz", 2)):
        z = generator.sample_prior(POOL, seed=seed).cpu().double().numpy()
        measures = np.stack([rng.uniform(lo, hi, POOL) for lo, hi in ranges], axis=1)
        sims = rng.uniform(0.0, 1.0, (POOL, k, 2))
        fields = {"z": z, "measures": measures, "objective": np.zeros(POOL)}
        if "similarities" in Samples.__dataclass_fields__:
            fields["similarities"] = sims
        np.savez(run_dir / name, **fields)
    return run_dir


def child(world: str, images: int, run_dir: Path, root: Path) -> None:
    import torch

    import core  # noqa: F401
    from core.export import export_balanced
    from core.models import get_models
    from core.runs import Run

    torch.set_num_threads(1)
    run = Run.open(run_dir)
    generator, scorer = get_models(run.config)
    before = _rss_mb()
    out = root / f"{world}-{images}.zip"
    kwargs = {"clear_ends": False} if "clear_ends" in export_balanced.__code__.co_varnames else {}
    result = export_balanced(run, images=images, bins=1, quality_threshold=float("-inf"), out=out,
                             generator=generator, scorer=scorer, **kwargs)
    print(json.dumps({"world": world, "images": result.n_images, "rss_before_mb": round(before, 1),
                      "peak_mb": round(_peak_mb(), 1), "zip_mb": round(out.stat().st_size / 2**20, 1)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", nargs="+", default=["shapes", "tiny-real"], choices=["shapes", "tiny-real"])
    p.add_argument("--images", type=int, nargs="+", default=[500, 2000])
    p.add_argument("--repo", type=Path, default=HERE, help="the checkout whose export is measured")
    p.add_argument("--child", nargs=4, metavar=("WORLD", "IMAGES", "RUN_DIR", "ROOT"), help=argparse.SUPPRESS)
    p.add_argument("--make", nargs=2, metavar=("WORLD", "ROOT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make:
        make_run(args.make[0], Path(args.make[1]))
        return
    if args.child:
        world, images, run_dir, root = args.child
        child(world, int(images), Path(run_dir), Path(root))
        return
    env = dict(os.environ, PYTHONPATH=str(args.repo), OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"code measured: {args.repo}")
        print(f"{'world':10s}{'images':>8s}{'RSS before (MiB)':>18s}{'peak (MiB)':>12s}{'export adds (MiB)':>19s}{'zip (MiB)':>11s}")
        for world in args.world:
            made = subprocess.run([sys.executable, __file__, "--make", world, tmp], cwd=args.repo, env=env, capture_output=True, text=True)
            if made.returncode:
                print(made.stderr[-2000:], file=sys.stderr)
                raise SystemExit(made.returncode)
            for n in args.images:
                res = subprocess.run([sys.executable, __file__, "--child", world, str(n), str(root / f"run-{world}"), tmp],
                                     cwd=args.repo, env=env, capture_output=True, text=True)
                if res.returncode:
                    print(res.stderr[-2000:], file=sys.stderr)
                    raise SystemExit(res.returncode)
                row = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"{world:10s}{row['images']:>8d}{row['rss_before_mb']:>18.0f}{row['peak_mb']:>12.0f}"
                      f"{row['peak_mb'] - row['rss_before_mb']:>19.0f}{row['zip_mb']:>11.1f}", flush=True)


if __name__ == "__main__":
    main()
