"""Training scripts that regenerate the shipped shapes-world weights from scratch.

    python -m core.shapes.train scorer     # -> assets/shapes/scorer.safetensors
    python -m core.shapes.train generator  # -> assets/shapes/generator.safetensors

Both render fresh images every step from a seeded numpy Generator and are deterministic for
a seed (same seed, steps and torch version -> same weights). See ``--help`` for options.

The scorer learns from captions that describe a random subset of an image's attributes. Its
contrastive target is soft: a caption's target covers *every* image of the batch that it
truly describes, weighted by how well (hue distance for colours, distance to the size
ranges for sizes), computed from the caption's canonical tokens (:func:`concept_scores`).

The generator is a VAE with a FiLM-modulated last decoder block, trained on renders of one
bias preset. Afterwards two distributions over z are fitted and shipped with it: the
sampling prior, one kernel per encoded training render (the VAE's aggregate posterior;
sampling N(0, I) does not reproduce the data's bias, nor does a ~100-component Gaussian
mixture), and a smooth density, a Gaussian mixture fitted to posterior means, for the
search's realism term.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from . import vocab, world
from .models import DualEncoder, GaussianMixturePrior, KernelPrior, ScorerConfig, ShapesVAE, VAEConfig

log = logging.getLogger(__name__)

from ._weights import ASSETS, GENERATOR_WEIGHTS, SCORER_WEIGHTS

GENERATOR_FILE = GENERATOR_WEIGHTS.name
SCORER_FILE = SCORER_WEIGHTS.name


@dataclasses.dataclass(frozen=True)
class ScorerTrainConfig:
    seed: int = 0  # seeds numpy (renders, captions) and torch (init)
    steps: int = 3000  # optimisation steps (one fresh batch each)
    batch_size: int = 128  # images (and captions) per step
    lr: float = 2e-3  # peak AdamW learning rate (cosine decay, short warm-up)
    weight_decay: float = 0.01  # AdamW weight decay
    synonym_prob: float = 0.3  # probability of writing a word as one of its synonyms
    eval_every: int = 250  # steps between held-out accuracy logs


@dataclasses.dataclass(frozen=True)
class GeneratorTrainConfig:
    seed: int = 0  # seeds numpy (renders) and torch (init, reparameterisation, GMM)
    steps: int = 2500  # optimisation steps (one fresh batch each)
    batch_size: int = 64  # images per step
    lr: float = 2e-3  # peak Adam learning rate (cosine decay)
    bias: str = "0.90"  # key of world.BIAS_PRESETS the training data is drawn from
    recon_weight: float = 50.0  # weight of the per-image squared error (1 / (2 sigma^2))
    prior_kernels: int = 4096  # training renders encoded into the sampling prior (one component each)
    prior_bandwidth: float = 0.1  # added to the posterior standard deviations of the prior's components
    density_fit_images: int = 40000  # renders encoded to fit the smooth density (realism term)
    density_components: int = 96  # its Gaussian-mixture components
    eval_every: int = 250  # steps between logs


# ---------------------------------------------------------------------------------------------
# Captions and their soft targets
# ---------------------------------------------------------------------------------------------

_PREFIXES = ("a", "a", "a photo of a", "an image of a", "a picture of a", "this is a", "there is a", "a drawing of a", "")
_CANON_TO_SYNS: dict[str, list[str]] = {}
for _w, _t in vocab.SYNONYMS.items():
    if _w != _t and _w not in vocab.PLURALS:
        _CANON_TO_SYNS.setdefault(_t, []).append(_w)
for _noisy in ("soft", "light", "only", "some", "few", "dot", "ball", "block", "cube", "form", "thing", "object", "figure"):
    for _syns in _CANON_TO_SYNS.values():
        if _noisy in _syns:
            _syns.remove(_noisy)
HUE_TAIL = 0.02  # weight of the linear hue-distance tail of colour targets (see concept_scores)
_HUE_SIGMA = {name: 0.6 * (lo + hi) / 2 for name, (lo, hi) in world._HUE_HALF_GAPS.items()}
_EDGE_SHAPE = {"3": "triangle", "4": "square", "5": "star", "10": "star"}
_PROBES = (
    *(f"a {c} shape" for c in world.COLOURS),
    "a grey shape",
    "a pale shape",
    *(f"a {s}" for s in world.SHAPES),
    *(f"a {s} shape" for s in world.SIZES),
    "a smudge",
    "a blurry shape",
    "a sharp shape",
    "a clean shape",
    "a single shape",
    "several shapes",
    "a clean single shape",
    "one shape with sharp edges",
    "a pale grey shape",
    "an irregular shape",
    "a shape in mixed colours",
)


def concept_scores(attrs: world.ShapeAttributes) -> np.ndarray:
    """How well each canonical token describes each image, in [0, 1].

    Returns:
        float32 (n, len(vocab.TOKENS)).
    """
    n = len(attrs)
    col = {t: i for i, t in enumerate(vocab.TOKENS)}
    s = np.ones((n, len(vocab.TOKENS)), dtype=np.float32)
    grey = attrs.saturation < world.GREY_SATURATION
    pale = attrs.is_pale()
    several = attrs.count > 1
    smudge = attrs.smudge
    single = ~several & ~smudge
    two_colour = ~np.isnan(attrs.hue2)
    morphed = attrs.is_hybrid() & ~two_colour

    def hue_score(hue: np.ndarray, name: str, centre: float) -> np.ndarray:
        d = np.abs((hue - centre + 0.5) % 1.0 - 0.5)
        # A Gaussian around the centre plus a small tail that falls linearly over the whole
        # hue circle, so that a colour word ranks every hue by its distance (this is what
        # makes sim("a red shape") - sim("a blue shape") monotonic from red to blue).
        return np.exp(-0.5 * (d / _HUE_SIGMA[name]) ** 2) + HUE_TAIL * (1.0 - 2.0 * d)

    for name, centre in world.COLOURS.items():
        g = hue_score(attrs.hue, name, centre)
        # A two-coloured shape is half each colour: neither colour word describes it well.
        g = np.where(two_colour, 0.5 * np.maximum(g, hue_score(np.nan_to_num(attrs.hue2), name, centre)), g)
        s[:, col[name]] = np.where(grey, 0.0, np.where(pale, 0.6 * g, g))
    s[:, col["grey"]] = np.where(grey, 1.0, np.where(pale, 0.3, 0.0))
    s[:, col["pale"]] = np.where(pale, 1.0, np.where(grey, 0.4, 0.0))
    for idx, name in enumerate(world.SHAPES):
        is_shape = attrs.shape == idx
        s[:, col[name]] = np.where(single & is_shape, 1.0, np.where(several & is_shape, 0.3, 0.0))
        # An outline between two shapes is neither: a little of each, like several shapes.
        s[:, col[name]] = np.where(morphed & (is_shape | (attrs.morph_shape == idx)), 0.3, np.where(morphed, 0.0, s[:, col[name]]))
    s[:, col["shape"]] = np.where(smudge, 0.5, 1.0)
    s[:, col["irregular"]] = np.where(morphed, 1.0, np.where(smudge, 0.6, 0.0))
    s[:, col["mixed"]] = np.where(two_colour, 1.0, 0.0)
    small = 1 / (1 + np.exp(-(world.SIZES["small"][1] - attrs.size) / 0.025))
    large = 1 / (1 + np.exp(-(attrs.size - world.SIZES["large"][0]) / 0.025))
    medium = np.clip(1 - small - large, 0, 1)
    s[:, col["small"]] = np.where(several, 0.5, small)
    s[:, col["medium"]] = np.where(several, 0.2, medium)
    s[:, col["large"]] = np.where(several, 0.0, large)
    blurry = np.where(smudge, 1.0, 1 / (1 + np.exp(-(attrs.blur - 2.5) / 0.4)))
    s[:, col["blurry"]] = blurry
    s[:, col["sharp"]] = 1.0 - blurry
    s[:, col["smudge"]] = smudge
    s[:, col["several"]] = several
    s[:, col["single"]] = np.where(single, 1.0, np.where(smudge, 0.3, 0.0))
    s[:, col["clean"]] = np.where(attrs.is_clean(), 1.0, np.where((pale | grey) & single & ~attrs.is_blurry(), 0.15, 0.0))
    for num, shape in _EDGE_SHAPE.items():
        s[:, col[num]] = s[:, col[shape]]
    s[:, col["no"]] = s[:, col["circle"]]  # "no edges / no corners"
    return s


def caption_targets(captions: Sequence[str], scores: np.ndarray) -> np.ndarray:
    """Soft match of each caption to each image: product of its tokens' concept scores.

    Args:
        captions: k phrases.
        scores: (n, V) from :func:`concept_scores`.

    Returns:
        float32 (k, n).
    """
    out = np.ones((len(captions), scores.shape[0]), dtype=np.float32)
    for i, cap in enumerate(captions):
        for tok in set(vocab.tokenize(cap)):
            out[i] *= scores[:, vocab.TOKENS.index(tok)]
    return out


def _word(canon: str, rng: np.random.Generator, p: float) -> str:
    syns = _CANON_TO_SYNS.get(canon)
    if syns and rng.random() < p:
        return syns[rng.integers(len(syns))]
    return canon


def make_captions(attrs: world.ShapeAttributes, rng: np.random.Generator, *, synonym_prob: float) -> list[str]:
    """One caption per image, describing a random subset of its attributes."""
    labels = attrs.labels()
    out = []
    for j in range(len(attrs)):
        shape, colour, size = labels["shape"][j], labels["colour"][j], labels["size"][j]
        w = lambda t: _word(t, rng, synonym_prob)  # noqa: E731
        prefix = _PREFIXES[rng.integers(len(_PREFIXES))]
        words: list[str] = []
        noun = w("shape") if rng.random() < 0.3 else "shape"
        suffix = ""
        hybrid_outline = labels["hybrid"][j] and np.isnan(attrs.hue2[j])
        if hybrid_outline:  # never named after either shape it blends
            if rng.random() < 0.5:
                words.append(w(colour))
            words.append(w("irregular"))
            noun = w("shape") if rng.random() < 0.5 else "shape"
        elif not np.isnan(attrs.hue2[j]):
            second = world.hue_to_colour(np.array([attrs.hue2[j]]))[0]
            r = rng.random()
            if r < 0.4:
                words += [w(colour), "and", w(second)]
            elif r < 0.8:
                words.append(w("mixed"))
            else:
                suffix = " in mixed colours"  # ("two colours" would read as several shapes)
            noun = w(shape) if rng.random() < 0.5 else "shape"
        elif attrs.smudge[j]:
            if rng.random() < 0.5:
                words.append(w(colour))
            if rng.random() < 0.2:
                words.append(w("blurry"))
            noun = w("smudge")
        elif attrs.count[j] > 1:
            count_word = ("several", "many", "multiple", "two", "three", "some")[rng.integers(6)]
            words.append(count_word)
            if rng.random() < 0.5:
                words.append(w(colour))
            noun = "shapes"
            prefix = ("", "", "a picture of", "an image with", "a photo of")[rng.integers(5)]
        else:
            use_colour = rng.random() < 0.6
            use_size = rng.random() < 0.4
            use_shape = rng.random() < 0.6
            if not (use_colour or use_size or use_shape):
                use_colour = rng.random() < 0.5
                use_shape = not use_colour
            if attrs.is_pale()[j] and rng.random() < 0.8:
                words.append(w("pale"))
            if colour == "grey" and not use_colour and rng.random() < 0.8:
                use_colour = True
            if attrs.is_blurry()[j] and rng.random() < 0.85:
                words.append(w("blurry"))
            for q in ("clean", "single", "sharp"):
                if attrs.is_clean()[j] and rng.random() < 0.08:
                    words.append(w(q))
            if use_size:
                words.append(w(size))
            if use_colour:
                words.append(w(colour))
            if use_shape:
                noun = w(shape)
                edges = world.EDGES[shape]
                if shape in ("triangle", "square") and rng.random() < 0.12:
                    suffix = f" with {rng.choice([str(edges), ('three', 'four')[edges - 3]])} {rng.choice(['edges', 'sides', 'corners'])}"
                elif shape == "star" and rng.random() < 0.1:
                    suffix = f" with {rng.choice(['5', 'five'])} points"
                elif shape == "circle" and rng.random() < 0.05:
                    suffix = " with no corners"
            elif rng.random() < 0.06 and shape != "star":
                edges = world.EDGES[shape]
                suffix = " with no corners" if edges == 0 else f" with {edges} edges"
        text = " ".join(x for x in (prefix, *words, noun) if x) + suffix
        out.append(text)
    return out


def _probe_captions(rng: np.random.Generator) -> list[str]:
    prefixes = ("", "a photo of ", "an image of ")
    return [prefixes[rng.integers(len(prefixes))] + p for p in _PROBES]


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of rows of logits against row-normalised soft targets (rows with no
    positive mass are skipped)."""
    mass = target.sum(-1, keepdim=True)
    keep = mass[:, 0] > 1e-6
    p = target[keep] / mass[keep]
    return -(p * F.log_softmax(logits[keep], dim=-1)).sum(-1).mean()


