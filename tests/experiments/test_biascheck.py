"""The bias check: per-group accuracy on known answers, the data it draws, bad input, and the
whole experiment end to end on a tiny budget with the stand-in generator and scorer."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from core import cli
from experiments import biascheck
from experiments.biascheck import (
    BIAS_LEVELS,
    CONDITIONS,
    GROUP_NAMES,
    GROUPS,
    METRICS,
    BiasCheckConfig,
    BiasCheckResult,
    accuracy_summary,
    balanced_test_set,
    evaluate,
    group_accuracy,
    labels_from_measures,
    real_training_set,
    run_bias_check,
    validate_bias_config,
)
from core.config import PromptPair
from core.errors import InputError
from tests.core import stand_ins


class ColourShortcut(nn.Module):
    """A hand-made classifier that has learnt only the bias: red means triangle, blue square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red_minus_blue = (x[:, 0] - x[:, 2]).mean(dim=(1, 2))  # (n,)
        return torch.stack([-red_minus_blue, red_minus_blue], dim=1)  # logits (square, triangle)


class AlwaysSquare(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([1.0, 0.0]).expand(len(x), 2)


def tiny_config(**overrides) -> BiasCheckConfig:
    base = dict(
        bias="0.95",
        images=60,
        seeds=1,
        real_images=200,
        test_per_group=20,
        image_size=16,
        channels=(8, 16),
        pretrain_epochs=2,
        finetune_epochs=2,
        generator=stand_ins.NAME,
        scorer=stand_ins.NAME,
        objective=PromptPair("a clean shape", "a smudge"),
        evaluations=300,
        bins=4,
    )
    base.update(overrides)
    return BiasCheckConfig(**base)


# ---- per-group accuracy -----------------------------------------------------------------


def test_group_accuracy_on_hand_made_predictions():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    preds = np.array([1, 1, 0, 0, 0, 1, 1, 0, 0, 1])
    groups = np.array([0, 0, 1, 1, 2, 2, 2, 3, -1, -1])  # the last two belong to no group
    acc = group_accuracy(preds, labels, groups, num_groups=4)
    np.testing.assert_allclose(acc, [1.0, 0.0, 1 / 3, 1.0])
    summary = accuracy_summary(acc)
    assert summary["red triangle"] == 1.0 and summary["blue triangle"] == 0.0
    assert summary["mean"] == pytest.approx((1 + 0 + 1 / 3 + 1) / 4)
    assert summary["worst"] == 0.0


def test_colour_shortcut_classifier_fails_exactly_the_rare_groups():
    test = balanced_test_set(per_group=6, size=16, rng=np.random.default_rng(0))
    assert np.bincount(test.groups).tolist() == [6, 6, 6, 6]
    shortcut = evaluate(ColourShortcut(), test)
    assert [shortcut[g] for g in GROUP_NAMES] == [1.0, 0.0, 0.0, 1.0]  # red tri, blue tri, red sq, blue sq
    assert shortcut["mean"] == 0.5 and shortcut["worst"] == 0.0
    square = evaluate(AlwaysSquare(), test)
    assert [square[g] for g in GROUP_NAMES] == [0.0, 0.0, 1.0, 1.0]


def test_group_accuracy_rejects_bad_arrays():
    with pytest.raises(InputError, match="predictions/labels/groups.*one length"):
        group_accuracy(np.zeros(3), np.zeros(2), np.zeros(3, int), num_groups=1)
    with pytest.raises(InputError, match="groups.*at least one example in every group"):
        group_accuracy(np.zeros(2), np.zeros(2), np.array([0, 0]), num_groups=2)
    with pytest.raises(InputError, match=r"groups.*indices in \[0, 2\)"):
        group_accuracy(np.zeros(2), np.zeros(2), np.array([0, 5]), num_groups=2)


# ---- data -------------------------------------------------------------------------------


def test_real_training_set_follows_the_bias_level():
    real = real_training_set(bias="0.90", n=2000, size=16, rng=np.random.default_rng(1))
    assert real.images.shape == (2000, 3, 16, 16)
    assert 0.0 <= float(real.images.min()) and float(real.images.max()) <= 1.0
    tri = real.labels.numpy() == 1
    assert 0.45 < tri.mean() < 0.55
    red_tri = (real.groups == GROUPS.index(("red", "triangle"))).sum() / tri.sum()
    blue_sq = (real.groups == GROUPS.index(("blue", "square"))).sum() / (~tri).sum()
    assert red_tri == pytest.approx(0.90, abs=0.03) and blue_sq == pytest.approx(0.90, abs=0.03)


def test_synthetic_labels_are_the_sign_of_the_triangle_vs_square_measure():
    measures = np.array([[0.3, 0.2], [-0.3, -0.01], [0.0, 0.0], [1.0, 0.5]])
    assert labels_from_measures(measures).tolist() == [1, 0, 0, 1]


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("bias", "0.5", "bias: got '0.5'; expected one of 0.98, 0.95, 0.90, 0.85, 0.80"),
        ("bias", 0.93, "bias: got 0.93"),
        ("bias", "high", "bias: got 'high'"),
        ("images", 0, "images: got 0; expected a whole number >= 1"),
        ("images", -5, "images: got -5"),
        ("seeds", 0, "seeds: got 0; expected a whole number >= 1"),
        ("real_images", 0, "real_images: got 0"),
        ("test_per_group", -1, "test_per_group: got -1"),
        ("evaluations", 0, "evaluations: got 0"),
        ("lr", 0.0, "lr: got 0.0; expected a number > 0"),
        ("image_size", 2, r"image_size: got 2; expected a whole number >= 4"),
    ],
)
def test_bad_config_raises_input_error(field, value, match):
    with pytest.raises(InputError, match=match):
        validate_bias_config(tiny_config(**{field: value}))


