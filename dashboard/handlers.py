"""What each button does, as plain functions that tests can call without a server.

Every handler takes the session state (a plain dict, see :mod:`dashboard.session`) and the
values of the page's inputs, and returns a :class:`View`: what to show, ``None`` meaning
"leave as it is". :mod:`dashboard.ui` maps views onto components. A user's mistake becomes a
``gr.Error`` carrying the engine's message (field, value received, what would be accepted);
nothing else ever reaches the page as a traceback.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr
import numpy as np
import pandas as pd

from core import errors
from core.batching import render_images
from core.checks import whole_number
from core.config import (
    MAX_ARCHIVE_RESOLUTION,
    MAX_MEASURES,
    MAX_SEED,
    PRESET_MODELS,
    PRESETS,
    PromptPair,
    RunConfig,
)
from core.markdown import escape_markdown
from core.models import get_generator, get_models
from core.registry import generator_defaults, generator_entries, scorer_entries
from core.run import SIDES, RunHandle, Snapshot, prepare, resume
from core.runs import Run, list_runs
from core.search import ProgressEvent

from . import cards, gallery, plots, session, texts
from .gpu import default_device, gpu_task
from .messages import shown_as_messages, ui_error
from .settings import Settings

__all__ = [
    "View",
    "PromptRow",
    "start_session",
    "model_choices",
    "preset_rows",
    "preset_models",
    "preset_status",
    "build_config",
    "run",
    "stop",
    "change_pair",
    "select_sample",
    "export",
    "reopen",
    "continue_run",
    "pair_choices",
]

log = logging.getLogger(__name__)

PromptRow = tuple[str, str, str]  # (positive, negative, label)


@dataclasses.dataclass
class View:
    """One update of the page; ``None`` leaves a component as it is."""

    state: dict | None = None
    progress: str | None = None  # progress bar HTML
    cards: str | None = None  # metric cards HTML
    heatmap: Any = None  # plotly figure
    density: Any = None  # plotly figure (QD vs random side by side)
    curves: Any = None  # plotly figure
    grid: Any = None  # PIL image of elites laid out by cell
    gallery: list | None = None  # [(image, caption)] of elites
    random_gallery: list | None = None  # [(image, caption)] of random samples
    runs: dict | None = None  # {"choices": [(label, name)], "value": name}
    pairs: dict | None = None  # {"choices": [(label, "i,j")], "value": "i,j", "visible": bool}
    selected_image: Any = None  # large image of a clicked sample
    selected_text: str | None = None  # its scores and latent


# ---- session and choices -------------------------------------------------------------------


def start_session(state: dict | None, *, settings: Settings) -> dict:
    """The session state, created on first use (page load or first click)."""
    if state and Path(state.get("dir", "")).is_dir():
        return state
    return session.new_session(settings)


def model_choices() -> tuple[list[str], list[str], str]:
    """Generators and scorers usable here, and a note on those that are not.

    Returns:
        (generator names, scorer names, markdown listing unavailable models with the reason).
    """
    notes, usable = [], {}
    for kind, entries in (("generator", generator_entries()), ("scorer", scorer_entries())):
        usable[kind] = []
        for name, entry in sorted(entries.items(), key=lambda kv: (kv[0] != "shapes", kv[0])):  # built-in first
            ok, reason = entry.available()
            if ok:
                usable[kind].append(name)
            else:
                notes.append(f"- ~~{name}~~ ({kind}): {reason}")
    return usable["generator"], usable["scorer"], "\n".join(notes)


def preset_rows(name: str) -> list[PromptRow]:
    """The prompt rows of a preset from ``core.config.PRESETS`` (read at call time).

    Raises:
        gr.Error: unknown preset.
    """
    if name not in PRESETS:
        raise ui_error(errors.InputError("preset", name, "one of " + ", ".join(PRESETS)))
    return [(p.positive, p.negative, p.label) for p in PRESETS[name]]


def preset_models(name: str) -> tuple[str, str]:
    """(generator, scorer) a preset is meant for (``core.config.PRESET_MODELS``; else shapes)."""
    return PRESET_MODELS.get(name, ("shapes", "shapes"))


def preset_status(name: str) -> tuple[bool, str]:
    """(True, "") if the preset's models can run here, else (False, which model is missing)."""
    generator, scorer = preset_models(name)
    for kind, entries, model in (("generator", generator_entries(), generator), ("scorer", scorer_entries(), scorer)):
        entry = entries.get(model)
        if entry is None:
            return False, f"needs the {kind} '{model}', which is not installed"
        ok, _ = entry.available()
        if not ok:
            return False, f"needs the {kind} '{model}', not available on this machine"
    return True, ""


