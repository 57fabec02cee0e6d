"""validate_config and its helpers: every limit is refused with the field, the value and the limit."""

from __future__ import annotations

import math

import pytest

from core.config import (
    MAX_ARCHIVE_CELLS,
    MAX_EVALUATIONS,
    MAX_LABEL_CHARS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    PromptPair,
    prompt_phrasings,
    validate_config,
    whole_number,
)
from core.errors import InputError
from core.registry import load_generator
from tests.core.conftest import small_config


def _one(pos: str, neg: str, label: str = "") -> tuple[PromptPair, ...]:
    return (PromptPair(pos, neg, label),)


def test_prompt_phrasings_ignore_case_spaces_and_order():
    assert prompt_phrasings("A red shape") == prompt_phrasings("a  red shape ") == {"a red shape"}
    assert prompt_phrasings("a red shape | a crimson shape") == prompt_phrasings(" a CRIMSON shape|a red shape|")
    assert prompt_phrasings("a red shape") != prompt_phrasings("a red shape | a crimson shape")


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(measures=_one("A red shape", "a red shape ")), r"measure 1 prompts: got 'A red shape / a red shape '; expected two different texts"),
        (dict(measures=_one("a red shape | a crimson shape", "a crimson shape|A RED shape")), "measure 1 prompts: got"),
        (dict(objective=PromptPair("a clean shape", "a  clean SHAPE")), "objective prompts: got"),
        (dict(measures=_one("a red shape " * 30, "a blue shape")), f"measure 1 positive prompt: got 'a red shape .*\\.\\.\\.; expected at most {MAX_PROMPT_CHARS} characters \\(this text has 360\\)"),
        (dict(measures=_one("a red shape", "a blue shape", "x" * (MAX_LABEL_CHARS + 1))), f"measure 1 label: got 'xxx.*expected at most {MAX_LABEL_CHARS} characters"),
        (dict(measures=_one("a red\nshape", "a blue shape")), r"measure 1 positive prompt: got 'a red\\nshape'; expected one line of text without control characters"),
        (dict(measures=_one("a red shape", "a blue\x00shape")), "measure 1 negative prompt: got .*control characters"),
        (dict(measures=_one("a red shape", 5)), "measure 1 negative prompt: got 5; expected a text"),
        (dict(seed=MAX_SEED + 1), f"seed: got {MAX_SEED + 1}; expected a whole number from 0 to {MAX_SEED}"),
        (dict(seed=1.5), "seed: got 1.5; expected a whole number from 0"),
        (dict(evaluations=MAX_EVALUATIONS + 1), f"evaluations: got {MAX_EVALUATIONS + 1}; expected a whole number from 1 to 1,000,000"),
        (dict(evaluations=float("nan")), "evaluations: got nan; expected a whole number from 1 to"),
        (dict(batch_size=10**9), "batch_size: got 1000000000; expected a whole number from 1 to 10,000"),
        (dict(emitters=0), "emitters: got 0; expected a whole number from 1 to"),
        (dict(archive_resolution=201), "archive_resolution: got 201; expected a whole number from 2 to 200"),
        (dict(generator=["shapes"]), r"generator: got \['shapes'\]; expected one of"),
        (dict(algorithm=7), "algorithm: got 7; expected one of"),  # None is the generator's default
        (dict(measure_ranges=((0.0, math.inf), (0.0, 1.0))), r"measure 1 range: got \(0.0, inf\); expected \(low, high\): two finite numbers with low < high"),
        (dict(measure_ranges=((0.0, 1.0), (math.nan, 1.0))), r"measure 2 range: got \(nan, 1.0\)"),
        (dict(measure_ranges=((0.0, 1.0), (0.5, 0.5))), r"measure 2 range: got \(0.5, 0.5\)"),
        (dict(measure_ranges=((0.0, 1.0), ("low", "high"))), r"measure 2 range: got \('low', 'high'\)"),
        (dict(device="warp-drive"), "device: got 'warp-drive'; expected a torch device such as 'cpu'"),
        (dict(device="auto"), "device: got 'auto'"),
    ],
)
def test_validate_config_names_the_field(overrides, match):
    with pytest.raises(InputError, match=match):
        validate_config(small_config(**overrides))


def test_archive_cells_in_all_are_capped():
    four = tuple(PromptPair(f"a {c} shape", "a square") for c in ("red", "green", "blue", "clean"))
    validate_config(small_config(measures=four, archive_resolution=40))  # 40**4 = 2.56 M cells: allowed
    assert 41**4 <= MAX_ARCHIVE_CELLS < 42**4
    with pytest.raises(InputError, match="archive_resolution: got 50; expected at most 41 cells per measure with 4 measures"):
        validate_config(small_config(measures=four, archive_resolution=50))


def test_limits_themselves_are_accepted():
    long = ("a red shape " * 30)[:MAX_PROMPT_CHARS]
    cfg = small_config(measures=_one(long, "a blue shape", "x" * MAX_LABEL_CHARS), seed=MAX_SEED)
    assert validate_config(cfg) is cfg


@pytest.mark.parametrize("value, expected", [(3, 3), (3.0, 3), (-2.0, -2), (10**12, 10**12)])
def test_whole_number_accepts_integral_values(value, expected):
    assert whole_number("seed", value, "a whole number") == expected


@pytest.mark.parametrize("value", [1.5, math.nan, math.inf, -math.inf, "7", None, True, [1]])
def test_whole_number_refuses_everything_else(value):
    with pytest.raises(InputError, match="^seed: got .*; expected a whole number from 0 to 9$"):
        whole_number("seed", value, "a whole number from 0 to 9")


def test_unknown_model_options_are_named():
    with pytest.raises(InputError, match=r"generator options: got \{'colour': 'red'\}; expected options the shapes generator takes: weights"):
        load_generator("shapes", colour="red", device="cpu")
