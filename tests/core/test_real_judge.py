"""The open_clip judge of real-model runs, on CPU, with tiny random open_clip folders.

The judge is a second open_clip model read back through the product's loading code
(``load_judge("openclip", path=...)``); the scorer is another tiny folder (another
architecture and seed), so the two are different models, as the engine requires. Random
weights say nothing about what an image shows: these tests check the judge's arithmetic,
its options, what happens without its weights, the same-model refusal and a whole tiny run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import core  # noqa: F401  (torchvision shim first)
from core import load_judge, load_scorer
from core.config import PromptPair, RunConfig
from core.errors import InputError, WeightsNotFoundError
from core.interfaces import Verdicts
from core.judging import _same_model, load_run_judge
from core.models import clear_model_cache
from core.real import hub
from core.real.openclip_judge import DEFAULT_CLEAN_PROMPTS, OpenClipJudge
from tests.core.real_tiny import (
    TINY_OPENCLIP_JUDGE_CONFIG,
    save_tiny_decoder,
    save_tiny_openclip,
    save_tiny_pipeline,
)

LATENT_DIM = 8
PAIRS = [("a photo of an old person", "a photo of a young person"), ("a red car | a red bus", "a blue car")]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: on 2 cores shared with other jobs, two threads spin and run the tiny
    models many times slower (see benchmarks/README.md, "CPU check")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_real_judge")
    return {
        "clip": save_tiny_openclip(root / "clip"),  # the search's scorer
        "judge": save_tiny_openclip(root / "judge", seed=1, model_cfg=TINY_OPENCLIP_JUDGE_CONFIG),  # its judge
        "pipe": save_tiny_pipeline(root / "pipe"),
        "taesd": save_tiny_decoder(root / "taesd"),
    }


@pytest.fixture(scope="module")
def judge(folders) -> OpenClipJudge:
    return load_judge("openclip", path=str(folders["judge"]), device="cpu")


@pytest.fixture(scope="module")
def scorer(folders):
    return load_scorer("openclip", path=str(folders["clip"]), device="cpu")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(6, 3, 40, 48, generator=torch.Generator().manual_seed(0))  # (n, 3, H, W) in [0, 1]


def positive_probabilities(judge: OpenClipJudge, images: torch.Tensor, pairs) -> np.ndarray:
    """(n, len(pairs)) softmax probability of each positive prompt, computed here from the
    judge model's embeddings (independently of the judge's own arithmetic)."""
    with torch.no_grad():
        img = judge.scorer.embed_images(images).double()  # (n, D)
        out = np.zeros((len(images), len(pairs)))
        for j, (pos, neg) in enumerate(pairs):
            txt = judge.scorer.embed_texts([pos, neg]).double()  # (2, D)
            scale = judge.scorer.model.logit_scale.exp().item()
            out[:, j] = torch.softmax(scale * img @ txt.T, dim=1)[:, 0].numpy()
    return out


# ---- loading and verdicts ------------------------------------------------------------------------


def test_judge_loads_by_path_through_the_registry(folders, judge):
    from safetensors.torch import load_file

    assert isinstance(judge, OpenClipJudge) and judge.name == "openclip"
    saved = load_file(folders["judge"] / "open_clip_model.safetensors")
    loaded = judge.scorer.model.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert judge.scorer.embed_dim == TINY_OPENCLIP_JUDGE_CONFIG["embed_dim"] == 24
    assert judge.threshold == 0.6 and judge.clean_prompts == DEFAULT_CLEAN_PROMPTS
    assert judge.logit_scale == pytest.approx(judge.scorer.model.logit_scale.exp().item())  # the model's own scale
    described = judge.describe()
    json.dumps(described)
    assert described["name"] == "openclip" and described["threshold"] == 0.6
    assert described["model"]["name"] == "openclip" and described["model"]["source"] == str(folders["judge"])


def test_verdicts_shapes_and_values(judge, images):
    v = judge.judge(images, PAIRS)
    assert isinstance(v, Verdicts) and len(v) == 6
    assert v.side.shape == (6, 2) and v.side.dtype == np.int8 and set(np.unique(v.side)) <= {-1, 0, 1}
    assert v.confidence.shape == (6, 2) and ((0.5 <= v.confidence) & (v.confidence <= 1)).all()
    assert v.clean.shape == (6,) and v.clean.dtype == bool
    assert v.judged == [True, True]
    assert v.notes.shape == (6,)
    assert all(note == ("clean subject" if c else "not a clean subject") for note, c in zip(v.notes, v.clean))


def test_verdicts_follow_the_softmax_over_each_pair(judge, images):
    """Sides, confidences and clean flags are the softmax over (positive, negative) at the
    model's logit scale, thresholded; '|' phrasings are averaged (as the scorer does)."""
    pos = positive_probabilities(judge, images, [*PAIRS, judge.clean_prompts])  # (n, 3)
    v = judge.judge(images, PAIRS)
    np.testing.assert_allclose(v.confidence, np.maximum(pos[:, :2], 1 - pos[:, :2]), atol=1e-5)
    expected = np.where(pos[:, :2] >= 0.6, 1, np.where(pos[:, :2] <= 0.4, -1, 0))
    unsure = np.abs(np.abs(pos[:, :2] - 0.5) - 0.1) < 1e-5  # at the threshold to rounding: either answer
    assert ((v.side == expected) | unsure).all()
    np.testing.assert_array_equal(v.clean, pos[:, 2] >= 0.5)


