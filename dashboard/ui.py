"""The page: Gradio Blocks laid out and wired to :mod:`dashboard.handlers`.

``build_demo(settings)`` returns the Blocks; ``launch_options(settings)`` the keyword
arguments for ``demo.launch`` (theme, CSS, allowed paths), which Gradio 6 takes at launch.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from core.config import ALGORITHMS, MAX_MEASURES, MAX_SEED, PRESETS
from core.registry import generator_defaults
from core.selection import DEFAULT_QUALITY_PERCENTILE

from . import bias_tab, cards, handlers, plots, session, texts
from .settings import Settings, settings_from_env

__all__ = ["build_demo", "launch_options", "THEME", "CSS"]

CSS_PATH = Path(__file__).resolve().parent / "style.css"
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="orange", text_size="lg")
CSS = CSS_PATH.read_text()
DEFAULT_ROWS = 2  # prompt rows visible when the page opens
RESOLUTION_RANGE = (5, 40, 20)  # archive cells per measure: min, max, default
EXPORT_BINS_RANGE = (2, 10, 5)  # export bins per measure: min, max, default


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: theme, CSS, allowed paths.

    Files a handler returns (images, the zip) are copied into Gradio's cache and served from
    there under a content hash. The runs root is *not* made directly downloadable, except when
    it lies outside the temp folder and the working directory: Gradio can only copy files from
    those places, or from ``allowed_paths``; session folders then still carry an unguessable id.
    """
    root = settings.resolved_runs_root()
    copyable = [Path(tempfile.gettempdir()).resolve(), Path.cwd().resolve()]
    return {
        "theme": THEME,
        "css": CSS,
        "allowed_paths": [] if any(root == c or c in root.parents for c in copyable) else [str(root)],
        "show_error": True,
        "footer_links": ["gradio"],
    }


def _skip_or(value: Any, wrap=None) -> Any:
    if value is None:
        return gr.skip()
    return wrap(value) if wrap else value