def test_more_images_than_the_search_budget_is_refused():
    with pytest.raises(InputError, match=r"images: got 500; expected at most the search budget \(300 evaluations\)"):
        validate_bias_config(tiny_config(images=500))


def test_bias_is_normalised_to_its_preset_key():
    assert validate_bias_config(tiny_config(bias=0.9)).bias == "0.90"
    assert validate_bias_config(tiny_config(bias="0.8")).bias == "0.80"
    assert set(BIAS_LEVELS) == {"0.98", "0.95", "0.90", "0.85", "0.80"}


def test_cli_bad_bias_is_one_line_with_status_2(capsys):
    assert cli.main(["bias-check", "--bias", "0.5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "bias: got '0.5'" in err


# ---- end to end -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_runs() -> tuple[BiasCheckResult, BiasCheckResult, dict, list]:
    """Two bias levels sharing one cache of synthetic sets (one search in all)."""
    cache: dict = {}
    events: list = []
    first = run_bias_check(tiny_config(), cache=cache, on_progress=events.append)
    second = run_bias_check(tiny_config(bias="0.80"), cache=cache)
    return first, second, cache, events


def test_end_to_end_on_a_tiny_budget(tiny_runs):
    result, _, _, events = tiny_runs
    rec = result.records
    assert list(rec["condition"]) == list(CONDITIONS) and (rec["seed"] == 0).all()
    acc = rec[list(GROUP_NAMES)].to_numpy()
    assert ((acc >= 0) & (acc <= 1)).all()
    np.testing.assert_allclose(rec["mean"], acc.mean(axis=1))
    np.testing.assert_allclose(rec["worst"], acc.min(axis=1))
    # Plain random matches the QD set's size; balanced random is what the same selection
    # finds among the random samples (fewer where the rare quadrants run short).
    sizes = result.synthetic.set_index("set")["images"]
    assert list(sizes.index) == ["qd", "balanced_random", "random"]
    assert 0 < sizes["qd"] <= 60 and sizes["random"] == sizes["qd"] and sizes["balanced_random"] <= 60
    assert rec.set_index("condition")["images"].to_dict() == {
        "none": 0, "random": sizes["qd"], "balanced_random": sizes["balanced_random"], "qd": sizes["qd"],
        "real": 4 * (sizes["qd"] // 4),
    }
    # The stand-in prior ties colour to shape, so random samples under-fill the rare
    # quadrants; the balanced QD selection fills its emptiest quadrant better.
    shares = result.synthetic.set_index("set")[list(GROUP_NAMES)]
    assert shares.loc["qd"].min() > shares.loc["random"].min()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    # The judge read every synthetic set.
    judged = result.synthetic.set_index("set")
    assert (judged["judge"] == stand_ins.NAME).all() and judged["judge_agreement"].between(0, 1).all()
    # Progress: every stage reported, ending with "done".
    assert events[-1].stage == "done" and events[-1].done == events[-1].total == 7
    assert any("search" in e.detail for e in events)


def test_result_tables(tiny_runs):
    result = tiny_runs[0]
    table = result.table()
    assert list(table.index) == list(CONDITIONS)
    assert table[("worst", "mean")].tolist() == result.records["worst"].tolist()
    assert table[("mean", "std")].isna().all()  # one seed: no spread
    shown = result.display_table()
    assert list(shown.columns) == ["fine-tuned on", *METRICS] and len(shown) == len(CONDITIONS)
    long = result.group_summary()
    assert set(long["group"]) == {*GROUP_NAMES, "worst"} and len(long) == len(CONDITIONS) * 5
    worst = table[("worst", "mean")]
    assert result.qd_beats("balanced_random") == (worst["qd"] > worst["balanced_random"])
    assert result.qd_beats_random() == (worst["qd"] > worst["random"])


def test_synthetic_sets_are_cached_across_bias_levels(tiny_runs):
    first, second, cache, _ = tiny_runs
    assert len(cache) == 1  # one (generator, seed): searched once
    pd.testing.assert_frame_equal(first.synthetic, second.synthetic)
    assert second.config.bias == "0.80"
    # Different real data behind the same synthetic sets: the pretrained models differ.
    assert not first.records[list(METRICS)].equals(second.records[list(METRICS)])


def test_seeds_give_mean_and_std(tiny_runs):
    result = tiny_runs[0]
    two = dataclasses.replace(result, records=pd.concat([result.records, result.records.assign(seed=1)]))
    t = two.table()
    assert (t.xs("std", axis=1, level=1) == 0).all().all()  # identical seeds: zero spread
    assert "±" in two.display_table().iloc[0, 1]


def test_cli_runs_and_writes_csv(tmp_path, capsys, monkeypatch):
    # The options the command line does not expose (model size, epochs) made tiny.
    small = functools.partial(BiasCheckConfig, image_size=16, channels=(8, 16), pretrain_epochs=1,
                              finetune_epochs=1, test_per_group=10, bins=4)
    monkeypatch.setattr(biascheck, "BiasCheckConfig", small)
    out = tmp_path / "bias.csv"
    status = cli.main([
        "bias-check", "--bias", "0.9", "--images", "60", "--seeds", "1", "--real-images", "200",
        "--evaluations", "300", "--generator", stand_ins.NAME, "--scorer", stand_ins.NAME,
        "--objective", "a clean shape", "a smudge", "--out", str(out), "--quiet",
    ])
    printed = capsys.readouterr().out
    assert status == 0
    assert "real data bias 0.90" in printed and "worst-group accuracy" in printed and "balanced random" in printed
    assert "judge_agreement" in printed
    rows = pd.read_csv(out)
    assert list(rows["condition"]) == list(CONDITIONS) and set(METRICS) <= set(rows.columns)
    assert (rows["bias"] == 0.9).all() and (rows["requested_images"] == 60).all()
    images = dict(zip(rows["condition"], rows["images"]))
    assert images["none"] == 0 and 0 < images["qd"] <= 60 and images["random"] == images["qd"]