def _images_tensor(attrs: world.ShapeAttributes) -> torch.Tensor:
    return torch.from_numpy(world.render(attrs)).permute(0, 3, 1, 2).contiguous()  # (n, 3, 64, 64)


def _prefetch(make_batch, steps: int, depth: int = 3):
    """Yields ``make_batch()`` ``steps`` times, computed one batch ahead in a thread.

    Batches are made in order by one thread, so the sequence is the same as without
    prefetching (numpy releases the GIL while rendering, so this overlaps with torch).
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        for _ in range(steps):
            if stop.is_set():
                return
            q.put(make_batch())
        q.put(None)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not None:
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # drain so the worker can finish its last put
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass


def _set_determinism(seed: int) -> None:
    # The CPU kernels used here (conv, matmul, attention) are deterministic for a fixed
    # thread count; torch.use_deterministic_algorithms is not called because it imports
    # torch._inductor (seconds of start-up) and changes nothing on CPU.
    torch.manual_seed(seed)


def _cosine_lr(step: int, steps: int, peak: float, warmup: int = 100) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def zero_shot_accuracy(model: DualEncoder, images: torch.Tensor, labels: np.ndarray, classes: Sequence[str], prompt: str = "a {} shape") -> float:
    """Fraction of images whose most similar prompt names their label."""
    ids, mask = vocab.encode([prompt.format(c) for c in classes])
    t = model.embed_tokens(torch.from_numpy(ids), torch.from_numpy(mask))
    e = model.embed_images(images)
    pred = np.asarray(classes, dtype=object)[(e @ t.T).argmax(-1).numpy()]
    return float((pred == labels).mean())


def _scorer_eval_sets(seed: int, n: int = 200) -> dict[str, tuple[torch.Tensor, np.ndarray, tuple[str, ...], str]]:
    rng = np.random.default_rng(seed + 10_000)
    sets = {}
    a = world.sample_attributes(n, bias=world.BiasSpec(shapes=world.SHAPES), rng=rng)
    sets["colour8"] = (_images_tensor(a), a.colour_names(), tuple(world.COLOURS), "a {} shape")
    sets["shape4"] = (_images_tensor(a), a.shape_names(), world.SHAPES, "a {}")
    sl = world.attributes_for(n // 2, rng=rng, size="small")
    lg = world.attributes_for(n // 2, rng=rng, size="large")
    both = world.ShapeAttributes.concat([sl, lg])
    sets["size2"] = (_images_tensor(both), both.size_names(), ("small", "large"), "a {} shape")
    return sets


def train_scorer(cfg: ScorerTrainConfig, *, out: Path, max_minutes: float | None = None) -> Path:
    """Trains the dual-encoder scorer and writes ``out/scorer.safetensors``.

    Returns:
        Path of the written file.
    """
    _set_determinism(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mcfg = ScorerConfig(vocab_size=len(vocab.TOKENS), max_tokens=vocab.MAX_TOKENS)
    model = DualEncoder(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    evals = _scorer_eval_sets(cfg.seed)
    log.info("scorer: %d parameters", sum(p.numel() for p in model.parameters()))

    def make_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        attrs = world.sample_attributes(cfg.batch_size, bias=world.SCORER_WORLD, rng=rng)
        captions = make_captions(attrs, rng, synonym_prob=cfg.synonym_prob) + _probe_captions(rng)
        target = torch.from_numpy(caption_targets(captions, concept_scores(attrs)))  # (C, B)
        ids, mask = vocab.encode(captions)
        return _images_tensor(attrs), target, torch.from_numpy(ids), torch.from_numpy(mask)

    t0 = time.time()
    step = 0
    batches = _prefetch(make_batch, cfg.steps)
    for step, (images, target, ids, mask) in enumerate(batches):
        for g in opt.param_groups:
            g["lr"] = _cosine_lr(step, cfg.steps, cfg.lr)
        img = model.embed_images(images)  # (B, D)
        txt = model.embed_tokens(ids, mask)  # (C, D)
        logits = model.logit_scale.exp().clamp(max=100.0) * txt @ img.T  # (C, B)
        loss = 0.5 * _soft_ce(logits, target) + 0.5 * _soft_ce(logits.T, target.T)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1:
            model.eval()
            accs = {k: zero_shot_accuracy(model, *v) for k, v in evals.items()}
            model.train()
            log.info(
                "scorer step %d/%d loss %.3f scale %.1f %s (%.0f s)",
                step + 1, cfg.steps, loss.item(), model.logit_scale.exp().item(),
                " ".join(f"{k}={v:.3f}" for k, v in accs.items()), time.time() - t0,
            )
        if max_minutes is not None and time.time() - t0 > 60 * max_minutes:
            log.warning("scorer: stopped by --max-minutes after %d steps", step + 1)
            break
    batches.close()  # stops the render thread
    elapsed = time.time() - t0
    meta = {
        "kind": "shapes-scorer",
        "model_config": json.dumps(dataclasses.asdict(mcfg)),
        "train_config": json.dumps(dataclasses.asdict(cfg)),
        "tokens": json.dumps(list(vocab.TOKENS)),
        "steps_done": str(step + 1),
        "train_seconds": f"{elapsed:.0f}",
        "torch_version": torch.__version__,
    }
    return _save(model.state_dict(), out / SCORER_FILE, meta)


def _save(state: dict[str, torch.Tensor], path: Path, meta: dict[str, str]) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(tmp), metadata=meta)
    tmp.replace(path)
    log.info("wrote %s (%.2f MB)", path, path.stat().st_size / 1e6)
    return path


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def fit_prior(mu: torch.Tensor, sigma: torch.Tensor, *, bandwidth: float) -> KernelPrior:
    """The VAE's aggregate posterior as a mixture: one component per encoded render.

    Component i is N(mu_i, diag(sigma_i^2 + bandwidth^2)), all with equal weight. Sampling
    it reproduces the training data's attribute frequencies (measured in
    ``benchmarks/shapes_world.py``); sampling a Gaussian mixture with ~100 components fitted
    to the posterior means did not (it put mass between clusters: squares of mixed colours,
    half-formed shapes).

    Args:
        mu: (K, d) posterior means.
        sigma: (K, d) posterior standard deviations.
        bandwidth: Extra standard deviation (>= 0) in every dimension.
    """
    prior = KernelPrior(mu.shape[0], mu.shape[1])
    prior.means.copy_(mu)
    prior.scales.copy_((sigma.double() ** 2 + bandwidth**2).sqrt().float())
    return prior


def fit_density(mu: np.ndarray, *, components: int, seed: int) -> GaussianMixturePrior:
    """A full-covariance Gaussian mixture fitted to posterior means ``mu`` (n, d).

    A smooth density of where the generator's latents lie, for the search's realism term:
    the kernel prior's own density is peaked around its components (a step of 0.3 from a
    sample costs ~45 nats), so it would confine the search to the training latents, while
    this one lets it move between them (measured: the kernel density as the realism term
    left the rare combinations, e.g. blue triangles, unfound).
    """
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, max_iter=200, random_state=seed, n_init=1)
    gmm.fit(mu.astype(np.float64))
    density = GaussianMixturePrior(components, mu.shape[1])
    density.weights.copy_(torch.from_numpy(gmm.weights_ / gmm.weights_.sum()).float())
    density.means.copy_(torch.from_numpy(gmm.means_).float())
    density.scale_tril.copy_(torch.from_numpy(np.linalg.cholesky(gmm.covariances_)).float())
    return density


def train_generator(cfg: GeneratorTrainConfig, *, out: Path, max_minutes: float | None = None) -> Path:
    """Trains the VAE on renders of ``cfg.bias``, fits its prior, writes ``out/generator.safetensors``.

    Returns:
        Path of the written file.
    """
    _set_determinism(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mcfg = VAEConfig(gmm_components=cfg.density_components, prior_kernels=cfg.prior_kernels)
    model = ShapesVAE(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    log.info("generator: %d parameters (decoder %d)", sum(p.numel() for p in model.parameters()), sum(p.numel() for p in model.decoder.parameters()))
    t0 = time.time()
    step = 0
    batches = _prefetch(lambda: _images_tensor(world.sample_attributes(cfg.batch_size, bias=cfg.bias, rng=rng)), cfg.steps)
    for step, x in enumerate(batches):
        for g in opt.param_groups:
            g["lr"] = _cosine_lr(step, cfg.steps, cfg.lr)
        recon, mu, logvar = model(x)
        rec = ((recon - x) ** 2).sum(dim=(1, 2, 3)).mean()
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        loss = cfg.recon_weight * rec + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1000.0)
        opt.step()
        if (step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1:
            log.info("generator step %d/%d mse/pixel %.5f kl %.2f (%.0f s)", step + 1, cfg.steps, rec.item() / x[0].numel(), kl.item(), time.time() - t0)
        if max_minutes is not None and time.time() - t0 > 60 * max_minutes:
            log.warning("generator: stopped by --max-minutes after %d steps", step + 1)
            break
    batches.close()  # stops the render thread before rng is used again
    prior, density = _fit_priors(model, cfg)
    elapsed = time.time() - t0
    log.info("generator: prior fitted (%.0f s total)", elapsed)
    meta = {
        "kind": "shapes-generator",
        "model_config": json.dumps(dataclasses.asdict(mcfg)),
        "train_config": json.dumps(dataclasses.asdict(cfg)),
        "bias": json.dumps(world.describe_bias(world.BIAS_PRESETS[cfg.bias])),
        "steps_done": str(step + 1),
        "train_seconds": f"{elapsed:.0f}",
        "torch_version": torch.__version__,
    }
    return _save(_generator_state(model, prior, density), out / GENERATOR_FILE, meta)


def _generator_state(model: ShapesVAE, prior: KernelPrior, density: GaussianMixturePrior) -> dict[str, torch.Tensor]:
    """Encoder (kept so the prior can be refitted), decoder, prior and density tensors, prefixed."""
    state = {f"encoder.{k}": v for k, v in model.encoder.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in model.decoder.state_dict().items()})
    state.update({f"prior.{k}": v for k, v in prior.state_dict().items()})
    state.update({f"density.{k}": v for k, v in density.state_dict().items()})
    return state


@torch.no_grad()
@torch.no_grad()
def _encode_renders(model: ShapesVAE, bias: str, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations (n, d) of ``n`` fresh renders of ``bias``."""
    mus, sigmas = [], []
    for start in range(0, n, 500):
        mu, logvar = model.encoder(_images_tensor(world.sample_attributes(min(500, n - start), bias=bias, rng=rng)))[:2]
        mus.append(mu)
        sigmas.append((0.5 * logvar).exp())
    return torch.cat(mus), torch.cat(sigmas)


