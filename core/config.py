"""The configuration of one run: a frozen dataclass, named presets, and validation.

Validation happens once, at the entry point (command line, dashboard, script), through
:func:`validate_config`; the rest of the engine trusts a validated config.
"""

from __future__ import annotations

import dataclasses
import json
import math
import unicodedata
from typing import Any, Mapping

from .algorithms import ALGORITHM_TABLE
from .checks import whole_number
from .errors import InputError

__all__ = [
    "PromptPair",
    "RunConfig",
    "ALGORITHMS",
    "MAX_MEASURES",
    "MAX_PROMPT_CHARS",
    "MAX_LABEL_CHARS",
    "MAX_SEED",
    "MAX_EVALUATIONS",
    "MAX_ARCHIVE_RESOLUTION",
    "MAX_ARCHIVE_CELLS",
    "MAX_BATCH_SIZE",
    "MAX_EMITTERS",
    "prompt_phrasings",
    "whole_number",
    "PRESETS",
    "PRESET_MODELS",
    "validate_config",
    "check_prompts",
    "config_to_dict",
    "config_from_dict",
]

ALGORITHMS: dict[str, str] = {name: a.description for name, a in ALGORITHM_TABLE.items()}
"""Algorithm name -> one-line description (the table itself: :mod:`core.algorithms`)."""
MAX_MEASURES = 4
# Limits on what a user may ask for (README "Command line" and "Dashboard"; the page's texts).
MAX_PROMPT_CHARS = 300  # characters of one prompt, all its "|" phrasings together (CLIP reads ~77 tokens a phrasing)
MAX_LABEL_CHARS = 80  # characters of a measure's short name
MAX_SEED = 2**32 - 1  # seeds are whole numbers from 0 to this
MAX_EVALUATIONS = 1_000_000  # evaluation budget of one run (a server may cap it lower)
MAX_ARCHIVE_RESOLUTION = 200  # archive cells per measure
MAX_ARCHIVE_CELLS = 3_000_000  # archive cells in all (resolution ** measures); each cell holds a latent
MAX_BATCH_SIZE = 10_000  # solutions asked per emitter per step
MAX_EMITTERS = 100  # pyribs emitters


@dataclasses.dataclass(frozen=True)
class PromptPair:
    """A measure or objective: score(z) = sim(G(z), positive) - sim(G(z), negative)."""

    positive: str  # text the high end of the measure describes; "|" separates phrasings
    negative: str  # text the low end of the measure describes
    label: str = ""  # short name for axes and CSV columns; derived from the prompts if empty

    def display_label(self) -> str:
        """The label, or "positive vs negative" built from the first phrasings."""
        if self.label.strip():
            return self.label.strip()
        first = lambda s: s.split("|")[0].strip()  # noqa: E731
        return f"{first(self.positive)} vs {first(self.negative)}"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; saved as ``config.json`` in the run directory."""

    measures: tuple[PromptPair, ...]  # 1 to 4 prompt pairs, one per archive axis
    objective: PromptPair | None = None  # quality pair; None = the generator's registered default
    generator: str = "shapes"  # registry name of the generator
    scorer: str = "shapes"  # registry name of the scorer
    algorithm: str | None = None  # key of ALGORITHMS; None = the generator's registered default
    evaluations: int = 3000  # total evaluation budget of the search (random baseline: same)
    batch_size: int = 36  # solutions asked per emitter per iteration
    emitters: int = 4  # number of pyribs emitters
    archive_resolution: int = 20  # grid cells per measure axis
    measure_ranges: tuple[tuple[float, float], ...] | None = None  # None = calibrate from prior
    seed: int = 0  # seeds emitters, prior draws and the random baseline
    device: str = "cpu"  # torch device for generator and scorer
    generator_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # factory kwargs (model id, path)
    scorer_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # factory kwargs (model, pretrained tag)
    judge: str | None = None  # registry name of the judge of exported images; None = the
    # generator's registered judge; "none" = no judging
    judge_options: dict[str, Any] | None = None  # judge factory kwargs; None = the generator's
    backend: str = "local"  # where evaluations run: "local" (this process), "local-cluster:N" (N
    # worker processes here) or a Dask scheduler address "tcp://HOST:PORT" (core.backends); the
    # results are the same on every back end

    def resolved_objective(self) -> PromptPair:
        """The objective pair, falling back to the generator's registered default.

        Raises:
            InputError: the generator is not registered, or has no default objective.
        """
        if self.objective is not None:
            return self.objective
        from .registry import generator_defaults

        objective = generator_defaults(self.generator).objective
        if objective is None:
            raise InputError("objective", None, f"a quality prompt pair (generator {self.generator!r} has no default)")
        return objective

    def resolved_algorithm(self) -> str:
        """The algorithm, falling back to the generator's registered default."""
        if self.algorithm is not None:
            return self.algorithm
        from .registry import generator_defaults

        return generator_defaults(self.generator).algorithm

    def resolved_judge(self) -> tuple[str | None, dict[str, Any]]:
        """(judge name or None for no judge, its options), falling back to the generator's."""
        from .registry import generator_defaults

        defaults = generator_defaults(self.generator)
        name = defaults.judge if self.judge is None else (None if self.judge == "none" else self.judge)
        options = self.judge_options if self.judge_options is not None else (defaults.judge_options if self.judge is None else {})
        return name, dict(options)


