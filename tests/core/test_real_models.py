"""Real models (issue 5) on CPU, with tiny random models written in the real file layouts.

Every model here is built from a small config, saved with its library's own writer
(``save_pretrained`` / an open_clip folder) into a temporary folder, and read back through
the product's loading code (``load_generator("sd-turbo", path=...)``,
``load_scorer("openclip", path=...)``). No weights are downloaded.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import core  # noqa: F401  (torchvision shim first)
from core import load_generator, load_scorer
from core.config import PRESET_MODELS, PRESETS, RunConfig
from core.errors import InputError, WeightsNotFoundError
from core.real import hub
from core.real.devices import ChunkRunner, OutOfMemory, resolve_device, resolve_dtype
from core.real.diffusion_generator import DiffusionGenerator, NoiseParameterisation
from core.real.openclip_scorer import OpenClipScorer, preprocess_images
from tests.core.real_tiny import (
    TINY_OPENCLIP_PREPROCESS,
    clip_tokenizer_from_open_clip,
    save_tiny_decoder,
    save_tiny_openclip,
    save_tiny_pipeline,
)
from core.registry import generator_entries, scorer_entries

LATENT_DIM = 16


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_real_models")
    return {
        "clip": save_tiny_openclip(root / "clip"),
        "pipe": save_tiny_pipeline(root / "pipe"),
        "taesd": save_tiny_decoder(root / "taesd"),
    }


def generator_options(folders: dict[str, Path], **extra) -> dict:
    return {
        "path": str(folders["pipe"]),
        "tiny_decoder": str(folders["taesd"]),
        "latent_dim": LATENT_DIM,
        "max_batch": 64,  # tiny models: large chunks keep python overhead down
        **extra,
    }


@pytest.fixture(scope="module")
def generator(folders) -> DiffusionGenerator:
    return load_generator("sd-turbo", device="cpu", **generator_options(folders))


@pytest.fixture(scope="module")
def scorer(folders) -> OpenClipScorer:
    return load_scorer("openclip", path=str(folders["clip"]), device="cpu")


# ---- tokenizer ---------------------------------------------------------------------------


def test_tokenizer_has_clips_vocabulary_and_context():
    tok = clip_tokenizer_from_open_clip()
    assert tok.model_max_length == 77
    ids = tok(["a red car", "a blue dog", "a portrait photo of a person"], padding="max_length", max_length=77).input_ids
    assert all(len(row) == 77 for row in ids)
    assert len({tuple(row) for row in ids}) == 3  # different prompts, different ids
    unk = tok.convert_tokens_to_ids(tok.unk_token)
    assert len(set(ids[2]) - {unk, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}) >= 4
    # The same ids as open_clip's own tokenizer (the vocabulary SD and CLIP were trained with).
    import open_clip

    ref = open_clip.tokenizer.SimpleTokenizer()("a portrait photo of a person")[0]
    assert ids[2][:8] == ref[:8].tolist()


def test_saved_pipeline_tokenizer_keeps_the_vocabulary(folders):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(folders["pipe"] / "tokenizer")
    a, b = tok(["a photo of a man", "a photo of a woman"]).input_ids
    assert a != b and tok.model_max_length == 77


# ---- open_clip scorer ----------------------------------------------------------------------


def test_openclip_scorer_loads_saved_weights_and_config(folders, scorer):
    from safetensors.torch import load_file

    saved = load_file(folders["clip"] / "open_clip_model.safetensors")
    loaded = scorer.model.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert scorer.embed_dim == 16
    assert list(scorer.preprocess_cfg["mean"]) == TINY_OPENCLIP_PREPROCESS["mean"]
    assert list(scorer.preprocess_cfg["std"]) == TINY_OPENCLIP_PREPROCESS["std"]
    assert scorer.describe()["name"] == "openclip"


def test_openclip_embed_images_unit_norm_and_differentiable(scorer):
    x = torch.rand(3, 3, 48, 64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    emb = scorer.embed_images(x)
    assert emb.shape == (3, 16) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    emb[:, 0].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.no_grad():  # the chunked no-grad path gives the same rows
        torch.testing.assert_close(scorer.embed_images(x.detach()), emb.detach())


def test_openclip_embed_texts(scorer):
    emb = scorer.embed_texts(["a red car", "a blue dog", "a red car | a blue dog"])
    assert emb.shape == (3, 16)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    assert not torch.allclose(emb[0], emb[1])
    mixed = torch.nn.functional.normalize(emb[0] + emb[1], dim=0)  # '|' averages the phrasings
    torch.testing.assert_close(emb[2], mixed, atol=1e-5, rtol=1e-5)
    with pytest.raises(InputError, match="prompt 1"):
        scorer.embed_texts([" | "])


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
def test_preprocessing_matches_open_clips_pil_transform(resize_mode):
    """The tensor preprocessing reproduces open_clip's PIL pipeline up to resampling detail."""
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from PIL import Image

    cfg = {**TINY_OPENCLIP_PREPROCESS, "size": 32, "resize_mode": resize_mode, "fill_color": 0}
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 80), indexing="ij")
    img = torch.stack([xx, yy, (xx + yy) / 2])  # smooth (3, 48, 80) image in [0, 1]
    u8 = (img * 255).round().to(torch.uint8)
    pil = Image.fromarray(u8.permute(1, 2, 0).numpy())
    ref = image_transform_v2(PreprocessCfg(**cfg), is_train=False)(pil)
    ours = preprocess_images(u8[None].float() / 255, cfg)[0]
    assert ours.shape == ref.shape == (3, 32, 32)
    # One grey level of 255 is 0.0157 after dividing by std 0.25; resampling kernels differ slightly.
    assert (ours - ref).abs().mean() < 0.03


