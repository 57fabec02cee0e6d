"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Opens the page, types prompts, runs a search and watches the maps and the gallery fill,
stops a longer run, builds the dataset and downloads the zip. Skipped when
``/usr/bin/chromium`` is absent (``.ci/run`` installs it). Screenshots of each state go to
the test's temp folder, or to ``$QDGS_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest

from dashboard.settings import Settings
from dashboard.ui import build_demo, launch_options
from tests.core import stand_ins

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    stand_ins.register()
    settings = Settings(
        runs_root=tmp_path_factory.mktemp("browser-runs"), default_evaluations=600, stream_seconds=0.3,
        gallery_size=12, grid_cells=6,
    )
    demo = build_demo(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    yield demo.local_url
    demo.close()


@pytest.fixture
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(server)
        pg.wait_for_selector("#qdgs-run")
        yield pg
        browser.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("QDGS_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _choose(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    box.press("Enter")


def _wait_text(page, elem_id: str, text: str) -> None:
    page.wait_for_function(
        "([id, t]) => (document.getElementById(id)?.textContent || '').includes(t)", arg=[elem_id, text], timeout=TIMEOUT_MS
    )


def _wait_state(page, state: str) -> None:
    page.wait_for_selector(f'#qdgs-progress .qdgs-progress[data-state="{state}"]', timeout=TIMEOUT_MS)


def _wait_progress(page, pattern: str) -> None:
    """Waits until the progress text matches the JS regex ``pattern``; says what it showed if not."""
    try:
        page.wait_for_function(
            "p => new RegExp(p).test(document.getElementById('qdgs-progress')?.textContent || '')", arg=pattern, timeout=TIMEOUT_MS
        )
    except Exception as exc:  # noqa: BLE001 - re-raised with what the page showed
        shown = page.locator("#qdgs-progress").inner_text()
        raise AssertionError(f"progress never matched {pattern!r}; it shows {shown!r}") from exc


def _set_budget(page, value: int) -> None:
    accordion = page.get_by_text("Advanced", exact=True)
    if not page.locator("#qdgs-evaluations").is_visible():
        accordion.click()
    box = page.locator("#qdgs-evaluations input[type=number]")
    shown = []
    for _ in range(3):  # a re-render of the page that lands mid-typing can drop the text; type it again
        box.fill(str(value))
        box.press("Tab")  # blur: the component sends its value
        try:
            page.wait_for_function(
                "v => document.querySelector('#qdgs-evaluations input[type=number]').value === v", arg=str(value), timeout=10_000
            )
            return
        except Exception:  # noqa: BLE001 - retried, then reported with what the box showed
            shown.append(box.input_value())
    raise AssertionError(f"the budget box never kept {value}; after each try it showed {shown}")


def test_prompts_run_maps_gallery_stop_and_download(page, tmp_path):
    shots = _shots(tmp_path)
    page.screenshot(path=str(shots / "01-start.png"), full_page=True)

    _choose(page, "qdgs-generator", stand_ins.NAME)
    _choose(page, "qdgs-scorer", stand_ins.NAME)
    for i, (pos, neg, label) in enumerate([("a red shape", "a blue shape", "colour"), ("a triangle", "a square", "shape")]):
        page.locator(f"#qdgs-pos-{i} textarea, #qdgs-pos-{i} input").first.fill(pos)
        page.locator(f"#qdgs-neg-{i} textarea, #qdgs-neg-{i} input").first.fill(neg)
        page.locator(f"#qdgs-label-{i} textarea, #qdgs-label-{i} input").first.fill(label)
    page.get_by_text("Quality (objective)").click()
    page.get_by_label("good images look like").fill("a clean shape")
    page.get_by_label("bad images look like").fill("a blurry shape")

    # Run: the archive heatmap and the density maps render, then the run finishes
    page.click("#qdgs-run")
    _wait_text(page, "qdgs-heatmap", "cells filled")
    _wait_text(page, "qdgs-density", "Random sampling (")
    _wait_text(page, "qdgs-density", "QD search (")
    _wait_text(page, "qdgs-density", "Balanced random (")
    page.screenshot(path=str(shots / "02-running.png"), full_page=True)
    _wait_state(page, "done")
    assert page.locator("#qdgs-heatmap .heatmaplayer").count() == 1
    assert page.locator("#qdgs-density .heatmaplayer").count() == 3  # QD, balanced random, random
    assert "random:" in page.locator("#qdgs-cards").inner_text()

    # the gallery fills; clicking a thumbnail shows it large with its scores
    page.get_by_role("tab", name="Samples").click()
    page.wait_for_selector("#qdgs-gallery img")
    assert page.locator("#qdgs-gallery img").count() == 12
    page.locator("#qdgs-gallery img").first.click()
    _wait_text(page, "qdgs-selected-text", "quality (objective)")
    page.locator("#qdgs-random-gallery").scroll_into_view_if_needed()
    page.wait_for_selector("#qdgs-random-gallery img")
    page.screenshot(path=str(shots / "03-done-samples.png"), full_page=True)

    # a longer run stops within a couple of seconds of Stop and keeps what it found
    _set_budget(page, 20000)
    page.click("#qdgs-run")
    _wait_state(page, "running")
    _wait_progress(page, r"[1-9][\d,]* / 20,000")
    clicked = time.perf_counter()
    page.click("#qdgs-stop")
    _wait_state(page, "stopped")
    stop_seconds = time.perf_counter() - clicked
    text = page.locator("#qdgs-progress").inner_text()
    assert "results kept" in text and "20,000" in text
    page.screenshot(path=str(shots / "04-stopped.png"), full_page=True)
    assert stop_seconds < 10, f"Stop took {stop_seconds:.1f} s"

    # build the dataset and download the zip
    page.get_by_role("tab", name="Dataset").click()
    page.click("#qdgs-export")
    page.wait_for_selector("#qdgs-download", state="visible")
    _wait_text(page, "qdgs-card-md", "Balanced synthetic image dataset")
    with page.expect_download() as info:
        page.click("#qdgs-download")
    target = tmp_path / "dataset.zip"
    info.value.save_as(target)
    with zipfile.ZipFile(target) as zf:
        assert any(n.endswith("metadata.csv") for n in zf.namelist())
        assert sum(n.endswith(".png") for n in zf.namelist()) >= 100
    page.screenshot(path=str(shots / "05-dataset.png"), full_page=True)

    # the runs tab lists both runs of this session
    page.get_by_role("tab", name="Runs").click()
    page.locator("#qdgs-runs input").click()
    assert page.locator("ul[role=listbox] li").count() == 2


IMG = "<img src=x onerror=alert(2)>"
BOLD = "<b>bold</b>"
CREATED_FROM_TYPED_TEXT = """() => ({
    img: document.querySelectorAll('img[src="x"], img[onerror]').length,
    b: [...document.querySelectorAll('b, strong')].filter(e => e.textContent.includes('bold')).length,
    plotly_bold: [...document.querySelectorAll('.js-plotly-plot tspan')].filter(
        e => (e.getAttribute('style') || '').includes('bold') && e.textContent.includes('bold')).length,
    scripts: [...document.querySelectorAll('script')].filter(e => e.textContent.includes('alert(')).length,
})"""


def _fill_row(page, i: int, pos: str, neg: str, label: str) -> None:
    page.locator(f"#qdgs-pos-{i} textarea, #qdgs-pos-{i} input").first.fill(pos)
    page.locator(f"#qdgs-neg-{i} textarea, #qdgs-neg-{i} input").first.fill(neg)
    page.locator(f"#qdgs-label-{i} textarea, #qdgs-label-{i} input").first.fill(label)


def test_typed_html_never_becomes_elements(page, tmp_path):
    """HTML typed as prompts and labels: the run, the gallery, the runs list, the dataset card and an
    error message all show it as text, and no element is made from it."""
    shots = _shots(tmp_path)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # the shapes world: its scorer reads the words it knows and ignores the rest, so these prompts run
    _fill_row(page, 0, f"a red shape {IMG}", f"a blue shape {BOLD}", IMG)
    _fill_row(page, 1, "a triangle", "a square", BOLD)
    page.click("#qdgs-run")
    _wait_state(page, "done")
    _wait_text(page, "qdgs-heatmap", IMG)  # plotly axis titles: the typed text, literally

    page.get_by_role("tab", name="Samples").click()
    page.wait_for_selector("#qdgs-gallery img")
    page.locator("#qdgs-gallery img").first.click()
    _wait_text(page, "qdgs-selected-text", f"{IMG}:")  # Markdown: escaped, shown literally

    page.get_by_role("tab", name="Dataset").click()
    page.click("#qdgs-export")
    page.wait_for_selector("#qdgs-download", state="visible")
    _wait_text(page, "qdgs-card-md", f"a blue shape {BOLD}")  # the dataset card, rendered by Gradio's Markdown
    _wait_text(page, "qdgs-card-md", IMG)

    page.get_by_role("tab", name="Runs").click()
    page.locator("#qdgs-runs input").click()
    page.wait_for_selector("ul[role=listbox] li")
    assert f"{IMG} × {BOLD}" in page.locator("ul[role=listbox]").inner_text()
    page.keyboard.press("Escape")

    # an error message quoting typed HTML (two prompts equal but for case and spaces)
    _fill_row(page, 1, f"a triangle {BOLD}", f"A triangle  {BOLD.upper()}", BOLD)
    page.click("#qdgs-run")
    page.wait_for_selector(".toast-body", timeout=TIMEOUT_MS)
    toast = page.locator(".toast-body").first.inner_text()
    assert "measure 2 prompts" in toast and BOLD in toast
    page.screenshot(path=str(shots / "06-typed-html.png"), full_page=True)

    made = page.evaluate(CREATED_FROM_TYPED_TEXT)
    assert made == {"img": 0, "b": 0, "plotly_bold": 0, "scripts": 0}, made
    assert not dialogs
    body = page.evaluate("() => document.body.innerText")
    assert IMG in body and BOLD in body