def _view_outputs(view: handlers.View, names: list[str]) -> tuple:
    out = []
    for name in names:
        value = getattr(view, name)
        if name in ("runs", "pairs") and value is not None:
            value = gr.update(**value)
        out.append(_skip_or(value))
    return tuple(out)


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """Builds the dashboard. Models are not loaded here (see ``app.py``)."""
    settings = settings or settings_from_env()
    session.remove_leftovers(settings)  # partial files a killed server left (never listed or offered)
    generators, scorers, unavailable = handlers.model_choices()
    objective = generator_defaults("shapes").objective
    first_preset = next(iter(PRESETS))

    with gr.Blocks(title=texts.TITLE, delete_cache=(1800, 3600), analytics_enabled=False) as demo:
        state = gr.State(None, delete_callback=functools.partial(session.cleanup_session, keep=settings.keep_runs))
        row_count = gr.State(DEFAULT_ROWS)

        gr.Markdown(f"# {texts.TITLE}\n{texts.SUBTITLE}", elem_id="qdgs-header")
        with gr.Accordion("What is this?", open=False, elem_id="qdgs-about"):
            gr.Markdown(texts.WHAT_IS_THIS)

        with gr.Row(equal_height=False):
            # ---- left: prompts and controls ----
            with gr.Column(scale=2, min_width=400):
                gr.Markdown("### 1 · Describe the attributes")
                gr.Markdown(texts.PRESETS_HELP, elem_classes="qdgs-help")
                preset_buttons, preset_notes = [], []
                with gr.Row():
                    for name in PRESETS:
                        ok, why = handlers.preset_status(name)
                        preset_buttons.append(gr.Button(name, size="sm", elem_classes="qdgs-preset", interactive=ok))
                        if not ok:
                            preset_notes.append(f"*{name}* {why}.")
                if preset_notes:
                    gr.Markdown(" ".join(preset_notes), elem_classes="qdgs-help qdgs-unavailable")
                gr.Markdown(texts.PROMPTS_HELP, elem_classes="qdgs-help")
                prompt_rows, boxes = [], []
                preset_values = handlers.preset_rows(first_preset)
                for i in range(MAX_MEASURES):
                    pos0, neg0, lab0 = preset_values[i] if i < len(preset_values) else ("", "", "")
                    with gr.Row(visible=i < DEFAULT_ROWS, elem_classes="qdgs-prompt-row", equal_height=True) as row:
                        pos = gr.Textbox(pos0, label=f"{i + 1} · high end", placeholder="a red shape", elem_id=f"qdgs-pos-{i}", min_width=120, scale=3)
                        neg = gr.Textbox(neg0, label="low end", placeholder="a blue shape", elem_id=f"qdgs-neg-{i}", min_width=120, scale=3)
                        lab = gr.Textbox(lab0, label="name", placeholder="colour", elem_id=f"qdgs-label-{i}", min_width=90, scale=2)
                    prompt_rows.append(row)
                    boxes += [pos, neg, lab]
                with gr.Row():
                    add_btn = gr.Button("+ attribute", size="sm", elem_id="qdgs-add")
                    remove_btn = gr.Button("− attribute", size="sm", elem_id="qdgs-remove")
                gr.Markdown("### 2 · Search", elem_classes="qdgs-step")
                gr.Markdown(texts.RUN_HELP, elem_classes="qdgs-help")
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="qdgs-run")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="qdgs-stop")
                progress = gr.HTML(
                    cards.progress_bar(evaluations=0, total=settings.default_evaluations, elapsed=0, state="idle"),
                    elem_id="qdgs-progress",
                )
                gr.Markdown("### 3 · Settings (optional)", elem_classes="qdgs-step")
                with gr.Accordion("Quality (objective)", open=False):
                    gr.Markdown(texts.OBJECTIVE_HELP, elem_classes="qdgs-help")
                    obj_pos = gr.Textbox("", label="good images look like", placeholder=objective.positive)
                    obj_neg = gr.Textbox("", label="bad images look like", placeholder=objective.negative)
                with gr.Row():
                    generator = gr.Dropdown(generators, value=generators[0] if generators else None, label="Generator", elem_id="qdgs-generator")
                    scorer = gr.Dropdown(scorers, value=scorers[0] if scorers else None, label="Scorer", elem_id="qdgs-scorer")
                if unavailable:
                    with gr.Accordion(f"Not available on this machine ({unavailable.count(chr(10)) + 1})", open=False, elem_id="qdgs-unavailable"):
                        gr.Markdown(unavailable, elem_classes="qdgs-help qdgs-unavailable")
                with gr.Accordion("Advanced", open=False):
                    gr.Markdown(texts.ADVANCED_HELP, elem_classes="qdgs-help")
                    algorithm = gr.Dropdown(
                        [("the generator's default (shapes: jump; sd-turbo: cma-maega)", ""), *[(f"{k}: {v}", k) for k, v in ALGORITHMS.items()]],
                        value="", label="Algorithm", elem_id="qdgs-algorithm",
                    )
                    evaluations = gr.Slider(
                        10, settings.max_evaluations, value=settings.default_evaluations, step=10,
                        label="Evaluation budget", info=f"at most {settings.max_evaluations:,} on this server",
                        elem_id="qdgs-evaluations",
                    )
                    resolution = gr.Slider(*RESOLUTION_RANGE[:2], value=RESOLUTION_RANGE[2], step=1, label="Archive cells per attribute")
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, info=texts.SEED_HELP)
            # ---- right: live results ----
            with gr.Column(scale=3, min_width=480):
                cards_html = gr.HTML(cards.metric_cards({"qd": dict.fromkeys(cards.METRICS)}), elem_id="qdgs-cards")
                pair = gr.Dropdown([], value=None, label="Attributes shown in the maps", visible=False, elem_id="qdgs-pair")
                gr.Markdown(texts.HEATMAP_HELP, elem_classes="qdgs-help")
                heatmap = gr.Plot(plots.placeholder(texts.NO_RUN_YET), show_label=False, elem_id="qdgs-heatmap")
                gr.Markdown(texts.CURVES_HELP, elem_classes="qdgs-help")
                curves = gr.Plot(plots.placeholder(texts.NO_RUN_YET, height=380), show_label=False, elem_id="qdgs-curves")

        gr.Markdown("### QD search vs random sampling")
        gr.Markdown(texts.DENSITY_HELP, elem_classes="qdgs-help")
        density = gr.Plot(plots.placeholder(texts.NO_RUN_YET), show_label=False, elem_id="qdgs-density")

        with gr.Tabs(elem_id="qdgs-tabs"):
            with gr.Tab("Samples", id="samples", elem_id="qdgs-tab-samples"):
                gr.Markdown(texts.GALLERY_HELP, elem_classes="qdgs-help")
                with gr.Row(equal_height=False):
                    grid = gr.Image(label="Best image per cell", type="pil", interactive=False, elem_id="qdgs-grid", height=620)
                    with gr.Column():
                        elite_gallery = gr.Gallery(
                            label="Elites (QD search)", columns=4, height=460, object_fit="contain", elem_id="qdgs-gallery", allow_preview=False,
                        )
                        with gr.Row(equal_height=False):
                            selected_image = gr.Image(label="Selected", type="numpy", interactive=False, height=260, elem_id="qdgs-selected")
                            selected_text = gr.Markdown("Click an image to see its scores.", elem_id="qdgs-selected-text")
                gr.Markdown(texts.RANDOM_GALLERY_HELP, elem_classes="qdgs-help")
                random_gallery = gr.Gallery(
                    label="Random samples (same model, same scorer)", columns=6, height=360, object_fit="contain",
                    elem_id="qdgs-random-gallery", allow_preview=False,
                )
            with gr.Tab("Dataset", id="dataset", elem_id="qdgs-tab-dataset"):
                gr.Markdown(texts.EXPORT_HELP, elem_classes="qdgs-help")
                with gr.Row():
                    export_images = gr.Slider(
                        1, settings.max_export_images, value=settings.default_export_images, step=1,
                        label="Number of images", info=f"at most {settings.max_export_images:,} on this server",
                    )
                    export_bins = gr.Slider(*EXPORT_BINS_RANGE[:2], value=EXPORT_BINS_RANGE[2], step=1, label="Bins per attribute")
                    quality_pct = gr.Slider(
                        0, 90, value=DEFAULT_QUALITY_PERCENTILE, step=5, label="Minimum quality (percentile)",
                        info="skip samples worse than this % of random samples; 0 keeps all",
                    )
                verified = gr.Checkbox(False, label=texts.VERIFIED_LABEL, elem_id="qdgs-verified")
                with gr.Row():
                    export_btn = gr.Button("Build dataset", variant="primary", elem_id="qdgs-export")
                    download = gr.DownloadButton("Download zip", visible=False, elem_id="qdgs-download")
                with gr.Row(equal_height=False):
                    export_map = gr.Plot(show_label=False, elem_id="qdgs-export-map")
                    export_card = gr.Markdown("", elem_id="qdgs-card-md", max_height=420)
            with gr.Tab("Runs", id="runs", elem_id="qdgs-tab-runs"):
                gr.Markdown(texts.RUNS_HELP, elem_classes="qdgs-help")
                with gr.Row():
                    runs = gr.Dropdown([], value=None, label="This session's runs", elem_id="qdgs-runs", scale=4)
                    reopen_btn = gr.Button("Reopen", elem_id="qdgs-reopen", scale=1)
                with gr.Row():
                    continue_evaluations = gr.Number(
                        min(2 * settings.default_evaluations, settings.max_evaluations), label=texts.CONTINUE_LABEL,
                        precision=0, minimum=10, maximum=settings.max_evaluations, elem_id="qdgs-continue-evaluations", scale=4,
                    )
                    continue_btn = gr.Button("Continue", elem_id="qdgs-continue", scale=1)
            with gr.Tab("Does balanced data help?", id="bias", elem_id="qdgs-tab-bias"):
                bias_tab.build_bias_tab()

        # ---- wiring ----
        run_outputs = ["state", "progress", "cards", "heatmap", "density", "curves", "grid", "gallery", "random_gallery", "runs", "pairs"]
        run_components = [state, progress, cards_html, heatmap, density, curves, grid, elite_gallery, random_gallery, runs, pair]

        demo.load(functools.partial(handlers.start_session, settings=settings), inputs=[state], outputs=[state], api_visibility="private")

        def do_run(st, *values):
            texts_ = values[: 3 * MAX_MEASURES]
            obj_p, obj_n, gen, sco, algo, evals, res, sd = values[3 * MAX_MEASURES :]
            rows = [tuple(texts_[3 * i : 3 * i + 3]) for i in range(MAX_MEASURES)]
            for view in handlers.run(
                st, rows=rows, objective=(obj_p, obj_n), generator=gen, scorer=sco, algorithm=algo,
                evaluations=evals, resolution=res, seed=sd, settings=settings,
            ):
                yield _view_outputs(view, run_outputs)

        run_inputs = [state, *boxes, obj_pos, obj_neg, generator, scorer, algorithm, evaluations, resolution, seed]
        # preprocess=False on the events that take typed values: the handlers check every raw value
        # once and name the field (Gradio's own preprocessing would round a seed of 1.5 to 2 and
        # answer a text sent for a number with an internal error naming a component index).
        # Run is greyed out from the click until the search and its final view are complete,
        # so a click is never silently dropped (and never queues a second run by mistake).
        searching = [run_btn, continue_btn]  # greyed out while a search of this page runs
        run_btn.click(
            lambda: [gr.update(interactive=False)] * 2, outputs=searching, queue=False, api_visibility="private", show_progress="hidden",
        ).then(
            do_run, inputs=run_inputs, outputs=run_components, api_name="run", trigger_mode="once", preprocess=False,
            concurrency_id="heavy", concurrency_limit=settings.concurrency, show_progress="full", show_progress_on=[progress],
        ).then(lambda: [gr.update(interactive=True)] * 2, outputs=searching, queue=False, api_visibility="private", show_progress="hidden")

        def do_continue(st, name, evals):
            for view in handlers.continue_run(st, name, evaluations=evals, settings=settings):
                yield _view_outputs(view, run_outputs)

        continue_btn.click(
            lambda: [gr.update(interactive=False)] * 2, outputs=searching, queue=False, api_visibility="private", show_progress="hidden",
        ).then(
            do_continue, inputs=[state, runs, continue_evaluations], outputs=run_components, api_name="continue",
            trigger_mode="once", preprocess=False, concurrency_id="heavy", concurrency_limit=settings.concurrency,
            show_progress="full", show_progress_on=[progress],
        ).then(lambda: [gr.update(interactive=True)] * 2, outputs=searching, queue=False, api_visibility="private", show_progress="hidden")

        def do_stop(st):
            html = handlers.stop(st)
            return gr.skip() if html is None else html

        stop_btn.click(do_stop, inputs=[state], outputs=[progress], api_name="stop", concurrency_limit=None, show_progress="hidden")

        def do_pair(st, value):
            view = handlers.change_pair(st, value, settings=settings)
            return _view_outputs(view, ["state", "heatmap", "density", "grid", "gallery", "random_gallery"])

        pair.input(
            do_pair, inputs=[state, pair], outputs=[state, heatmap, density, grid, elite_gallery, random_gallery],
            api_visibility="private", concurrency_limit=None,
        )

        def make_select(kind):
            def do_select(st, evt: gr.SelectData):
                view = handlers.select_sample(st, kind, evt.index if evt else None, settings=settings)
                return _view_outputs(view, ["selected_image", "selected_text"])

            return do_select

        elite_gallery.select(make_select("elites"), inputs=[state], outputs=[selected_image, selected_text], api_visibility="private", concurrency_limit=None)
        random_gallery.select(make_select("random"), inputs=[state], outputs=[selected_image, selected_text], api_visibility="private", concurrency_limit=None)

        def do_export(st, n, b, q, ver, progress_=gr.Progress()):
            card, fig, path = handlers.export(
                st, images=n, bins=b, quality_percentile=q, settings=settings, verified=ver,
                on_progress=lambda f, m: progress_(f, desc=m),
            )
            return st, card, fig, gr.update(value=path, visible=True)

        export_btn.click(
            do_export, inputs=[state, export_images, export_bins, quality_pct, verified], outputs=[state, export_card, export_map, download],
            api_name="export", concurrency_id="heavy", concurrency_limit=settings.concurrency, preprocess=False,
        )

        def do_reopen(st, name):
            return _view_outputs(handlers.reopen(st, name, settings=settings), run_outputs)

        reopen_btn.click(
            do_reopen, inputs=[state, runs], outputs=run_components, api_name="reopen", concurrency_limit=None, preprocess=False,
        )

        # prompt rows: presets, add, remove (never queued behind a search)
        def fill_preset(name):
            values = handlers.preset_rows(name)
            n = len(values)
            out = []
            for i in range(MAX_MEASURES):
                out += list(values[i]) if i < n else ["", "", ""]
            gen, sco = handlers.preset_models(name)
            return [n, *out, *[gr.update(visible=i < n) for i in range(MAX_MEASURES)], gen, sco, "", ""]

        for button, name in zip(preset_buttons, PRESETS):
            button.click(
                functools.partial(fill_preset, name), outputs=[row_count, *boxes, *prompt_rows, generator, scorer, obj_pos, obj_neg],
                api_visibility="private", concurrency_limit=None, show_progress="hidden",
            )

        def change_rows(n, delta, *values):
            n = max(1, min(MAX_MEASURES, int(n) + delta))
            out = list(values)
            for i in range(n, MAX_MEASURES):
                out[3 * i : 3 * i + 3] = ["", "", ""]
            return [n, *out, *[gr.update(visible=i < n) for i in range(MAX_MEASURES)]]

        add_btn.click(
            lambda n, *v: change_rows(n, 1, *v),
            inputs=[row_count, *boxes], outputs=[row_count, *boxes, *prompt_rows],
            api_visibility="private", concurrency_limit=None, show_progress="hidden",
        )
        remove_btn.click(
            lambda n, *v: change_rows(n, -1, *v),
            inputs=[row_count, *boxes], outputs=[row_count, *boxes, *prompt_rows],
            api_visibility="private", concurrency_limit=None, show_progress="hidden",
        )

    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return demo