def test_threshold_half_always_picks_a_side_and_near_one_never(folders, judge, images):
    pos = positive_probabilities(judge, images, PAIRS)
    assert (np.abs(pos - 0.5) > 1e-6).all()  # random images are never exactly undecided
    half = load_judge("openclip", path=str(folders["judge"]), device="cpu", threshold=0.5).judge(images, PAIRS)
    np.testing.assert_array_equal(half.side, np.where(pos > 0.5, 1, -1))
    strict = load_judge("openclip", path=str(folders["judge"]), device="cpu", threshold=0.999999)
    assert pos.max() < 0.999999 and pos.min() > 1 - 0.999999  # tiny random models are never that sure
    v = strict.judge(images, PAIRS)
    assert (v.side == 0).all()
    np.testing.assert_allclose(v.confidence, half.confidence)  # the threshold changes sides, not confidence


def test_empty_batch(judge):
    from core.judging import judge_images

    v = judge_images(judge, torch.zeros(0, 3, 32, 32), PAIRS)
    assert len(v) == 0 and v.side.shape == (0, 2) and v.judged == [True, True]


# ---- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.3, 0.49, 1.0, 1.5, "high", None, True, float("nan")])
def test_bad_threshold(folders, threshold):
    with pytest.raises(InputError, match=r"judge_options\.threshold.*from 0\.5 to below 1"):
        load_judge("openclip", path=str(folders["judge"]), device="cpu", threshold=threshold)


@pytest.mark.parametrize(
    "clean_prompts",
    [["only one"], ["a", "b", "c"], ["a clean photo", "  "], "ab", ["a clean photo", 3], 7],
)
def test_bad_clean_prompts(folders, clean_prompts):
    with pytest.raises(InputError, match=r"judge_options\.clean_prompts.*two non-empty texts"):
        load_judge("openclip", path=str(folders["judge"]), device="cpu", clean_prompts=clean_prompts)


def test_clean_prompts_are_used(folders, images):
    a = load_judge("openclip", path=str(folders["judge"]), device="cpu", clean_prompts=["a red car", "a blue car"])
    b = load_judge("openclip", path=str(folders["judge"]), device="cpu", clean_prompts=["a blue car", "a red car"])
    assert a.describe()["clean_prompts"] == ["a red car", "a blue car"]
    # Swapping the pair flips every image's clean flag (no probability is exactly 0.5).
    np.testing.assert_array_equal(a.judge(images, PAIRS).clean, ~b.judge(images, PAIRS).clean)


def test_bad_options_fail_before_the_weights_are_looked_for(empty_cache):
    """Without the default judge's weights, a bad option is still an error, not a skipped judge."""
    with pytest.raises(InputError, match=r"judge_options\.threshold"):
        load_run_judge("openclip", options={"threshold": 0.3})
    with pytest.raises(InputError, match=r"judge_options\.clean_prompts"):
        load_run_judge("openclip", options={"clean_prompts": "ab"})


def test_bad_path_architecture_tag_or_option(folders, tmp_path):
    with pytest.raises(InputError, match="judge_options.path.*existing checkpoint file or a folder"):
        load_run_judge("openclip", options={"path": "/nonexistent"})
    with pytest.raises(InputError, match="judge_options.path.*open_clip_config.json"):
        load_run_judge("openclip", options={"path": str(tmp_path)})  # a folder without a model
    with pytest.raises(InputError, match="judge_options.model.*open_clip architecture"):
        load_run_judge("openclip", options={"model": "ViT-Nope"})
    with pytest.raises(InputError, match="judge_options.pretrained.*laion2b_s34b_b88k"):
        load_run_judge("openclip", options={"pretrained": "no-such-tag"})
    with pytest.raises(InputError, match="judge options.*options the openclip judge takes: model, pretrained, path"):
        load_run_judge("openclip", options={"path": str(folders["judge"]), "no_such_option": 1})