def _objective_for(generator: str) -> PromptPair:
    """The generator's registered quality pair (InputError for an unknown generator)."""
    objective = generator_defaults(generator).objective
    if objective is None:
        raise errors.InputError("objective", "", f"a quality prompt pair (generator {generator!r} has no default)")
    return objective


def build_config(
    *,
    rows: Sequence[PromptRow],
    objective: tuple[str, str],
    generator: str,
    scorer: str,
    algorithm: str,
    evaluations: float,
    resolution: float,
    seed: float,
    settings: Settings,
) -> RunConfig:
    """Turns the page's inputs into a :class:`RunConfig` (validated by :func:`prepare_run`).

    Rows with both prompts empty are skipped; a row with one side empty is an error; numbers
    must be whole (the page may send 12.0, never 12.5, NaN or a text).

    Raises:
        core.errors.InputError: naming the field, the value and what would be accepted.
    """
    measures = []
    for i, row in enumerate(rows):
        sides = ("positive prompt", "negative prompt", "label")
        pos, neg, label = (_text(f"measure {i + 1} {side}", value) for side, value in zip(sides, row))
        if not pos and not neg:
            continue
        for side, text in (("positive", pos), ("negative", neg)):
            if not text:
                raise errors.InputError(f"measure {i + 1} {side} prompt", text, "a non-empty text such as 'a red shape'")
        measures.append(PromptPair(pos, neg, label))
    if not measures:
        raise errors.InputError("measures", 0, f"between 1 and {MAX_MEASURES} prompt pairs (fill at least one row)")
    obj_pos, obj_neg = _text("objective positive prompt", objective[0]), _text("objective negative prompt", objective[1])
    obj = None
    if obj_pos and obj_neg:
        obj = PromptPair(obj_pos, obj_neg, "quality")
    elif obj_pos or obj_neg:  # one side typed: the generator's default fills the other
        default_obj = _objective_for(generator)
        obj = PromptPair(obj_pos or default_obj.positive, obj_neg or default_obj.negative, "quality")
    config = RunConfig(
        measures=tuple(measures),
        objective=obj,
        generator=generator,
        scorer=scorer,
        algorithm=None if algorithm in ("", None) else algorithm,  # "" = the generator's default
        evaluations=whole_number("evaluations", evaluations, f"a whole number from 1 to {settings.max_evaluations}"),
        archive_resolution=whole_number("archive resolution", resolution, f"a whole number from 2 to {MAX_ARCHIVE_RESOLUTION}"),
        seed=whole_number("seed", seed, f"a whole number from 0 to {MAX_SEED}"),
        device=default_device(),
        backend=settings.backend,
    )
    return config


