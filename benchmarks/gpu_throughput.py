"""Throughput of the real-model stack: evaluations per second and peak memory.

Measures, for several batch sizes, with the tiny decoder (AutoencoderTiny) and with the full
VAE:

- raw forward: z -> initial noise -> UNet (1 step) -> decoder -> open_clip image embedding,
  no gradients (what the random baseline and gradient-free algorithms pay per sample);
- gradient evaluation: the engine's ``Evaluator.evaluate(z, gradients=True)`` for the faces
  preset (objective + 4 measures: one forward, five backward passes), what CMA-MAEGA pays;
- search: a whole ``run_search`` (CMA-MAEGA and CMA-ME) on the same models, as
  evaluations per second of search time, and its ratio to the best raw forward throughput.

Weights are random, built from the real architectures (sd-turbo's UNet = SD 2.1's, SD's
VAE, taesd's AutoencoderTiny, open_clip ViT-B-32) at 512 px, because no weights can be
downloaded on this project's machines; speed and memory do not depend on weight values, so
the figures are honest for the real models. The text encoder is left out: the base prompt is
encoded once at load time (random (1, 77, 1024) states stand in for it).

    python benchmarks/gpu_throughput.py                 # GPU (or CPU if none), 512 px
    python benchmarks/gpu_throughput.py --tiny          # tiny models from tests.core.real_tiny, CPU, seconds

Prints one markdown table per part (paste into benchmarks/README.md) and, with ``--json``,
writes every figure to a file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import core  # noqa: E402,F401  (torchvision shim before open_clip / diffusers)
from core.config import PRESETS, RunConfig  # noqa: E402
from core.registry import generator_defaults  # noqa: E402
from core.measures import Evaluator  # noqa: E402
from core.real.devices import OutOfMemory, is_out_of_memory, resolve_device, resolve_dtype  # noqa: E402
from core.real.diffusion_generator import DiffusionGenerator, DiffusionSettings  # noqa: E402
from core.real.openclip_scorer import OpenClipScorer  # noqa: E402

# The published configs of the real models (stabilityai/sd-turbo unet/ and vae/ config.json:
# the Stable Diffusion 2.1 architecture at 512 px; its scheduler; madebyollin/taesd is
# AutoencoderTiny's default config).
SD_TURBO_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    attention_head_dim=(5, 10, 20, 20),
    cross_attention_dim=1024,
    use_linear_projection=True,
    norm_num_groups=32,
    act_fn="silu",
)
SD_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)
SD_TURBO_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    prediction_type="epsilon",
    timestep_spacing="trailing",
    steps_offset=1,
)
TEXT_STATES = (1, 77, 1024)  # OpenCLIP ViT-H text encoder output of sd-turbo
OPENCLIP_MODEL = "ViT-B-32"  # the default scorer's architecture

log = logging.getLogger("gpu_throughput")


def build_full(device: torch.device, dtype: torch.dtype, *, latent_dim: int, max_batch: int):
    """(generator with tiny decoder, generator with full VAE only, scorer), random weights, 512 px."""
    import open_clip
    from diffusers import AutoencoderKL, AutoencoderTiny, EulerDiscreteScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD_TURBO_UNET).to(device, dtype)
    vae = AutoencoderKL(**SD_VAE).to(device, dtype)
    taesd = AutoencoderTiny().to(device, dtype)
    scheduler = EulerDiscreteScheduler(**SD_TURBO_SCHEDULER)
    prompt = torch.randn(*TEXT_STATES)
    settings = DiffusionSettings(latent_dim=latent_dim, max_batch=max_batch)
    common = dict(unet=unet, vae=vae, scheduler=scheduler, prompt_embeds=prompt, settings=settings,
                  device=device, dtype=dtype, gradient_checkpointing=device.type == "cuda")
    gen_tiny = DiffusionGenerator(tiny_vae=taesd, description={"model": "random sd-turbo architecture"}, **common)
    gen_full = DiffusionGenerator(tiny_vae=None, description={"model": "random sd-turbo architecture"}, **common)
    precision = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    clip = open_clip.create_model(OPENCLIP_MODEL, pretrained=None, precision=precision, device=device)
    scorer = OpenClipScorer(model=clip, tokenizer=open_clip.get_tokenizer(OPENCLIP_MODEL), device=device,
                            dtype=dtype, description={"model": f"random {OPENCLIP_MODEL}"}, max_batch=max(256, max_batch))
    return gen_tiny, gen_full, scorer


def build_tiny(folder: Path, *, latent_dim: int, max_batch: int):
    """The tiny real-layout models of tests.core.real_tiny, read back through the real loaders (CPU)."""
    from core import load_generator, load_scorer
    from tests.core.real_tiny import save_tiny_decoder, save_tiny_openclip, save_tiny_pipeline

    save_tiny_pipeline(folder / "pipe")
    save_tiny_decoder(folder / "taesd")
    save_tiny_openclip(folder / "clip")
    opts = dict(path=str(folder / "pipe"), latent_dim=latent_dim, max_batch=max_batch, device="cpu")
    gen_tiny = load_generator("sd-turbo", tiny_decoder=str(folder / "taesd"), **opts)
    gen_full = load_generator("sd-turbo", tiny_decoder="none", **opts)
    scorer = load_scorer("openclip", path=str(folder / "clip"), device="cpu")
    return gen_tiny, gen_full, scorer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn: Callable[[], object], *, device: torch.device, repeats: int) -> tuple[float, float | None]:
    """(seconds per call, peak GiB allocated on the GPU or None) after one warm-up call."""
    fn()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    seconds = (time.perf_counter() - t0) / repeats
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak


def forward_rates(gen_tiny, gen_full, scorer, *, batch_sizes, repeats, device) -> list[dict]:
    """Raw forward and gradient-evaluation throughput per batch size and decoder."""
    rows = []
    faces = PRESETS["faces"]
    for decoder, gen in (("tiny (AutoencoderTiny)", gen_tiny), ("full VAE", gen_full)):
        evaluator = Evaluator(generator=gen, scorer=scorer, measures=faces, objective=generator_defaults("sd-turbo").objective)
        for b in batch_sizes:
            z = gen.sample_prior(b, seed=b)
            for kind, fn in (
                ("forward", lambda: scorer.embed_images(gen.render(z))),
                ("gradients (1+4 outputs)", lambda: evaluator.evaluate(z, gradients=True)),
            ):
                row = {"decoder": decoder, "part": kind, "batch": b}
                gen._runner.chunk = max(gen._runner.chunk, b)
                try:
                    with torch.set_grad_enabled(kind != "forward"):
                        seconds, peak = measure(fn, device=device, repeats=repeats)
                    row.update(evals_per_s=b / seconds, seconds=seconds, peak_gib=peak, chunk=gen._runner.chunk)
                except (OutOfMemory, torch.cuda.OutOfMemoryError) as exc:
                    row.update(evals_per_s=None, error="out of memory", detail=str(exc)[:200])
                except RuntimeError as exc:
                    if not is_out_of_memory(exc):
                        raise
                    row.update(evals_per_s=None, error="out of memory", detail=str(exc)[:200])
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                rows.append(row)
                log.info("%s", row)
    return rows


def search_rates(gen, scorer, *, evaluations, batch_size, emitters, calibration, device) -> list[dict]:
    """Evaluations per second of search time for a whole run_search per algorithm."""
    from core.search import SearchSettings, run_search

    rows = []
    settings = SearchSettings(calibration_samples=calibration)
    with tempfile.TemporaryDirectory() as tmp:
        for algorithm in ("cma-maega", "cma-me"):
            config = RunConfig(
                measures=PRESETS["faces"], generator="sd-turbo", scorer="openclip", algorithm=algorithm,
                evaluations=evaluations, batch_size=batch_size, emitters=emitters, archive_resolution=10, seed=0,
            )
            warm = dataclasses.replace(config, evaluations=batch_size * emitters)  # compiles pyribs' kernels
            run_search(warm, run_dir=Path(tmp) / f"warm-{algorithm}", generator=gen, scorer=scorer, settings=settings)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            run = run_search(config, run_dir=Path(tmp) / algorithm, generator=gen, scorer=scorer, settings=settings)
            wall = time.perf_counter() - t0
            s = run.summary
            rows.append({
                "algorithm": algorithm,
                "evaluations": s["evaluations"],
                "search_seconds": s["search_seconds"],
                "evals_per_s": s["evaluations"] / s["search_seconds"],
                "wall_seconds_with_random_and_calibration": wall,
                "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
            })
            log.info("%s", rows[-1])
    return rows


def fmt(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny random models on the CPU (a check that the script runs)")
    p.add_argument("--device", default="auto", help="auto, cuda, cpu (default: auto; --tiny forces cpu)")
    p.add_argument("--precision", default="auto", help="auto (bf16/fp16 on GPU), fp32, fp16, bf16")
    p.add_argument("--batch-sizes", default=None, help="comma-separated (default: 8,16,32,64; --tiny: 4,16)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per figure (default: 5; --tiny: 2)")
    p.add_argument("--latent-dim", type=int, default=DiffusionSettings.latent_dim, help="d (default: %(default)s)")
    p.add_argument("--search-evaluations", type=int, default=None, help="budget per search (default: 1024; --tiny: 64)")
    p.add_argument("--json", type=Path, default=None, help="also write all figures to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    device = torch.device("cpu") if args.tiny else resolve_device(args.device)
    dtype = resolve_dtype(device, args.precision)
    batch_sizes = [int(b) for b in (args.batch_sizes or ("4,16" if args.tiny else "8,16,32,64")).split(",")]
    repeats = args.repeats or (2 if args.tiny else 5)
    evaluations = args.search_evaluations or (64 if args.tiny else 1024)
    max_batch = max(batch_sizes)
    t0 = time.perf_counter()
    if args.tiny:
        tmp = tempfile.TemporaryDirectory()
        gen_tiny, gen_full, scorer = build_tiny(Path(tmp.name), latent_dim=args.latent_dim, max_batch=max_batch)
    else:
        gen_tiny, gen_full, scorer = build_full(device, dtype, latent_dim=args.latent_dim, max_batch=max_batch)
    build_seconds = time.perf_counter() - t0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; dtype: {str(dtype).replace('torch.', '')}; image: {gen_tiny.image_size} px; "
          f"latent_dim: {gen_tiny.latent_dim}; models: {'tiny (tests.core.real_tiny)' if args.tiny else 'real architectures, random weights'}; "
          f"built in {build_seconds:.1f} s")

    fwd = forward_rates(gen_tiny, gen_full, scorer, batch_sizes=batch_sizes, repeats=repeats, device=device)
    print("\n| decoder | part | batch | evaluations/s | peak GPU memory (GiB) |")
    print("|---|---|---:|---:|---:|")
    for r in fwd:
        rate = fmt(r["evals_per_s"]) if r.get("evals_per_s") else r.get("error", "n/a")
        print(f"| {r['decoder']} | {r['part']} | {r['batch']} | {rate} | {fmt(r.get('peak_gib'), 2)} |")

    emitters = 4 if not args.tiny else 2
    per_emitter = max(2, max_batch // emitters)  # CMA-ES needs >= 2 solutions per emitter
    srch = search_rates(gen_tiny, scorer, evaluations=evaluations, batch_size=per_emitter, emitters=emitters,
                        calibration=min(evaluations, 256), device=device)
    best_forward = max((r["evals_per_s"] for r in fwd if r["part"] == "forward" and r["decoder"].startswith("tiny")
                        and r.get("evals_per_s")), default=None)
    print(f"\nSearch with the tiny decoder ({emitters} emitters x {per_emitter}, faces preset, "
          f"{evaluations} evaluations); raw forward best: {fmt(best_forward)} evaluations/s")
    print("\n| algorithm | evaluations | search s | evaluations/s | ratio to raw forward | peak GPU memory (GiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in srch:
        r["ratio_to_raw_forward"] = r["evals_per_s"] / best_forward if best_forward else None
        print(f"| {r['algorithm']} | {r['evaluations']} | {r['search_seconds']:.1f} | {r['evals_per_s']:.1f} | "
              f"{fmt(r['ratio_to_raw_forward'], 2)} | {fmt(r['peak_gib'], 2)} |")
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB on Linux
    print(f"\nprocess peak resident memory: {max_rss:.2f} GiB; total {time.perf_counter() - t0:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "dtype": str(dtype), "image_size": gen_tiny.image_size,
                                         "tiny": args.tiny, "forward": fwd, "search": srch}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