def test_openclip_errors(folders, tmp_path, empty_cache):
    with pytest.raises(InputError, match="scorer_options.model.*open_clip architecture"):
        load_scorer("openclip", model="ViT-Nope", device="cpu")
    with pytest.raises(InputError, match="scorer_options.pretrained.*laion2b_s34b_b79k"):
        load_scorer("openclip", pretrained="no-such-tag", device="cpu")
    with pytest.raises(InputError, match="scorer_options.path"):
        load_scorer("openclip", path=str(tmp_path / "absent"), device="cpu")
    (tmp_path / "no_weights").mkdir()
    (tmp_path / "no_weights" / "open_clip_config.json").write_text((folders["clip"] / "open_clip_config.json").read_text())
    with pytest.raises(WeightsNotFoundError, match="no checkpoint"):
        load_scorer("openclip", path=str(tmp_path / "no_weights"), device="cpu")


def test_openclip_weights_not_found_says_what_to_download(empty_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        load_scorer("openclip", device="cpu")  # the default: ViT-B-32 / laion2b_s34b_b79k
    text = str(info.value)
    assert "hf download laion/CLIP-ViT-B-32-laion2B-s34B-b79K open_clip_model.safetensors" in text
    assert "--scorer-option path=" in text and "shapes" in text


# ---- noise parameterisation ------------------------------------------------------------------


def test_noise_parameterisation_is_exact_in_its_subspace():
    param = NoiseParameterisation(latent_dim=8, shape=(2, 4, 4), seed=5)
    basis = param.basis.double()
    torch.testing.assert_close(basis.T @ basis, torch.eye(8, dtype=torch.float64), atol=1e-6, rtol=0)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    noise = param(z)
    assert noise.shape == (5, 2, 4, 4)
    # Bᵀ noise = z: z sets the noise's component in span(B); the rest is the fixed ε₀ part.
    torch.testing.assert_close(noise.view(5, -1) @ param.basis, z, atol=1e-5, rtol=0)
    again = NoiseParameterisation(latent_dim=8, shape=(2, 4, 4), seed=5)
    assert torch.equal(again.basis, param.basis) and torch.equal(again.offset, param.offset)
    other = NoiseParameterisation(latent_dim=8, shape=(2, 4, 4), seed=6)
    assert not torch.allclose(other.offset, param.offset)


def test_noise_is_standard_normal_over_z_and_eps0():
    """noise = B z + (I - B Bᵀ) ε₀ with z, ε₀ ~ N(0, I) has covariance I (and mean 0).

    With n = 20,000 draws, each entry of the sample covariance has standard error about
    1/sqrt(n) = 0.007 (off-diagonal) or sqrt(2/n) = 0.010 (diagonal); the mean's entries
    1/sqrt(n) = 0.007. Tolerances of 0.06 and 0.05 are over 5 standard errors for every one
    of the 32 x 32 entries, so the test fails only if the construction is wrong.
    """
    n, d, shape = 20_000, 8, (2, 4, 4)
    param = NoiseParameterisation(latent_dim=d, shape=shape, seed=2)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    eps0 = torch.randn(n, 32, generator=gen, dtype=torch.float64)
    basis = param.basis.double()
    noise = z @ basis.T + eps0 - (eps0 @ basis) @ basis.T  # fresh ε₀ per draw
    assert noise.mean(0).abs().max() < 0.05
    cov = torch.cov(noise.T)
    assert (cov - torch.eye(32, dtype=torch.float64)).abs().max() < 0.06


def test_generator_noise_looks_like_one_standard_normal_draw(generator):
    """With the generator's fixed ε₀ and z ~ N(0, I), each noise tensor's D entries pass a
    Kolmogorov-Smirnov test against N(0, 1) (D = 4 x 8 x 8 = 256; p > 0.001)."""
    from scipy import stats

    z = generator.sample_prior(6, seed=11)
    noise = generator.noise(z).reshape(6, -1).double().cpu().numpy()
    assert noise.shape[1] == 256
    for row in noise:
        assert stats.kstest(row, "norm").pvalue > 1e-3
        assert abs(row.var() - 1) < 0.3  # var of 256 N(0,1) draws: standard error 0.09


# ---- diffusers generator -----------------------------------------------------------------------


def test_generator_loads_from_path_and_renders(generator):
    assert (generator.latent_dim, generator.image_size) == (LATENT_DIM, 32)
    assert generator.tiny_vae is not None
    z = generator.sample_prior(4, seed=3)
    assert z.shape == (4, LATENT_DIM)
    assert torch.equal(z, generator.sample_prior(4, seed=3))
    with torch.no_grad():
        x = generator.render(z)
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0
    torch.testing.assert_close(generator.render(z), x)  # a pure function of z
    final = generator.render_final(z)
    assert final.shape == x.shape and not torch.allclose(final, x)  # full VAE, not the tiny one
    described = generator.describe()
    assert described["steps"] == 1 and described["tiny_decoder_in_search"] is True
    json.dumps(described)


def test_generator_is_differentiable_in_z(generator):
    z = generator.sample_prior(2, seed=4).requires_grad_(True)
    generator.render(z).mean().backward()
    assert z.grad.shape == z.shape
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_log_prior_is_standard_normal(generator):
    z = generator.sample_prior(3, seed=0)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    torch.testing.assert_close(generator.log_prior(z), expected)


def test_base_prompt_changes_the_images(folders, generator):
    """The text path is live: another prompt (other token ids) gives other images."""
    other = load_generator("sd-turbo", device="cpu", **generator_options(folders, base_prompt="a photo of a red car"))
    z = generator.sample_prior(2, seed=1)
    assert not torch.allclose(other.prompt_embeds, generator.prompt_embeds)
    assert not torch.allclose(other.render(z), generator.render(z))


def test_without_tiny_decoder_render_uses_the_full_vae(folders, generator):
    full = load_generator("sd-turbo", device="cpu", **generator_options(folders, tiny_decoder="none"))
    z = generator.sample_prior(2, seed=2)
    assert full.tiny_vae is None
    torch.testing.assert_close(full.render(z), full.render_final(z))
    torch.testing.assert_close(full.render_final(z), generator.render_final(z))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"resolution": 36}, "generator_options.resolution.*multiple of 8"),
        ({"latent_dim": 257}, "generator_options.latent_dim.*from 1 to 256"),
        ({"steps": 0}, "generator_options.steps"),
        ({"base_prompt": "  "}, "generator_options.base_prompt"),
        ({"tiny_decoder": "not-an-id"}, "generator_options.tiny_decoder"),
        ({"device": "cuda"}, "device.*no CUDA"),
        ({"precision": "fp16"}, "precision.*CPU"),
    ],
)
def test_generator_option_errors(folders, options, match):
    with pytest.raises(InputError, match=match):
        load_generator("sd-turbo", **{"device": "cpu", **generator_options(folders), **options})


