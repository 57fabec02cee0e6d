"""Balanced export: selection, zip layout, loading with torchvision and datasets, bad input."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest

import core  # noqa: F401  (torchvision shim first)
from core import metrics
from core.errors import InputError
from core import export as export_module
from core.export import export_balanced, select_for_run
from core.runs import Samples
from core.search import run_search
from core.selection import select_balanced
from tests.core.conftest import small_config


@pytest.fixture(scope="module")
def run(tmp_path_factory, generator, scorer):
    return run_search(small_config(evaluations=800), run_dir=tmp_path_factory.mktemp("runs") / "r", generator=generator, scorer=scorer)


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory, generator, scorer):
    out = tmp_path_factory.mktemp("export") / "data.zip"
    progress = []
    result = export_balanced(
        run, images=60, bins=4, out=out, generator=generator, scorer=scorer, clear_ends=False,
        on_progress=lambda d, t: progress.append((d, t)),
    )
    return result, progress


def test_selection_is_even_distinct_and_above_threshold(run):
    sel = select_for_run(run, images=80, bins=4, quality_threshold=-np.inf, clear_ends=False)
    assert sel.counts.sum() == len(sel.indices) == 80
    filled = sel.counts[sel.available > 0]
    # Water-filling: bins with enough candidates get the same share (+-1).
    full = sel.counts[sel.available >= sel.even_share]
    assert full.max() - full.min() <= 1
    assert (sel.counts <= sel.available).all() and filled.min() >= 1
    assert len(set(sel.indices.tolist())) == len(sel.indices)
    # Bins in the selection match the pool's measures.
    np.testing.assert_array_equal(
        sel.bin_index, metrics.bin_indices(run.pool.measures[sel.indices], run.measure_ranges, 4)
    )
    # No two chosen samples in one bin closer than the near-duplicate distance.
    for b in {tuple(r) for r in sel.bin_index.tolist()}:
        z = run.pool.z[sel.indices[(sel.bin_index == b).all(axis=1)]]
        if len(z) > 1:
            dist = np.linalg.norm(z[:, None] - z[None], axis=-1) + np.eye(len(z)) * 1e9
            assert dist.min() >= sel.min_distance


def test_quality_threshold_filters(run):
    thr = float(np.median(run.pool.objective))
    sel = select_for_run(run, images=50, bins=3, quality_threshold=thr)
    assert (run.pool.objective[sel.indices] >= thr).all()


def test_short_bins_are_reported_not_filled(run):
    # Far more images than distinct samples per bin: every bin is short, none is padded.
    sel = select_for_run(run, images=100_000, bins=2, quality_threshold=-np.inf)
    assert sorted(sel.short_bins) == ["b0_0", "b0_1", "b1_0", "b1_1"]
    np.testing.assert_array_equal(sel.counts, sel.available)


def test_zip_loads_with_torchvision_image_folder(exported, tmp_path):
    from torchvision.datasets import ImageFolder

    result, progress = exported
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(tmp_path)
    folder = ImageFolder(str(tmp_path / "train"))
    assert len(folder) == result.n_images == 60
    image, target = folder[0]
    assert image.size == (16, 16)
    assert folder.classes[target].startswith("b")
    assert len(folder.classes) == int((result.counts > 0).sum())
    assert progress[-1][0] == progress[-1][1]


def test_metadata_follows_imagefolder_rules(exported):
    result, _ = exported
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
        rows = list(csv.DictReader(io.StringIO(zf.read("train/metadata.csv").decode())))
        assert {"README.md", "density.png", "train/metadata.csv"} <= names
        assert zf.read("density.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(rows[0])[:2] == ["file_name", "label"]
    assert {"measure_0", "measure_1", "bin_0", "bin_1", "objective", "prompts", "latent"} <= set(rows[0])
    assert len(rows) == result.n_images
    for row in rows:
        # file_name is relative to the metadata file's folder and names a file in the zip.
        assert not row["file_name"].startswith(("/", "train/"))
        assert f"train/{row['file_name']}" in names
        assert row["file_name"].split("/")[0] == row["label"] == f"b{row['bin_0']}_{row['bin_1']}"
        assert len(json.loads(row["latent"])) == 8
        assert {row["judge_0"], row["judge_1"]} <= {"positive", "negative", "neither"}
        assert row["judge_clean"] in ("True", "False")
    assert len({r["file_name"] for r in rows}) == len(rows)
    assert sum(result.counts.ravel()) == len(rows)


def test_zip_loads_with_hf_datasets(exported, tmp_path):
    datasets = pytest.importorskip("datasets")
    result, _ = exported
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(tmp_path)
    ds = datasets.load_dataset("imagefolder", data_dir=str(tmp_path), cache_dir=str(tmp_path / ".cache"))
    assert list(ds) == ["train"]
    train = ds["train"]
    assert len(train) == result.n_images
    assert {"image", "label", "measure_0", "objective"} <= set(train.column_names)
    assert train[0]["image"].size == (16, 16)


def test_card_and_metrics(exported, run):
    result, _ = exported
    assert "a red shape" in result.card and "cma-maega" in result.card and "balanced random" in result.card
    assert "What the judge saw" in result.card and "| folder |" in result.card
    assert set(result.metrics) == {"qd", "balanced_random", "random"}
    assert result.metrics["qd"]["images"] == result.metrics["random"]["images"] == 60
    # Balanced beats plain random sampling of the biased stand-in world on uniformity.
    assert result.metrics["qd"]["uniformity"] > result.metrics["random"]["uniformity"]
    for side in ("qd", "balanced_random", "random"):
        report = result.judge[side]
        assert report.judge == "stand-in" and report.images == result.metrics[side]["images"]
        assert result.metrics[side]["judge_agreement"] == report.agreement


def test_balanced_random_goes_through_the_same_selection_code(run, tmp_path, generator, scorer, monkeypatch):
    calls = []
    real = export_module.select_balanced

    def spy(pool, **kwargs):
        calls.append((pool, {k: v for k, v in kwargs.items() if k != "verify"}))
        return real(pool, **kwargs)

    monkeypatch.setattr(export_module, "select_balanced", spy)
    result = export_balanced(run, images=40, bins=3, out=tmp_path / "x.zip", generator=generator, scorer=scorer)
    assert [pool for pool, _ in calls] == [run.pool, run.random_pool]
    assert calls[0][1] == calls[1][1]  # same ranges, counts, threshold, distance and clear levels
    expected = select_for_run(run, run.random_pool, images=40, bins=3)
    assert result.metrics["balanced_random"]["images"] == len(expected.indices)


def test_verified_drops_disagreeing_images_and_reports_short_bins(run, tmp_path, generator, scorer):
    plain = export_balanced(run, images=200, bins=2, out=tmp_path / "plain.zip", generator=generator, scorer=scorer, clear_ends=False)
    verified = export_balanced(
        run, images=200, bins=2, out=tmp_path / "verified.zip", generator=generator, scorer=scorer, clear_ends=False, verified=True
    )
    assert plain.judge["qd"].agreement < 1.0  # the stand-in judge turns some down ...
    assert verified.rejected_by_judge > 0 and verified.verified
    assert verified.judge["qd"].agreement == 1.0  # ... and none of those is kept
    with zipfile.ZipFile(verified.path) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("train/metadata.csv").decode())))
    claim = {"0": "negative", "1": "positive"}
    for row in rows:
        assert row["judge_clean"] == "True"
        assert row["judge_0"] == claim[row["bin_0"]] and row["judge_1"] == claim[row["bin_1"]]
    # Bins the judge left short are reported, not padded from elsewhere.
    even = -(-200 // 4)
    short = {f"b{i}_{j}" for i in range(2) for j in range(2) if verified.counts[i, j] < even}
    assert short and set(verified.short_bins) == short
    assert verified.n_images == len(rows) == int(verified.counts.sum())
    assert "This export is **verified**" in verified.card and "short of samples" in verified.card


def test_clear_ends_keep_unclear_samples_out_of_end_bins():
    # Two measures, three bins each over [0, 3]; similarities (n, 2, 2).
    measures = np.array([[2.9, 1.5], [2.8, 1.4], [1.5, 1.5], [0.1, 0.2]])
    sims = np.array(
        [
            [[0.9, 0.1], [0.5, 0.5]],  # top bin of measure 0, clear: kept
            [[0.3, 0.1], [0.5, 0.5]],  # top bin of measure 0, not like its prompt: kept out
            [[0.0, 0.0], [0.0, 0.0]],  # interior bins: no claim, kept
            [[0.1, 0.8], [0.1, 0.2]],  # bottom bins: clear on measure 0, not on measure 1: kept out
        ]
    )
    pool = Samples(np.eye(4), measures, np.zeros(4), sims)
    sel = select_balanced(
        pool, ranges=[(0, 3), (0, 3)], images=10, bins=3, quality_threshold=-np.inf, min_distance=0.0,
        clear_levels=[(0.8, 0.7), (0.6, 0.6)],
    )
    assert sorted(sel.indices.tolist()) == [0, 2] and sel.unclear == 2
    free = select_balanced(pool, ranges=[(0, 3), (0, 3)], images=10, bins=3, quality_threshold=-np.inf, min_distance=0.0)
    assert sorted(free.indices.tolist()) == [0, 1, 2, 3] and free.unclear == 0


def test_end_bins_rank_by_similarity_to_their_side():
    measures = np.array([[0.9, 0.5], [0.95, 0.5], [0.8, 0.5]])  # all in the top bin of measure 0
    sims = np.array([[[0.5, 0.0], [0.0, 0.0]], [[0.2, 0.0], [0.0, 0.0]], [[0.7, 0.0], [0.0, 0.0]]])
    pool = Samples(np.eye(3), measures, np.array([3.0, 2.0, 1.0]), sims)
    sel = select_balanced(pool, ranges=[(0, 1), (0, 1)], images=2, bins=2, quality_threshold=-np.inf, min_distance=0.0)
    # Most like "positive" first (not the highest measure, nor the best objective).
    assert sel.indices.tolist() == [2, 0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(images=0, bins=4), "images: got 0; expected a whole number >= 1"),
        (dict(images=10, bins=0), "bins: got 0; expected a whole number from 1 to"),
        (dict(images=10, bins=4, quality_threshold=float("nan")), "quality: got nan"),
    ],
)
def test_bad_export_input(run, tmp_path, generator, scorer, kwargs, match):
    with pytest.raises(InputError, match=match):
        export_balanced(run, out=tmp_path / "x.zip", generator=generator, scorer=scorer, **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs", [dict(images=0, bins=4), dict(images=10, bins=0)])
def test_bad_counts_are_refused_before_any_model_loads(run, tmp_path, monkeypatch, kwargs):
    import core.models

    monkeypatch.setattr(core.models, "get_generator", lambda *a, **k: pytest.fail("a model loaded before the check"))
    with pytest.raises(InputError, match="images: got 0|bins: got 0"):
        export_balanced(run, out=tmp_path / "x.zip", **kwargs)


def test_bad_out_path_and_missing_run(run, tmp_path, generator, scorer):
    with pytest.raises(InputError, match="out: got .*expected a file name ending in .zip"):
        export_balanced(run, images=5, bins=2, out=tmp_path / "x.tar", generator=generator, scorer=scorer)
    with pytest.raises(InputError, match="out: got .*expected a path in an existing folder"):
        export_balanced(run, images=5, bins=2, out=tmp_path / "no" / "x.zip", generator=generator, scorer=scorer)
    with pytest.raises(InputError, match="run directory: got .*expected a finished run directory"):
        export_balanced(tmp_path / "missing", images=5, bins=2, out=tmp_path / "x.zip")


def test_failed_write_leaves_nothing(run, tmp_path, generator, scorer, monkeypatch):
    import core.export as export

    def boom(image):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_png", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export_balanced(run, images=5, bins=2, out=tmp_path / "x.zip", generator=generator, scorer=scorer)
    assert not list(tmp_path.iterdir())