# Named presets for the shapes world (the dashboard shows them as buttons). Real-model presets
# (e.g. "faces") are added next to those models.
# Named prompt-pair presets live with the model they are for (``register_generator(...,
# defaults=GeneratorDefaults(presets=...))`` in ``core/__init__.py``); these are the tables the
# registrations fill: preset name -> measures, and -> (generator, scorer).
from .registry import PRESET_MODELS, PRESETS  # noqa: E402

def prompt_phrasings(text: str) -> frozenset[str]:
    """The phrasings of a prompt as compared for equality: lower-case, whitespace collapsed.

    ``"A red shape | a  RED shape"`` and ``"a red shape "`` both give ``{"a red shape"}``.
    """
    return frozenset(" ".join(part.lower().split()) for part in text.split("|") if part.strip())


def _check_text(field: str, text: object, *, limit: int, required: bool) -> None:
    """A one-line text of at most ``limit`` characters (non-empty if ``required``)."""
    if not isinstance(text, str):
        raise InputError(field, text, "a text such as 'a red shape'")
    if required and not text.replace("|", "").strip():
        raise InputError(field, text, "a non-empty text such as 'a red shape'")
    if len(text) > limit:
        raise InputError(field, text, f"at most {limit} characters (this text has {len(text):,})")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise InputError(field, text, "one line of text without control characters (no newlines or tabs)")


def _named_pairs(config: RunConfig) -> list[tuple[str, PromptPair]]:
    pairs = [(f"measure {i + 1}", p) for i, p in enumerate(config.measures)]
    if config.objective is not None:
        pairs.append(("objective", config.objective))
    return pairs


def check_prompts(config: RunConfig, scorer: Any) -> None:
    """Checks every prompt of a validated config against a scorer's vocabulary.

    Raises:
        InputError: naming the first prompt the scorer cannot read (``scorer.check_prompt``).
    """
    for name, pair in _named_pairs(config):
        for side in ("positive", "negative"):
            scorer.check_prompt(getattr(pair, side), field=f"{name} {side} prompt")