def test_generator_loads_a_folder_holding_only_fp16_variant_files(tmp_path):
    """The Space preloads only sd-turbo's *.fp16.safetensors; loading falls back to that variant."""
    folder = save_tiny_pipeline(tmp_path / "pipe16", variant="fp16")
    assert list(folder.glob("unet/*.fp16.safetensors")) and not list(folder.glob("unet/*model.safetensors"))
    g = load_generator("sd-turbo", path=str(folder), tiny_decoder="none", latent_dim=4, device="cpu")
    assert g.render(g.sample_prior(1, seed=0)).shape == (1, 3, 32, 32)


def _copy_into_cache(cache: Path, repo_id: str, folder: Path) -> None:
    """Puts a model folder into the Hugging Face cache layout, as a download would."""
    import shutil

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    rev = "a" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    shutil.copytree(folder, repo / "snapshots" / rev)


@pytest.mark.parametrize("variant", [None, "fp16"])
def test_models_load_by_id_from_the_local_cache(folders, tmp_path, empty_cache, variant):
    """The default route: a Hugging Face id found in the local cache, offline."""
    pipe = save_tiny_pipeline(tmp_path / "pipe", variant=variant)
    _copy_into_cache(empty_cache, "tester/tiny-sd", pipe)
    _copy_into_cache(empty_cache, "tester/tiny-taesd", folders["taesd"])
    _copy_into_cache(empty_cache, "tester/tiny-clip", folders["clip"])
    g = load_generator("sd-turbo", model="tester/tiny-sd", tiny_decoder="tester/tiny-taesd", latent_dim=4, device="cpu")
    assert g.describe()["model"] == "tester/tiny-sd" and g.tiny_vae is not None
    s = load_scorer("openclip", model="hf-hub:tester/tiny-clip", device="cpu")
    emb = s.embed_images(g.render(g.sample_prior(2, seed=0)))
    assert emb.shape == (2, 16)