# ---- missing weights ---------------------------------------------------------------------------


def test_missing_weights_skip_judging_with_a_note(empty_cache, caplog):
    ok, reason = hub.openclip_judge_available()
    assert not ok and "hf download laion/CLIP-ViT-B-16-laion2B-s34B-b88K" in reason
    judge, note = load_run_judge("openclip", options={})  # the default ViT-B-16 / laion2b_s34b_b88k
    assert judge is None
    assert note.startswith("judge 'openclip' unavailable here, judging skipped:")
    assert "open_clip judge 'ViT-B-16' / 'laion2b_s34b_b88k'" in note and "hf download laion/CLIP-ViT-B-16" in note
    assert str(empty_cache) in note  # where it looked
    # The same with the cache folder passed explicitly (the user's cache is not looked in).
    judge, note = load_run_judge("openclip", options={"cache_dir": str(empty_cache)})
    assert judge is None and "judging skipped" in note


def test_missing_weights_error_says_how_to_point_the_judge_at_weights(empty_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        load_judge("openclip", device="cpu")
    text = str(info.value)
    assert "open_clip judge 'ViT-B-16'" in text and "hf download laion/CLIP-ViT-B-16-laion2B-s34B-b88K" in text
    assert "--judge-option path=" in text and "--scorer-option" not in text


def test_judge_available_once_its_weights_are_cached(folders, empty_cache):
    """The default route: the default tag's checkpoint file in the local cache (found, not loaded)."""
    import shutil

    repo = empty_cache / "models--laion--CLIP-ViT-B-16-laion2B-s34B-b88K"
    rev = "b" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    (repo / "snapshots" / rev).mkdir(parents=True)
    shutil.copy(folders["judge"] / "open_clip_model.safetensors", repo / "snapshots" / rev / "open_clip_model.safetensors")
    assert hub.openclip_judge_available() == (True, "")
    assert hub.openclip_available()[0] is False  # the scorer's default is another model, still absent


# ---- the judge must not be the scorer ----------------------------------------------------------


def test_the_scorers_own_model_is_refused(folders, scorer, monkeypatch):
    clear_model_cache()
    with pytest.raises(InputError, match="judge.*different model from the search's scorer"):
        load_run_judge("openclip", options={"path": str(folders["clip"])}, scorer_description=scorer.describe())
    # Named another way (relative to the working directory), it is still the same folder.
    monkeypatch.chdir(folders["clip"].parent)
    with pytest.raises(InputError, match="different model"):
        load_run_judge("openclip", options={"path": "./clip/"}, scorer_description=scorer.describe())
    # Another folder is another model.
    judge, note = load_run_judge("openclip", options={"path": str(folders["judge"])}, scorer_description=scorer.describe())
    assert isinstance(judge, OpenClipJudge) and note == ""
    clear_model_cache()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"name": "openclip", "source": "ViT-B-32 / laion2b_s34b_b79k", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k",
          "dtype": "float32"},
         {"name": "openclip", "source": "ViT-B-32 / laion2b_s34b_b79k", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k",
          "dtype": "bfloat16", "embed_dim": 512}, True),  # precision and extra keys do not matter
        ({"name": "openclip", "source": "ViT-B-16 / laion2b_s34b_b88k", "model": "ViT-B-16", "pretrained": "laion2b_s34b_b88k"},
         {"name": "openclip", "source": "ViT-B-32 / laion2b_s34b_b79k", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"},
         False),  # the default judge against the default scorer
        ({"name": "openclip", "source": "ViT-B-32 / laion2b_s34b_b79k"}, {"name": "shapes", "source": "ViT-B-32 / laion2b_s34b_b79k"},
         False),
        ({"name": "x", "model": "m", "pretrained": "p"}, {"name": "x", "model": "m", "pretrained": "p"}, True),
        ({"name": "x", "model": "m", "pretrained": "p"}, {"name": "x", "model": "m", "pretrained": "q"}, False),
        ({"name": "x"}, {"name": "x"}, False),  # nothing says which weights: not refused
    ],
)
def test_same_model_compares_name_and_source(a, b, same):
    assert _same_model(a, b) is same


