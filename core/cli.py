"""Command line: the same search and export as the dashboard, headless.

    python -m core search --measure "a red shape" "a blue shape" --measure "a triangle" "a square" \\
        --evaluations 3000 --seed 0 --out runs/colour-shape [--backend local-cluster:2 | tcp://HOST:8786]
    python -m core search --resume runs/colour-shape --evaluations 6000
    python -m core export runs/colour-shape --images 1000 --bins 10 --out colour-shape.zip
    python -m core runs runs/
    python -m core clean runs/

Bad input exits with status 2 and one line naming the field and what would be accepted;
missing weights exit with status 1 and one line.

Subcommands are a registry: another part of the product adds one with
:func:`register_subcommand` (name, help, add_arguments, run) from a module listed in
:data:`SUBCOMMAND_MODULES`, which :func:`main` imports first.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import sys
from typing import Callable, Sequence

from .config import ALGORITHMS, PromptPair, RunConfig
from .errors import InputError, QDGSError
from .measures import EvaluatorSettings

__all__ = ["Subcommand", "SUBCOMMANDS", "SUBCOMMAND_MODULES", "register_subcommand", "main", "build_parser"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # e.g. weights missing
EXIT_BAD_INPUT = 2  # the user's input (also argparse's own status for usage errors)
EXIT_INTERRUPTED = 130


@dataclasses.dataclass(frozen=True)
class Subcommand:
    """One ``python -m core <name>`` subcommand."""

    name: str  # as typed, e.g. "bias-check"
    help: str  # one line for --help
    add_arguments: Callable[[argparse.ArgumentParser], None]  # adds its options to a parser
    run: Callable[[argparse.Namespace], int]  # does the work; returns the exit status


SUBCOMMANDS: dict[str, Subcommand] = {}
# Modules outside the engine whose ``register_cli(register_subcommand)`` main() calls before
# parsing (experiments built on the engine; the engine itself never imports them).
SUBCOMMAND_MODULES: list[str] = ["experiments.biascheck"]


def register_subcommand(
    name: str,
    *,
    help: str,  # noqa: A002 - argparse's word
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Adds (or replaces) a subcommand."""
    SUBCOMMANDS[name] = Subcommand(name, help, add_arguments, run)


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


# ---- search ---------------------------------------------------------------------------