def test_generator_path_must_hold_a_pipeline(tmp_path):
    with pytest.raises(InputError, match="generator_options.path.*model_index.json"):
        load_generator("sd-turbo", path=str(tmp_path), device="cpu")


def test_generator_weights_not_found_says_what_to_download(empty_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        load_generator("sd-turbo", device="cpu")
    text = str(info.value)
    assert "hf download stabilityai/sd-turbo" in text and "huggingface-cli download stabilityai/sd-turbo" in text
    assert "--generator-option path=" in text and "shapes world works offline" in text


def test_tiny_decoder_missing(folders, empty_cache, caplog):
    with pytest.raises(WeightsNotFoundError, match="hf download someone/tiny-vae"):
        load_generator("sd-turbo", device="cpu", **generator_options(folders, tiny_decoder="someone/tiny-vae"))
    with caplog.at_level(logging.WARNING, logger="core.real.diffusion_generator"):
        g = load_generator("sd-turbo", device="cpu", **generator_options(folders, tiny_decoder="auto"))
    assert g.tiny_vae is None
    assert "madebyollin/taesd" in caplog.text and "full VAE" in caplog.text


def test_gradient_out_of_memory_suggests_gradient_free_algorithms(folders, monkeypatch):
    g = load_generator("sd-turbo", device="cpu", **generator_options(folders))

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(g.unet, "forward", oom)
    z = g.sample_prior(2, seed=0).requires_grad_(True)
    with pytest.raises(OutOfMemory, match="gradient-free algorithm.*cma-mae"):
        g.render(z)


# ---- devices -----------------------------------------------------------------------------------


def test_resolve_device_and_dtype():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="device.*'auto', 'cpu'"):
        resolve_device("gpu")
    assert resolve_dtype(torch.device("cpu")) == torch.float32
    assert resolve_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    with pytest.raises(InputError, match="precision.*'auto' or one of"):
        resolve_dtype(torch.device("cpu"), "fp8")


def test_chunk_runner_halves_on_out_of_memory(caplog):
    calls = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        if len(x) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return x * 2

    runner = ChunkRunner(max_chunk=16, label="test")
    x = torch.arange(10.0)
    with caplog.at_level(logging.WARNING, logger="core.real.devices"):
        out = runner(fn, x)
    torch.testing.assert_close(out, x * 2)
    assert calls[:3] == [10, 5, 2] and runner.chunk == 2  # 10 fails, 5 fails, then chunks of 2
    assert "out of memory at a chunk of 10; retrying with 5" in caplog.text
    calls.clear()
    runner(fn, x)
    assert calls == [2] * 5  # remembered
    with pytest.raises(OutOfMemory, match="even for one sample"):
        ChunkRunner(max_chunk=1, label="test")(lambda x: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("out of memory")), x)
    with pytest.raises(ValueError, match="not memory"):  # other errors pass through untouched
        ChunkRunner(max_chunk=4, label="test")(lambda x: (_ for _ in ()).throw(ValueError("not memory")), x)


# ---- registry and availability -----------------------------------------------------------------