def test_same_model_resolves_checkpoint_paths(folders, monkeypatch):
    monkeypatch.chdir(folders["clip"].parent)
    ckpt = folders["clip"] / "open_clip_model.safetensors"
    a = {"name": "openclip", "source": f"ViT-B-32 / {ckpt}", "model": "ViT-B-32", "pretrained": str(ckpt)}
    b = {"name": "openclip", "source": "ViT-B-32 / clip/open_clip_model.safetensors", "model": None, "pretrained": None}
    assert _same_model(a, b)  # pretrained=<file> and path=<the same file, relative>
    c = {**b, "source": "ViT-B-16 / clip/open_clip_model.safetensors"}
    assert not _same_model(a, c)


# ---- a whole tiny run: search -> summary -> export -------------------------------------------------


def run_config(folders: dict[str, Path], **judge) -> RunConfig:
    return RunConfig(
        measures=(PromptPair(*PAIRS[0]), PromptPair(*PAIRS[1])),
        generator="sd-turbo",
        scorer="openclip",
        algorithm="cma-me",  # gradient-free: the judge is what is under test, not the gradients
        evaluations=12,
        batch_size=4,
        emitters=1,
        archive_resolution=4,
        seed=2,
        generator_options={
            "path": str(folders["pipe"]), "tiny_decoder": str(folders["taesd"]), "latent_dim": LATENT_DIM, "max_batch": 64,
        },
        scorer_options={"path": str(folders["clip"])},
        **judge,
    )


def test_tiny_run_is_judged_and_exported_with_judge_columns(folders, tmp_path):
    from core.export import export_balanced
    from core.search import run_search

    clear_model_cache()
    config = run_config(folders, judge="openclip", judge_options={"path": str(folders["judge"]), "threshold": 0.5})
    run = run_search(config, run_dir=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "done"
    assert summary["judge"]["name"] == "openclip" and summary["judge"]["model"]["source"] == str(folders["judge"])
    assert summary["judge"]["threshold"] == 0.5
    for side in ("qd", "balanced_random", "random"):
        report = summary[side]["judge"]
        assert report["judge"] == "openclip" and report["note"] == ""
        assert report["images"] > 0 and 0 <= report["agree"] <= report["checked"] <= report["images"]
        assert report["judged"] == [True, True]
        # threshold 0.5 on random weights: every image takes a side of both measures, so with
        # two bins per measure every image is checked
        assert report["checked"] == report["images"]
        for key in ("judge_agreement", "judge_not_clean", "verified_uniformity"):
            assert isinstance(summary[side][key], float) and 0 <= summary[side][key] <= 1 and math.isfinite(summary[side][key])

    zip_path = tmp_path / "data.zip"
    result = export_balanced(run, images=4, bins=2, quality_threshold=float("-inf"), out=zip_path)
    assert result.judge["qd"].judge == "openclip"
    with zipfile.ZipFile(zip_path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith("metadata.csv"))
        rows = list(csv.DictReader(io.StringIO(zf.read(meta).decode())))
    assert 0 < len(rows) <= 4
    for row in rows:
        assert {row["judge_0"], row["judge_1"]} <= {"positive", "negative"}  # threshold 0.5: always a side
        assert (row["judge_clean"], row["judge_note"]) in {("True", "clean subject"), ("False", "not a clean subject")}
    clear_model_cache()


def test_tiny_run_without_the_judges_weights_finishes_with_a_note(folders, tmp_path, empty_cache):
    from core.search import run_search

    clear_model_cache()
    config = run_config(folders, judge="openclip", judge_options={"threshold": 0.5})  # the default ViT-B-16: absent
    run_search(config, run_dir=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "done" and summary["evaluations"] > 0
    assert summary["judge"] is None
    note = summary["qd"]["judge"]["note"]
    assert "judge 'openclip' unavailable here, judging skipped" in note and "ViT-B-16" in note
    assert summary["qd"]["judge"]["judge"] is None and summary["qd"]["judge_agreement"] is None
    clear_model_cache()


def test_tiny_run_refuses_the_scorer_as_its_judge(folders, tmp_path):
    from core.search import run_search

    clear_model_cache()
    config = run_config(folders, judge="openclip", judge_options={"path": str(folders["clip"])})
    with pytest.raises(InputError, match="different model"):
        run_search(config, run_dir=tmp_path / "run")
    clear_model_cache()