def _fit_priors(model: ShapesVAE, cfg: GeneratorTrainConfig) -> tuple[KernelPrior, GaussianMixturePrior]:
    """The sampling prior (renders from numpy seed ``cfg.seed + 1``) and the smooth density (``cfg.seed + 2``)."""
    seed = cfg.seed
    model.eval()
    mu, sigma = _encode_renders(model, cfg.bias, cfg.prior_kernels, np.random.default_rng(seed + 1))
    prior = fit_prior(mu, sigma, bandwidth=cfg.prior_bandwidth)
    mu, _ = _encode_renders(model, cfg.bias, cfg.density_fit_images, np.random.default_rng(seed + 2))
    density = fit_density(mu.numpy(), components=cfg.density_components, seed=seed)
    return prior, density


def refit_prior(weights: Path, *, out: Path, cfg: GeneratorTrainConfig) -> Path:
    """Refits the sampling prior and the density of a trained generator file (encoder kept in it).

    The decoder and encoder are unchanged; the prior fields of ``cfg`` (kernels, bandwidth,
    density images and components, seed) are used, its bias is the file's. This is exactly
    what ``train_generator`` does after training, so a refit with the training seed and
    default settings gives the file a full run would have written.

    Raises:
        WeightsNotFoundError: ``weights`` is missing.
        InputError: the file holds no encoder.
    """
    from ..errors import InputError
    from ._weights import config_from_meta, read_weights

    tensors, meta = read_weights(weights, kind="generator")
    if not any(k.startswith("encoder.") for k in tensors):
        raise InputError("weights", str(weights), "a generator file that keeps its encoder")
    known = {f.name for f in dataclasses.fields(GeneratorTrainConfig)}
    trained = {k: v for k, v in json.loads(meta["train_config"]).items() if k in known}
    prior_fields = ("seed", "prior_kernels", "prior_bandwidth", "density_fit_images", "density_components")
    cfg = dataclasses.replace(GeneratorTrainConfig(**trained), **{k: getattr(cfg, k) for k in prior_fields})
    mcfg = dataclasses.replace(
        config_from_meta(meta, VAEConfig), gmm_components=cfg.density_components, prior_kernels=cfg.prior_kernels
    )
    model = ShapesVAE(mcfg)
    for part in ("encoder", "decoder"):
        getattr(model, part).load_state_dict({k[len(part) + 1 :]: v for k, v in tensors.items() if k.startswith(part + ".")})
    t0 = time.time()
    prior, density = _fit_priors(model, cfg)
    log.info("prior refitted: %d kernels, bandwidth %g; density: %d components (%.0f s)",
             cfg.prior_kernels, cfg.prior_bandwidth, cfg.density_components, time.time() - t0)
    meta = dict(meta, model_config=json.dumps(dataclasses.asdict(mcfg)), train_config=json.dumps(dataclasses.asdict(cfg)))
    meta["prior_refit"] = json.dumps({k: getattr(cfg, k) for k in prior_fields})
    return _save(_generator_state(model, prior, density), out / GENERATOR_FILE, meta)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.shapes.train", description="Train the shapes-world models.")
    parser.add_argument("model", choices=("scorer", "generator", "prior"), help="which model to train ('prior' refits the prior of --weights)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the shipped setting)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per step")
    parser.add_argument("--bias", default="0.90", choices=sorted(world.BIAS_PRESETS), help="generator: training bias preset")
    parser.add_argument("--out", type=Path, default=ASSETS, help=f"output folder (default {ASSETS})")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop early after this many minutes (the result then depends on machine speed)")
    parser.add_argument("--prior-kernels", type=int, default=None, help="generator, prior: renders encoded into the sampling prior (one component each)")
    parser.add_argument("--prior-bandwidth", type=float, default=None, help="generator, prior: standard deviation added to each kernel")
    parser.add_argument("--density-fit-images", type=int, default=None, help="generator, prior: renders encoded to fit the smooth density")
    parser.add_argument("--density-components", type=int, default=None, help="generator, prior: Gaussian-mixture components of the density")
    parser.add_argument("--weights", type=Path, default=GENERATOR_WEIGHTS, help="prior: the generator file to refit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    over = {k: v for k, v in (("seed", args.seed), ("steps", args.steps), ("batch_size", args.batch_size)) if v is not None}
    for key in ("prior_kernels", "prior_bandwidth", "density_fit_images", "density_components"):
        if args.model != "scorer" and getattr(args, key) is not None:
            over[key] = getattr(args, key)
    if args.model == "scorer":
        train_scorer(ScorerTrainConfig(**over), out=args.out, max_minutes=args.max_minutes)
    elif args.model == "generator":
        train_generator(GeneratorTrainConfig(bias=args.bias, **over), out=args.out, max_minutes=args.max_minutes)
    else:
        refit_prior(args.weights, out=args.out, cfg=GeneratorTrainConfig(bias=args.bias, **over))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