def _text(field: str, value: Any) -> str:
    """A text box's value, stripped (empty for None); anything but a text is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.InputError(field, value, "a text")
    return value.strip()


def pair_choices(labels: Sequence[str]) -> dict:
    """Dropdown content for the measure pair shown in the maps."""
    k = len(labels)
    if k == 1:
        return {"choices": [(labels[0], "0")], "value": "0", "visible": False}
    choices = [(f"{labels[i]}  ×  {labels[j]}", f"{i},{j}") for i in range(k) for j in range(i + 1, k)]
    return {"choices": choices, "value": choices[0][1], "visible": k > 2}


def _axes(pair: str | None, k: int) -> tuple[int, ...]:
    if k == 1:
        return (0,)
    try:
        axes = tuple(int(v) for v in (pair or "0,1").split(","))
    except ValueError:
        axes = (0, 1)
    if len(axes) != 2 or axes[0] == axes[1] or not all(0 <= a < k for a in axes):
        return (0, 1)
    return axes


# ---- drawing ---------------------------------------------------------------------------------


def _maps(snap: Snapshot, axes: tuple[int, ...]) -> tuple[Any, Any]:
    heat = plots.archive_heatmap(
        measures=snap.elite_measures,
        objective=snap.elite_objective,
        ranges=snap.ranges,
        resolution=snap.resolution,
        labels=snap.labels,
        axes=axes,
    )
    dens = plots.density_maps(
        panels=[(texts.DENSITY_TITLES[side], snap.counts[side]) for side in SIDES],
        ranges=snap.ranges,
        labels=snap.labels,
        axes=axes,
    )
    return heat, dens


def _galleries(snap: Snapshot, axes: tuple[int, ...], generator, settings: Settings) -> tuple[Any, list, list, dict]:
    """Grid image, elite gallery, random gallery, and what they show (for clicks).

    Each latent is rendered once: the grid's elites (the gallery shows the first of them) and
    the random samples.
    """
    cells = settings.grid_cells
    placement = gallery.elite_grid(snap.elite_measures, snap.elite_objective, snap.ranges, cells=cells, axes=axes)
    idx = np.array([i for _, _, i in placement], dtype=int)
    grid_images = render_images(generator, snap.elite_z[idx])
    tiles = gallery.to_thumbnails(grid_images, side=gallery.GRID_TILE)
    rows = cells if len(axes) == 2 else 1
    grid = gallery.grid_image(tiles, placement, cells=cells, rows=rows, labels=[snap.labels[a] for a in axes])
    shown_idx = idx[: settings.gallery_size]
    thumbs = gallery.to_thumbnails(grid_images[: len(shown_idx)])
    elites = [
        (thumbs[n], gallery.caption(measures=snap.elite_measures[i], labels=snap.labels, objective=snap.elite_objective[i]))
        for n, i in enumerate(shown_idx)
    ]
    rnd = snap.random.head(settings.gallery_size)
    rthumbs = gallery.to_thumbnails(render_images(generator, rnd.z))
    randoms = [
        (rthumbs[n], gallery.caption(measures=rnd.measures[n], labels=snap.labels, objective=float(rnd.objective[n])))
        for n in range(len(rnd))
    ]
    shown = {
        "labels": list(snap.labels),
        "elites": {
            "z": snap.elite_z[shown_idx].tolist(),
            "measures": snap.elite_measures[shown_idx].tolist(),
            "objective": snap.elite_objective[shown_idx].tolist(),
        },
        "random": {"z": rnd.z.tolist(), "measures": rnd.measures.tolist(), "objective": rnd.objective.tolist()},
    }
    return grid, elites, randoms, shown


def _cards_from_event(event: ProgressEvent) -> str:
    """The cards while a run streams: the scorer's figures; the judge's come when it ends."""
    return cards.metric_cards(
        {
            "qd": {"coverage": event.coverage, "uniformity": event.uniformity, "judge": None, "qd_score": event.qd_score},
            "balanced_random": {"uniformity": event.balanced_random_uniformity, "judge": None},
            "random": {
                "coverage": event.random_coverage, "uniformity": event.random_uniformity, "judge": None,
                "qd_score": event.random_qd_score,
            },
        },
        judge_note=texts.JUDGE_AFTER_RUN,
    )


def _cards_from_summary(summary: dict) -> str:
    """The cards of a finished run: every figure from ``summary.json``, judge and diversity included."""
    figures = {}
    for side, keys in (
        ("qd", ("coverage", "uniformity", "qd_score")),
        ("balanced_random", ("uniformity",)),
        ("random", ("coverage", "uniformity", "qd_score")),
    ):
        part = summary.get(side, {})
        figures[side] = {k: part.get(k) for k in keys} | {
            "judge": part.get("judge_agreement"),
            "verified": part.get("verified_uniformity"),
            "diversity": part.get("vendi"),
        }
    note = (summary.get("qd", {}).get("judge") or {}).get("note", "")
    return cards.metric_cards(figures, judge_note=note)


def _runs_update(state: dict, value: str | None) -> dict:
    infos = {Path(i.path).name: i for i in list_runs(session.session_dir(state))} if state["runs"] else {}
    choices = []
    for name in reversed(state["runs"]):
        info = infos.get(name)
        if info is None:
            continue
        cov = "" if info.coverage is None else f" · coverage {100 * info.coverage:.0f}%"
        choices.append((f"{name} · {' × '.join(info.prompts)} · {info.evaluations:,} evaluations{cov} · {info.status}", name))
    return {"choices": choices, "value": value}


# ---- the search ------------------------------------------------------------------------------


def prepare_run(*, settings: Settings, **inputs: Any) -> RunHandle:
    """The page's inputs as a prepared run: :func:`build_config`, then :func:`core.run.prepare`
    (which validates everything once: fields, the server's caps, prompts, models, judge).

    Raises:
        core.errors.InputError: naming the field, the value and what would be accepted.
        core.errors.WeightsNotFoundError: a model's weights are absent.
    """
    config = build_config(**inputs, settings=settings)
    return prepare(config, max_evaluations=settings.max_evaluations)


@gpu_task
def _search_stream(
    handle: RunHandle, run_dir: str, should_stop: Callable[[], bool], every: float
) -> Iterator[tuple[ProgressEvent, Snapshot | None]]:
    """Runs the prepared search; yields (event, a snapshot or None).

    A snapshot is taken for the first event, then at most every ``every`` seconds, and for the
    last event. Yields CPU data only (ZeroGPU-safe).
    """
    events = handle.run(run_dir, should_stop=should_stop)
    last = -np.inf
    try:
        for event in events:
            now = time.perf_counter()
            snap = None
            if event.done or now - last >= every:
                snap = handle.snapshot()
                last = now
            yield event, snap
    finally:
        events.close()  # finalises the run directory if we were interrupted


def run(
    state: dict | None,
    *,
    rows: Sequence[PromptRow],
    objective: tuple[str, str],
    generator: str,
    scorer: str,
    algorithm: str,
    evaluations: float,
    resolution: float,
    seed: float,
    pair: str | None = None,
    settings: Settings,
) -> Iterator[View]:
    """Runs a search for this session, streaming views as it goes.

    Everything is validated before the search starts (:func:`prepare_run`). The first view
    comes at once (progress bar at 0); then one per snapshot (at most every
    ``settings.stream_seconds``); the last one carries the galleries, the judge's figures and
    the run list. Stop (:func:`stop`) ends the search between two steps and keeps what was found.

    Raises:
        gr.Error: a bad input (the engine's message), or missing model weights.
    """
    state = start_session(state, settings=settings)
    with shown_as_messages():
        handle = prepare_run(
            rows=rows, objective=objective, generator=generator, scorer=scorer, algorithm=algorithm,
            evaluations=evaluations, resolution=resolution, seed=seed, settings=settings,
        )
    name, run_dir = session.new_run_dir(state)
    yield from _stream(state, handle, name, run_dir, pair=None, settings=settings)


def _stream(
    state: dict, handle: RunHandle, name: str, run_dir: Path, *, pair: str | None, settings: Settings
) -> Iterator[View]:
    """Runs a prepared (or resumed) search of this session and streams its views (see :func:`run`).

    A cluster lost mid-run ends it like Stop does: the final view comes, with a message saying
    where the run is kept.
    """
    config = handle.config
    stop_flag = session.stop_event(state)
    stop_flag.clear()
    labels = [m.display_label() for m in config.measures]
    pairs = pair_choices(labels)
    if pair in [value for _, value in pairs["choices"]]:
        pairs["value"] = pair
    axes = _axes(pairs["value"], len(labels))
    resumed = handle.resume_point
    start = 0 if resumed is None else resumed.evaluations
    yield View(
        state=state,
        progress=cards.progress_bar(evaluations=start, total=config.evaluations, elapsed=0.0, state="running"),
        pairs=pairs,
    )
    history: list[dict] = [] if resumed is None else [dict(row) for row in resumed.history]
    last_event: ProgressEvent | None = None
    registered = name in state["runs"]
    lost: errors.ClusterError | None = None
    stream = _search_stream(handle, str(run_dir), stop_flag.is_set, settings.stream_seconds)
    try:
        with shown_as_messages(failure="The search failed; what was found so far is kept"):
            try:
                for event, snap in stream:
                    if not registered:  # the directory exists now: list it in this session
                        state["runs"].append(name)
                        registered = True
                    state["current"] = name
                    last_event = event
                    history.append(dataclasses.asdict(event))
                    if snap is None:
                        continue
                    heat, dens = _maps(snap, axes)
                    status = "stopping" if stop_flag.is_set() and not event.done else "running"
                    if event.done:
                        status = "finishing"  # "done" / "stopped" come with the final view, galleries included
                    yield View(
                        progress=cards.progress_bar(
                            evaluations=event.evaluations, total=event.total_evaluations, elapsed=event.elapsed, state=status
                        ),
                        cards=_cards_from_event(event),
                        heatmap=heat,
                        density=dens,
                        curves=plots.progress_curves(pd.DataFrame(history), total=event.total_evaluations),
                    )
            except errors.ClusterError as exc:
                if last_event is None or not last_event.done:
                    raise  # nothing kept to show: the message alone
                lost = exc  # the run ended and was kept; shown with its final view
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a closed page ends the search here; the engine keeps what it found
        session.clear_stop(state)
    if last_event is None:
        return
    if lost is not None:
        gr.Warning(html.escape(str(lost), quote=False), title="The cluster went away")
    session.keep_run(state, name, handle.result)
    yield _final_view(state, name, axes, pairs, handle.result, handle.snapshot(), settings)


def _final_view(
    state: dict, name: str, axes: tuple[int, ...], pairs: dict, run_obj: Run, snap: Snapshot, settings: Settings
) -> View:
    """Everything about a finished run, from the run itself (no disk read)."""
    generator = get_generator(run_obj.config.generator, options=run_obj.config.generator_options, device=run_obj.config.device)
    heat, dens = _maps(snap, axes)
    grid, elites, randoms, shown = _galleries(snap, axes, generator, settings)
    state["shown"] = shown
    summary = run_obj.summary
    status = summary.get("status", "done")
    evaluations = int(summary.get("evaluations", 0))
    return View(
        state=state,
        progress=cards.progress_bar(
            evaluations=evaluations, total=int(summary.get("budget", evaluations)), elapsed=float(summary.get("seconds", 0.0)), state=status
        ),
        cards=_cards_from_summary(summary),
        heatmap=heat,
        density=dens,
        curves=plots.progress_curves(run_obj.history, total=run_obj.config.evaluations) if len(run_obj.history) else None,
        grid=grid,
        gallery=elites,
        random_gallery=randoms,
        runs=_runs_update(state, name),
        pairs=pairs,
    )


def stop(state: dict | None) -> str | None:
    """Asks this session's search to stop (it ends within one step and keeps its results).

    Returns:
        A progress-bar HTML saying "stopping", or None when nothing is running.
    """
    if session.request_stop(state):
        return '<div class="qdgs-progress" data-state="stopping"><div class="qdgs-progress-text">Stopping…</div></div>'
    return None


def change_pair(state: dict | None, pair: str, *, settings: Settings) -> View:
    """Redraws the maps and the elite grid of the current run along another measure pair.

    Raises:
        gr.Error: ``pair`` is not one of the pairs offered (:func:`pair_choices`).
    """
    if not state or not state.get("current"):
        return View()
    with shown_as_messages():
        run_obj = session.finished_run(state, state["current"])
        offered = [value for _, value in pair_choices(run_obj.labels)["choices"]]
        if pair not in offered:
            raise errors.InputError("attributes shown in the maps", pair, "one of " + ", ".join(offered))
    axes = _axes(pair, len(run_obj.labels))
    snap = Snapshot.of_run(run_obj)
    heat, dens = _maps(snap, axes)
    generator = get_generator(run_obj.config.generator, options=run_obj.config.generator_options, device=run_obj.config.device)
    grid, elites, randoms, shown = _galleries(snap, axes, generator, settings)
    state["shown"] = shown
    return View(state=state, heatmap=heat, density=dens, grid=grid, gallery=elites, random_gallery=randoms)


def select_sample(state: dict | None, kind: str, index: int | None, *, settings: Settings) -> View:
    """The clicked sample, large, with its measures, objective and latent (typed labels escaped).

    Raises:
        gr.Error: ``index`` is not an image of the gallery shown.
    """
    shown = (state or {}).get("shown", {}).get(kind)
    if not shown or index is None:
        return View()
    with shown_as_messages():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(shown["z"]):
            raise errors.InputError("sample", index, f"an image of the gallery: 0 to {len(shown['z']) - 1}")
        config = session.finished_run(state, state["current"]).config
    generator = get_generator(config.generator, options=config.generator_options, device=config.device)
    z = np.asarray(shown["z"][index], dtype=np.float32)
    image = gallery.enlarge(generator, z)
    labels = state["shown"]["labels"]
    lines = [f"**{'Elite' if kind == 'elites' else 'Random sample'} {index + 1}**", ""]
    lines += [f"- {escape_markdown(label)}: **{value:+.3f}**" for label, value in zip(labels, shown["measures"][index])]
    lines.append(f"- quality (objective): **{shown['objective'][index]:.3f}**")
    latent = ", ".join(f"{v:+.2f}" for v in z[:16]) + (", …" if len(z) > 16 else "")
    lines.append(f"- latent z ({len(z)} numbers): `{latent}`")
    return View(selected_image=image, selected_text="\n".join(lines))


def reopen(state: dict | None, name: str | None, *, settings: Settings) -> View:
    """Shows an earlier run of this session again.

    Raises:
        gr.Error: ``name`` is not one of this session's finished runs.
    """
    with shown_as_messages():
        run_obj = session.finished_run(state, name)
    state["current"] = name
    pairs = pair_choices(run_obj.labels)
    axes = _axes(pairs["value"], len(run_obj.labels))
    return _final_view(state, name, axes, pairs, run_obj, Snapshot.of_run(run_obj), settings)


def continue_run(
    state: dict | None, name: str | None, *, evaluations: float, pair: str | None = None, settings: Settings
) -> Iterator[View]:
    """Continues one of this session's runs to a larger total budget, streaming views as
    :func:`run` does (the engine's :func:`core.run.resume`: the same archive, pool and random
    samples as one uninterrupted run to that budget with the calibration the run has).

    Raises:
        gr.Error: ``name`` is not one of this session's runs, or the budget is not larger than
            the run's evaluations (or above the server's cap).
    """
    state = start_session(state, settings=settings)
    with shown_as_messages():
        directory = session.run_dir(state, name)
        budget = whole_number(
            "evaluations", evaluations, f"a whole number up to {settings.max_evaluations:,}, larger than the run's",
            high=settings.max_evaluations,
        )
        handle = resume(directory, evaluations=budget, backend=settings.backend, max_evaluations=settings.max_evaluations)
    session.forget_run(state, name)  # the kept copy is the run before it continued
    yield from _stream(state, handle, name, directory, pair=pair, settings=settings)


# ---- the dataset -----------------------------------------------------------------------------


def export(
    state: dict | None,
    *,
    images: float,
    bins: float,
    quality_percentile: float,
    settings: Settings,
    verified: bool = False,
    on_progress: Callable[[float, str], None] | None = None,
) -> tuple[str, Any, str]:
    """Builds the balanced dataset zip of the current run (the engine's ``export_balanced``).

    Args:
        images: images wanted (at most ``settings.max_export_images``).
        bins: bins per measure.
        quality_percentile: samples below this percentile of the random baseline's quality are
            never drawn; 0 keeps every sample.
        verified: keep only images the run's judge agrees with.
        on_progress: called with (fraction done, message).

    Returns:
        (dataset card markdown, density map of the export, path of the zip inside the run).

    Raises:
        gr.Error: no run yet, or a bad value.
    """
    from core.export import export_balanced  # noqa: PLC0415 - the engine's export

    if not state or not state.get("current"):
        raise gr.Error("Run a search first: the dataset is drawn from a run's samples.", title="No run yet")
    with shown_as_messages():
        images = whole_number("number of images", images, f"a whole number from 1 to {settings.max_export_images} on this server",
                              low=1, high=settings.max_export_images)
        bins = whole_number("bins per attribute", bins, low=1)
        q = quality_percentile
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q < 100:
            raise errors.InputError("minimum quality percentile", quality_percentile, "a percentage from 0 to 99")
        if not isinstance(verified, bool):
            raise errors.InputError("verified", verified, "true or false")
        run_obj = session.finished_run(state, state["current"])
        threshold = float("-inf")
        if float(quality_percentile) > 0 and len(run_obj.random_pool):
            threshold = float(np.percentile(run_obj.random_pool.objective, float(quality_percentile)))
        generator, scorer = get_models(run_obj.config)
        out_dir = run_obj.dir / "exports"
        out_dir.mkdir(exist_ok=True)
        out = out_dir / f"{state['current']}-{images}img-{bins}bins-{time.strftime('%H%M%S')}.zip"
        result = export_balanced(
            run_obj, images=images, bins=bins, quality_threshold=threshold, out=out,
            generator=generator, scorer=scorer, verified=verified, on_progress=_progress_adapter(on_progress),
        )
        path = session.own_file(state, result.path)
    fig = plots.export_density_map(counts=np.asarray(result.counts), labels=run_obj.labels)
    state["export"] = str(path)
    return result.card, fig, str(path)


def _progress_adapter(on_progress: Callable[[float, str], None] | None) -> Callable[[int, int], None] | None:
    """The engine reports (done, total) images; the page wants (fraction, message)."""
    if on_progress is None:
        return None

    def report(done: int, total: int) -> None:
        on_progress(done / total if total else 1.0, f"rendering images: {done:,} of {total:,}")

    return report