def validate_config(config: RunConfig, *, scorer: Any | None = None, max_evaluations: int | None = None) -> RunConfig:
    """Checks a config and returns it unchanged, or raises with a message naming the field.

    Limits: :data:`MAX_MEASURES` prompt pairs; prompts of at most :data:`MAX_PROMPT_CHARS`
    characters, one line, the two of a pair different once lower-cased, with whitespace
    collapsed and compared as sets of ``|`` phrasings (:func:`prompt_phrasings`); labels of at
    most :data:`MAX_LABEL_CHARS`; seeds from 0 to :data:`MAX_SEED`; budgets up to
    :data:`MAX_EVALUATIONS`; archives up to :data:`MAX_ARCHIVE_RESOLUTION` cells per measure and
    :data:`MAX_ARCHIVE_CELLS` in all; fixed measure ranges finite with low < high; a back end
    that :func:`core.backends.parse_backend` accepts.

    Args:
        config: The config to check.
        scorer: If given, each prompt is also checked against its vocabulary
            (``scorer.check_prompt``).
        max_evaluations: Optional cap on the budget (e.g. for a public Space).

    Raises:
        InputError: for the first bad field found.
    """
    from .registry import generator_entries, scorer_entries

    if not isinstance(config.measures, (tuple, list)):
        raise InputError("measures", config.measures, f"between 1 and {MAX_MEASURES} prompt pairs")
    n = len(config.measures)
    if not 1 <= n <= MAX_MEASURES:
        raise InputError("measures", n, f"between 1 and {MAX_MEASURES} prompt pairs")
    for name, pair in _named_pairs(config):
        for side in ("positive", "negative"):
            _check_text(f"{name} {side} prompt", getattr(pair, side), limit=MAX_PROMPT_CHARS, required=True)
        _check_text(f"{name} label", pair.label, limit=MAX_LABEL_CHARS, required=False)
        if prompt_phrasings(pair.positive) == prompt_phrasings(pair.negative):
            raise InputError(
                f"{name} prompts", f"{pair.positive} / {pair.negative}",
                "two different texts (they are the same once case, spaces and '|' order are ignored)",
            )
    for field, value, entries in (
        ("generator", config.generator, generator_entries()),
        ("scorer", config.scorer, scorer_entries()),
    ):
        if not isinstance(value, str) or value not in entries:
            raise InputError(field, value, "one of " + ", ".join(sorted(entries)))
    if config.algorithm is not None and (not isinstance(config.algorithm, str) or config.algorithm not in ALGORITHMS):
        raise InputError("algorithm", config.algorithm, "one of " + ", ".join(ALGORITHMS))
    from .registry import judge_entries

    if config.judge is not None and config.judge != "none" and config.judge not in judge_entries():
        raise InputError("judge", config.judge, "none or one of " + ", ".join(sorted(judge_entries())))
    for field, value, low, high in (
        ("evaluations", config.evaluations, 1, MAX_EVALUATIONS),
        ("batch_size", config.batch_size, 1, MAX_BATCH_SIZE),
        ("emitters", config.emitters, 1, MAX_EMITTERS),
        ("archive_resolution", config.archive_resolution, 2, MAX_ARCHIVE_RESOLUTION),
    ):
        whole_number(field, value, low=low, high=high, integers_only=True)
    if max_evaluations is not None and config.evaluations > max_evaluations:
        raise InputError("evaluations", config.evaluations, f"at most {max_evaluations} on this server")
    if config.archive_resolution**n > MAX_ARCHIVE_CELLS:
        most = int(MAX_ARCHIVE_CELLS ** (1.0 / n) + 1e-9)
        raise InputError(
            "archive_resolution", config.archive_resolution,
            f"at most {most} cells per measure with {n} measures ({MAX_ARCHIVE_CELLS:,} cells in all)",
        )
    if config.measure_ranges is not None:
        if not isinstance(config.measure_ranges, (tuple, list)) or len(config.measure_ranges) != n:
            raise InputError("measure_ranges", config.measure_ranges, f"{n} (low, high) pairs, one per measure")
        for i, rng in enumerate(config.measure_ranges):
            expected = "(low, high): two finite numbers with low < high"
            try:
                low, high = (float(v) for v in rng)
            except (TypeError, ValueError):
                raise InputError(f"measure {i + 1} range", rng, expected) from None
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise InputError(f"measure {i + 1} range", rng, expected)
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or not 0 <= config.seed <= MAX_SEED:
        raise InputError("seed", config.seed, f"a whole number from 0 to {MAX_SEED}")
    _check_device(config.device)
    from .backends import check_backend  # here: core.backends imports core.measures, which imports this module

    check_backend(config.backend)
    if scorer is not None:
        check_prompts(config, scorer)
    return config


def _check_device(device: object) -> None:
    """A torch device name such as 'cpu', 'cuda' or 'cuda:1' (whether this machine has it is
    checked where models load: a ZeroGPU Space attaches its GPU only inside a task)."""
    import torch  # loaded only when a config is checked

    expected = "a torch device such as 'cpu', 'cuda' or 'cuda:1'"
    if not isinstance(device, str) or device.strip().lower() == "auto":
        raise InputError("device", device, expected)
    try:
        torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError("device", device, expected) from None


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """A JSON-serialisable dict of the config."""
    return dataclasses.asdict(config)


def config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Inverse of :func:`config_to_dict` (accepts a dict loaded from JSON)."""
    data = dict(data)
    data["measures"] = tuple(PromptPair(**m) for m in data["measures"])
    if data.get("objective") is not None:
        data["objective"] = PromptPair(**data["objective"])
    if data.get("measure_ranges") is not None:
        data["measure_ranges"] = tuple(tuple(float(v) for v in r) for r in data["measure_ranges"])
    known = {f.name for f in dataclasses.fields(RunConfig)}
    return RunConfig(**{k: v for k, v in data.items() if k in known})


def dumps(config: RunConfig) -> str:
    """The config as pretty JSON."""
    return json.dumps(config_to_dict(config), indent=2)
