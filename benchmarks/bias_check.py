"""Does balanced data help? The bias check at every bias level, mean ± std over seeds.

    python benchmarks/bias_check.py                                  # 5 levels x 3 seeds, shapes world
    python benchmarks/bias_check.py --levels 0.95 --seeds 3          # one level
    python benchmarks/bias_check.py --stand-in --images 100 --evaluations 300   # smoke test, no weights

For each bias level of the real training data (0.98 ... 0.80) runs
:func:`experiments.biascheck.run_bias_check` (a classifier pretrained on biased renders, then
fine-tuned on nothing / random samples / a balanced QD export of the shipped generator) and
prints one markdown table: accuracy per test group, mean and worst group, mean ± std over
seeds, and whether QD beat random on worst-group accuracy at that level. The synthetic sets
depend on the generator and seed only, so each seed's search runs once for all levels.
``--out`` writes every (level, seed, condition) row as CSV.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

import core  # noqa: E402,F401  (torchvision shim)
from experiments.biascheck import BIAS_LEVELS, CONDITION_NAMES, GROUP_NAMES, METRICS, BiasCheckConfig, run_bias_check  # noqa: E402
from core.config import PromptPair  # noqa: E402


def _markdown(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = BiasCheckConfig()
    p.add_argument("--levels", nargs="+", default=list(BIAS_LEVELS), help="bias levels (default: all five)")
    p.add_argument("--seeds", type=int, default=d.seeds)
    p.add_argument("--images", type=int, default=d.images)
    p.add_argument("--evaluations", type=int, default=d.evaluations)
    p.add_argument("--stand-in", action="store_true", help="the tests' stand-in models (no weights; a smoke test)")
    p.add_argument("--out", type=Path, help="CSV of every (level, seed, condition) row")
    p.add_argument("--digits", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    base = dataclasses.replace(d, seeds=args.seeds, images=args.images, evaluations=args.evaluations)
    if args.stand_in:
        from tests.core import stand_ins

        stand_ins.register()
        base = dataclasses.replace(base, generator=stand_ins.NAME, scorer=stand_ins.NAME,
                                   objective=PromptPair("a clean shape", "a smudge"), image_size=16)

    cache: dict = {}
    rows, records, verdicts, synthetic = [], [], [], []
    t_all = time.perf_counter()
    generator_bias = None
    for level in args.levels:
        t0 = time.perf_counter()
        result = run_bias_check(dataclasses.replace(base, bias=level), cache=cache)
        generator_bias = result.generator_bias()
        table = result.table()
        shown = result.display_table(args.digits)
        beat = result.qd_beats_random()
        for i, cond in enumerate(table.index):
            row = {"bias": result.config.bias, **shown.iloc[i].to_dict()}
            row["QD > random (worst)"] = ("yes" if beat else "no") if cond == "qd" else ""
            rows.append(row)
        records.append(result.records.assign(bias=result.config.bias))
        synthetic.append(result.synthetic)  # the same sets at every level (cached per seed)
        qd, rnd = table.loc["qd", ("worst", "mean")], table.loc["random", ("worst", "mean")]
        verdicts.append(f"- bias {result.config.bias}: QD {'beat' if beat else 'did not beat'} random on worst-group "
                        f"accuracy ({qd:.{args.digits}f} vs {rnd:.{args.digits}f})")
        print(f"[bias {result.config.bias}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t_all

    columns = ["bias", "fine-tuned on", *METRICS, "QD > random (worst)"]
    shares = pd.concat(synthetic).groupby("set")[["images", *GROUP_NAMES]].mean().reindex(["random", "qd"])
    print(f"Bias check: {base.seeds} seeds, {base.images} synthetic images per condition, {base.real_images} real "
          f"images, {base.evaluations} search evaluations per seed; generator trained at bias "
          f"{generator_bias or 'unknown'}; {seconds:.0f} s in all ({len(cache)} searches).\n")
    print(_markdown(rows, columns))
    print()
    print("\n".join(verdicts))
    print(f"\nConditions: {', '.join(CONDITION_NAMES.values())}. Cells: mean ± std over seeds (ddof=1).")
    print("\nFine-tuning sets (mean over seeds): images and share of each measure quadrant")
    print(shares.round(3).to_string())
    if args.out:
        pd.concat(records, ignore_index=True).to_csv(args.out, index=False)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