def _fake_cached_repo(cache: Path, repo_id: str, files: list[str]) -> None:
    """The Hugging Face cache layout: models--org--name/{refs/main, snapshots/<rev>/...}."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    rev = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    for name in files:
        path = repo / "snapshots" / rev / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def test_availability_reports_missing_weights_then_cached_ones(empty_cache):
    ok, reason = generator_entries()["sd-turbo"].available()
    assert not ok and "hf download stabilityai/sd-turbo" in reason and "model_index.json" in reason
    ok, reason = scorer_entries()["openclip"].available()
    assert not ok and "hf download laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in reason
    _fake_cached_repo(empty_cache, "stabilityai/sd-turbo", [alts[-1] for alts in hub.PIPELINE_WEIGHT_FILES])
    _fake_cached_repo(empty_cache, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", ["open_clip_model.safetensors"])
    assert generator_entries()["sd-turbo"].available() == (True, "")
    assert scorer_entries()["openclip"].available() == (True, "")


def test_availability_reports_a_missing_library(monkeypatch):
    real = hub.importlib.util.find_spec
    monkeypatch.setattr(hub.importlib.util, "find_spec", lambda name: None if name == "diffusers" else real(name))
    ok, reason = hub.sd_turbo_available()
    assert not ok and reason == "needs a library that is not installed: diffusers"


def test_faces_preset_and_objective():
    faces = PRESETS["faces"]
    labels = [p.display_label() for p in faces]
    assert len(faces) == 4
    for word in ("skin", "gender", "hair", "age"):
        assert any(word in label for label in labels)
    assert PRESET_MODELS["faces"] == ("sd-turbo", "openclip")
    assert PRESET_MODELS[next(iter(PRESETS))] == ("shapes", "shapes")  # the first preset stays a shapes one
    assert "one person" in RunConfig(measures=faces, generator="sd-turbo").resolved_objective().positive


# ---- the whole path: search -> export on the tiny real-model stack -------------------------------


@pytest.mark.slow
def test_cli_search_and_export_on_tiny_real_models(folders, tmp_path, capsys):
    """`python -m core search --generator sd-turbo --scorer openclip ...` then `export`: the
    whole path on the tiny real-model stack, with CMA-MAEGA (gradients through both models)."""
    from PIL import Image

    from core.cli import main
    from core.models import clear_model_cache
    from core.runs import Run

    clear_model_cache()
    out = tmp_path / "run"
    faces = PRESETS["faces"]
    status = main(
        [
            "search",
            "--generator", "sd-turbo",
            "--scorer", "openclip",
            "--generator-option", f"path={folders['pipe']}",
            "--generator-option", f"tiny_decoder={folders['taesd']}",
            "--generator-option", f"latent_dim={LATENT_DIM}",
            "--generator-option", "max_batch=64",
            "--scorer-option", f"path={folders['clip']}",
            "--measure", faces[0].positive, faces[0].negative,
            "--measure", faces[2].positive, faces[2].negative,
            "--algorithm", "cma-maega",
            "--evaluations", "32",
            "--batch-size", "8",
            "--emitters", "1",
            "--resolution", "5",
            "--out", str(out),
            "--quiet",
        ]
    )
    assert status == 0, capsys.readouterr().err
    run = Run.open(out)
    assert (run.config.generator, run.config.scorer) == ("sd-turbo", "openclip")
    assert run.config.generator_options["latent_dim"] == LATENT_DIM
    assert run.summary["generator"]["name"] == "sd-turbo" and run.summary["scorer"]["name"] == "openclip"
    assert len(run.pool) == run.summary["evaluations"] > 0 and run.pool.z.shape[1] == LATENT_DIM
    assert np.isfinite(run.pool.measures).all() and np.isfinite(run.pool.objective).all()
    assert len(run.archive) > 0

    zip_path = tmp_path / "faces.zip"
    status = main(["export", str(out), "--images", "8", "--bins", "2", "--quality", "none", "--out", str(zip_path), "--quiet"])
    assert status == 0, capsys.readouterr().err
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        images = [n for n in names if n.endswith(".png") and n.count("/") == 2]  # train/<bin>/<file>.png
        assert any(n.endswith("metadata.csv") for n in names) and 0 < len(images) <= 8
        with zf.open(images[0]) as fh:
            assert Image.open(fh).size == (32, 32)  # rendered by the tiny pipeline's full VAE
    clear_model_cache()


@pytest.mark.slow
def test_gpu_benchmark_script_runs_tiny_on_cpu(tmp_path, capsys):
    """benchmarks/gpu_throughput.py --tiny: every part runs and reports positive figures."""
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_throughput.py"
    spec = importlib.util.spec_from_file_location("gpu_throughput", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "figures.json"
    args = ["--tiny", "--batch-sizes", "2", "--repeats", "1", "--latent-dim", "8", "--search-evaluations", "8"]
    assert module.main([*args, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["tiny"] is True and figures["image_size"] == 32
    assert {(r["decoder"].split()[0], r["part"].split()[0]) for r in figures["forward"]} == {
        ("tiny", "forward"), ("tiny", "gradients"), ("full", "forward"), ("full", "gradients")
    }
    assert all(r["evals_per_s"] > 0 for r in figures["forward"])
    assert [r["algorithm"] for r in figures["search"]] == ["cma-maega", "cma-me"]
    assert all(r["evals_per_s"] > 0 and r["ratio_to_raw_forward"] > 0 for r in figures["search"])
    assert "| algorithm | evaluations |" in capsys.readouterr().out
