"""Does balanced data help? The bias check at every bias level, mean ± std over seeds.

    python benchmarks/bias_check.py                                  # 5 levels x 3 seeds, shapes world
    python benchmarks/bias_check.py --levels 0.95 --seeds 3          # one level
    python benchmarks/bias_check.py --stand-in --images 100 --evaluations 300   # smoke test, no weights

For each bias level of the real training data (0.98 ... 0.80) runs
:func:`experiments.biascheck.run_bias_check` (a classifier pretrained on biased renders, then
fine-tuned on nothing / random samples / balanced random samples / a balanced QD export of
the shipped generator / balanced real renders) and prints one markdown table: accuracy per
test group, mean and worst group, mean ± std over seeds, and whether QD beat random and
balanced random on worst-group accuracy at that level; then the judge's reading of each
synthetic set. The synthetic sets
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
from core.config import PromptPair  # noqa: E402
from experiments.biascheck import (  # noqa: E402
    BIAS_LEVELS,
    CONDITION_NAMES,
    GROUP_NAMES,
    METRICS,
    SYNTHETIC_SETS,
    BiasCheckConfig,
    run_bias_check,
)


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
        beat = {b: result.qd_beats(b) for b in ("random", "balanced_random")}
        for i, cond in enumerate(table.index):
            row = {"bias": result.config.bias, **shown.iloc[i].to_dict()}
            row["QD > random / balanced random (worst)"] = (
                " / ".join("yes" if beat[b] else "no" for b in ("random", "balanced_random")) if cond == "qd" else ""
            )
            rows.append(row)
        records.append(result.records.assign(bias=result.config.bias))
        synthetic.append(result.synthetic)  # the same sets at every level (cached per seed)
        worst = {c: table.loc[c, ("worst", "mean")] for c in table.index}
        mean = {c: table.loc[c, ("mean", "mean")] for c in table.index}
        verdicts.append(
            f"- bias {result.config.bias}: worst group QD {worst['qd']:.{args.digits}f}, balanced random "
            f"{worst['balanced_random']:.{args.digits}f}, random {worst['random']:.{args.digits}f}, balanced real renders "
            f"{worst['real']:.{args.digits}f}; mean accuracy QD {mean['qd']:.{args.digits}f} vs no fine-tuning "
            f"{mean['none']:.{args.digits}f}"
        )
        print(f"[bias {result.config.bias}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t_all

    columns = ["bias", "fine-tuned on", *METRICS, "QD > random / balanced random (worst)"]
    shares = (
        pd.concat(synthetic).groupby("set")[["images", *GROUP_NAMES, "judge_agreement", "judge_not_clean"]].mean()
        .reindex(list(SYNTHETIC_SETS))
    )
    print(f"Bias check: {base.seeds} seeds, {base.images} synthetic images per condition, {base.real_images} real "
          f"images, {base.evaluations} search evaluations per seed; generator trained at bias "
          f"{generator_bias or 'unknown'}; {seconds:.0f} s in all ({len(cache)} searches).\n")
    print(_markdown(rows, columns))
    print()
    print("\n".join(verdicts))
    print(f"\nConditions: {', '.join(CONDITION_NAMES.values())}. Cells: mean ± std over seeds (ddof=1).")
    print("\nSynthetic fine-tuning sets (mean over seeds): images, share of each measure quadrant, and the judge's "
          "agreement (clean and on the claimed side of both measures) and not-clean share")
    print(shares.round(3).to_string())
    if args.out:
        pd.concat(records, ignore_index=True).to_csv(args.out, index=False)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