def _add_search_arguments(p: argparse.ArgumentParser) -> None:
    # Run-config options default to None, so that --resume can tell which were given.
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--measure", nargs=2, action="append", metavar=("POS", "NEG"),
                      help="a measure as a prompt pair (1 to 4; repeat the option); '|' separates phrasings")
    what.add_argument("--resume", metavar="RUN_DIR",
                      help="continue a stopped or finished run (its own config; only --evaluations, --backend, "
                           "--chunk-size and --quiet may be given)")
    p.add_argument("--objective", nargs=2, metavar=("POS", "NEG"), help="the quality pair (default: the generator's)")
    p.add_argument("--generator", help=f"registry name (default: {RunConfig.generator})")
    p.add_argument("--scorer", help=f"registry name (default: {RunConfig.scorer})")
    p.add_argument("--algorithm", default=None, help="one of " + ", ".join(ALGORITHMS) + " (default: the generator's; shapes: jump)")
    p.add_argument("--evaluations", type=int, help=f"evaluation budget (default: {RunConfig.evaluations}; "
                   "with --resume: the new total, larger than the run's)")
    p.add_argument("--seed", type=int, help=f"random seed (default: {RunConfig.seed})")
    p.add_argument("--batch-size", type=int, help=f"solutions per emitter per step (default: {RunConfig.batch_size})")
    p.add_argument("--emitters", type=int, help=f"pyribs emitters (default: {RunConfig.emitters})")
    p.add_argument("--resolution", type=int, help=f"archive cells per measure (default: {RunConfig.archive_resolution})")
    p.add_argument("--range", nargs=2, type=float, action="append", metavar=("LOW", "HIGH"),
                   help="fix a measure's range (once per measure, in order); calibrated from the prior if absent")
    p.add_argument("--device", help=f"torch device: cpu, cuda, cuda:N or auto (default: {RunConfig.device}); "
                   "with a cluster, the device of every worker")
    p.add_argument("--generator-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="factory option of the generator (JSON value or text)")
    p.add_argument("--scorer-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="factory option of the scorer (JSON value or text)")
    p.add_argument("--judge", default=None,
                   help="judge of the results, never used by the search: a registry name or 'none' (default: the generator's)")
    p.add_argument("--judge-option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="factory option of the judge (JSON value or text)")
    p.add_argument("--backend", help="where evaluations run: local, local-cluster:N (N worker processes here) or a "
                   f"Dask scheduler address tcp://HOST:PORT (default: {RunConfig.backend}; with --resume: the run's)")
    p.add_argument("--chunk-size", type=int, metavar="N",
                   help=f"latents per evaluation chunk, the unit a cluster worker evaluates (default: "
                        f"{EvaluatorSettings.chunk_size}; results are identical on every back end for the same chunk size)")
    p.add_argument("--out", metavar="RUN_DIR", help="run directory to write (required without --resume)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# Options a resumed run refuses: it keeps its own config (argparse dest -> flag).
_RESUME_REFUSED = {
    "objective": "--objective", "generator": "--generator", "scorer": "--scorer", "algorithm": "--algorithm",
    "seed": "--seed", "batch_size": "--batch-size", "emitters": "--emitters", "resolution": "--resolution",
    "range": "--range", "device": "--device", "generator_option": "--generator-option",
    "scorer_option": "--scorer-option", "judge": "--judge", "judge_option": "--judge-option", "out": "--out",
}


def _device(name: str) -> str:
    """'auto' becomes the device it picks here (a config names a concrete device)."""
    if name.strip().lower() != "auto":
        return name
    from .real.devices import resolve_device

    return str(resolve_device("auto"))


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    given = lambda value, default: default if value is None else value  # noqa: E731
    return RunConfig(
        measures=tuple(PromptPair(pos, neg) for pos, neg in args.measure),
        objective=PromptPair(*args.objective, label="quality") if args.objective else None,
        generator=given(args.generator, RunConfig.generator),
        scorer=given(args.scorer, RunConfig.scorer),
        algorithm=args.algorithm,
        evaluations=given(args.evaluations, RunConfig.evaluations),
        batch_size=given(args.batch_size, RunConfig.batch_size),
        emitters=given(args.emitters, RunConfig.emitters),
        archive_resolution=given(args.resolution, RunConfig.archive_resolution),
        measure_ranges=tuple(tuple(r) for r in args.range) if args.range else None,
        seed=given(args.seed, RunConfig.seed),
        device=_device(given(args.device, RunConfig.device)),
        backend=given(args.backend, RunConfig.backend),
        generator_options=dict(args.generator_option),
        scorer_options=dict(args.scorer_option),
        judge=args.judge,
        judge_options=dict(args.judge_option) if args.judge_option else None,
    )


def _settings_from_args(args: argparse.Namespace):
    """SearchSettings with the chunk size given (the defaults otherwise)."""
    from .run import with_chunk_size
    from .search import SearchSettings

    settings = SearchSettings()
    return settings if args.chunk_size is None else with_chunk_size(settings, args.chunk_size, field="--chunk-size")


def _prepared_search(args: argparse.Namespace):
    """(RunHandle, run directory) of a new run or, with --resume, of the run continued."""
    from .run import prepare, resume

    if args.resume is not None:
        for dest, flag in _RESUME_REFUSED.items():
            value = getattr(args, dest)
            if value not in (None, []):
                raise InputError(flag, value, "nothing with --resume: a continued run keeps its own config "
                                 "(only --evaluations, --backend, --chunk-size and --quiet may be given)")
        handle = resume(args.resume, evaluations=args.evaluations, backend=args.backend, chunk_size=args.chunk_size)
        return handle, str(handle.resume_point.dir)
    if args.out is None:
        raise InputError("--out", None, "a run directory to write (required for a new run; --resume RUN_DIR continues one)")
    # prepare validates the config once (fields, device, prompts, models) before anything loads
    return prepare(_config_from_args(args), settings=_settings_from_args(args)), args.out


def _run_search(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    handle, out = _prepared_search(args)
    config = handle.config
    bars: list = []  # created on the first event, so that input errors print one line only
    last = None
    try:
        for event in handle.run(None if args.resume else out):
            if not bars:
                bars.append(tqdm(total=config.evaluations, unit="eval", disable=args.quiet, file=sys.stderr, desc=config.resolved_algorithm()))
            bars[0].update(event.evaluations - bars[0].n)
            bars[0].set_postfix(coverage=f"{event.coverage:.2f}", random=f"{event.random_coverage:.2f}")
            last = event
    finally:
        for bar in bars:
            bar.close()
    assert last is not None  # a run always yields a final event
    print(
        f"{out}: {last.evaluations} evaluations in {last.elapsed:.1f} s; "
        f"coverage QD {last.coverage:.3f} vs random {last.random_coverage:.3f}; "
        f"uniformity QD {last.uniformity:.3f} vs balanced random {last.balanced_random_uniformity:.3f} "
        f"vs random {last.random_uniformity:.3f}"
    )
    print(_judge_line(last.judge_agreement, last.balanced_random_judge_agreement, last.random_judge_agreement, last.judge_note))
    return EXIT_OK


def _judge_line(qd: float | None, balanced: float | None, plain: float | None, note: str) -> str:
    """One line of judge agreement for QD and both baselines, or why there is none."""
    if qd is None and balanced is None and plain is None:
        return f"judge: none ({note})" if note else "judge: none"
    fmt = lambda v: "n/a" if v is None else f"{100 * v:.0f}%"  # noqa: E731
    return f"judge agreement QD {fmt(qd)} vs balanced random {fmt(balanced)} vs random {fmt(plain)}"


# ---- export ---------------------------------------------------------------------------


def _quality(text: str) -> float:
    if text.strip().lower() == "none":
        return float("-inf")
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def _add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory")
    p.add_argument("--images", type=int, required=True, help="images to export")
    p.add_argument("--bins", type=int, required=True, help="bins per measure")
    p.add_argument("--quality", type=_quality, default=None,
                   help="minimum objective, or 'none' (default: the random baseline's 10th percentile)")
    p.add_argument("--out", required=True, metavar="FILE.zip", help="zip file to write")
    p.add_argument("--verified", action="store_true",
                   help="keep only images the run's judge agrees with (bins left short are reported, never padded)")
    p.add_argument("--any-ends", action="store_true",
                   help="let bins at the ends of a measure take any sample, not only clear examples of that side")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .export import export_balanced
    from .runs import Run

    run = Run.open(args.run_dir)
    bars: list = []  # created on the first report, so that input errors print one line only

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="img", disable=args.quiet, file=sys.stderr, desc="rendering"))
        bars[0].update(done - bars[0].n)

    try:
        result = export_balanced(
            run, images=args.images, bins=args.bins, quality_threshold=args.quality, out=args.out,
            verified=args.verified, clear_ends=not args.any_ends, on_progress=progress,
        )
    finally:
        for bar in bars:
            bar.close()
    qd, bal, rnd = (result.metrics[side] for side in ("qd", "balanced_random", "random"))
    print(
        f"{result.path}: {result.n_images} of {result.requested} images{' (verified)' if result.verified else ''}, "
        f"{len(result.short_bins)} short bins{': ' + ', '.join(result.short_bins[:12]) if result.short_bins else ''}"
        f"{' ...' if len(result.short_bins) > 12 else ''}; "
        f"uniformity {qd['uniformity']:.3f} vs balanced random {bal['uniformity']:.3f} vs random {rnd['uniformity']:.3f}"
    )
    print(_judge_line(qd["judge_agreement"], bal["judge_agreement"], rnd["judge_agreement"], result.judge["qd"].note))
    report = result.judge["qd"]
    if report.judge is not None and len(report.per_bin) <= 16:  # one line per folder for small exports
        for label, entry in report.per_bin.items():
            share = f"{100 * entry['agree'] / entry['checked']:.0f}%" if entry["checked"] else "n/a"
            print(f"  {label}: {entry['images']} images, judge agrees {share}, not clean {entry['not_clean']}")
    return EXIT_OK


# ---- runs -----------------------------------------------------------------------------


def _add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", metavar="ROOT", help="folder holding run directories")


def _run_runs(args: argparse.Namespace) -> int:
    from .runs import list_runs

    for info in list_runs(args.root):
        cov = "-" if info.coverage is None else f"{info.coverage:.3f}"
        rnd = "-" if info.random_coverage is None else f"{info.random_coverage:.3f}"
        print(f"{info.path}\t{info.created}\t{info.status}\t{info.algorithm}\t{info.evaluations} evals\t"
              f"coverage {cov} (random {rnd})\t{' / '.join(info.prompts)}")
    return EXIT_OK


def _add_clean_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", metavar="ROOT", help="a folder of runs, a run directory or an export folder")
    p.add_argument("--min-age", type=float, default=None, metavar="SECONDS",
                   help="only files untouched this long, so that a write still going on is left alone "
                        "(default: core.runs.PARTIAL_MIN_AGE_SECONDS, 60)")


def _run_clean(args: argparse.Namespace) -> int:
    import math
    from pathlib import Path

    from .runs import PARTIAL_MIN_AGE_SECONDS, remove_partial_files

    min_age = PARTIAL_MIN_AGE_SECONDS if args.min_age is None else args.min_age
    if not math.isfinite(min_age) or min_age < 0:
        raise InputError("--min-age", args.min_age, "a number of seconds >= 0")
    if not Path(args.root).expanduser().is_dir():
        raise InputError("root", args.root, "an existing directory")
    removed = remove_partial_files(args.root, min_age=min_age)
    for path in removed:
        print(f"removed {path}")
    print(f"{len(removed)} partial file(s) removed")
    return EXIT_OK


register_subcommand("search", help="run a QD search and its random baseline into a run directory",
                    add_arguments=_add_search_arguments, run=_run_search)
register_subcommand("export", help="write a balanced dataset zip from a run",
                    add_arguments=_add_export_arguments, run=_run_export)
register_subcommand("runs", help="list the runs under a folder", add_arguments=_add_runs_arguments, run=_run_runs)
register_subcommand("clean", help="remove partial files left by a killed search or export",
                    add_arguments=_add_clean_arguments, run=_run_clean)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered subcommand."""
    parser = _OneLineParser(prog="python -m core", description="QDGS Studio engine: search, export, runs.")
    parser.add_argument("--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser)
    for cmd in SUBCOMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    for module in SUBCOMMAND_MODULES:
        try:
            importlib.import_module(module).register_cli(register_subcommand)
        except ImportError as exc:  # an optional part that cannot load here
            logger.warning("subcommands of %s unavailable: %s", module, exc)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args._run(args)
    except InputError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except QDGSError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted; what was done so far is kept (a search: continue it with --resume RUN_DIR)", EXIT_INTERRUPTED)
