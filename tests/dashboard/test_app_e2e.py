"""End to end through ``gradio_client`` against the launched dashboard (stand-in models).

Each ``Client`` is its own browser session: the tests check what a session gets back (plots,
galleries, a downloadable zip that loads) and that two sessions at once never see each
other's runs or downloads.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client
from PIL import Image

from dashboard.settings import Settings
from dashboard.ui import build_demo, launch_options
from tests.core import stand_ins

N_OUT = 10  # outputs of /run seen by a client (the session state is not one of them)


def _args(rows, evaluations=450, seed=0):
    texts = [t for row in rows for t in row] + [""] * (12 - 3 * len(rows))
    return [*texts, "a clean shape", "a blurry shape", stand_ins.NAME, stand_ins.NAME, "cma-maega", evaluations, 10, seed]


COLOUR_SHAPE = [("a red shape", "a blue shape", "colour"), ("a triangle", "a square", "shape")]
GREEN_SQUARE = [("a green shape", "a red shape", "greenness"), ("a square", "a triangle", "squareness")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    stand_ins.register()
    settings = Settings(runs_root=tmp_path_factory.mktemp("e2e-runs"), stream_seconds=0.2, gallery_size=8, grid_cells=4, max_export_images=500)
    demo = build_demo(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    yield demo.local_url, settings
    demo.close()


@pytest.fixture(scope="module")
def app_url(server):
    return server[0]


def test_run_plot_gallery_export_and_download(app_url):
    client = Client(app_url, verbose=False)
    job = client.submit(*_args(COLOUR_SHAPE), api_name="/run")
    final = job.result(timeout=120)
    assert len(job.outputs()) >= 3  # streamed: first view, live update(s), final view
    progress, cards_html, heatmap, density, curves, grid, elites, randoms, runs, pairs = final
    assert 'data-state="done"' in progress and "Coverage" in cards_html
    heat = json.loads(heatmap["plot"])
    assert heatmap["type"] == "plotly" and heat["data"][0]["type"] == "heatmap"
    dens = json.loads(density["plot"])
    assert [t["type"] for t in dens["data"]] == ["heatmap", "heatmap", "heatmap"]  # QD, balanced random, random
    assert len(elites) == 8 and elites[0]["caption"].startswith("colour ") and " · q " in elites[0]["caption"]
    with Image.open(elites[0]["image"]) as img:
        assert img.size == (96, 96)
    with Image.open(grid) as img:
        assert img.width > 4 * 72
    assert runs["value"] and len(runs["choices"]) == 1

    card, export_map, download = client.predict(60, 4, 0, False, api_name="/export")
    zip_path = Path(download["value"] if isinstance(download, dict) else download)
    assert zip_path.suffix == ".zip" and zip_path.is_file()
    with zipfile.ZipFile(zip_path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith("metadata.csv"))
        rows = list(csv.DictReader(io.StringIO(zf.read(meta).decode())))
        # End bins take only clear examples, so the stand-in's corners may run short (reported).
        assert 1 <= len(rows) <= 60 and (len(rows) == 60 or "short of samples" in card)
        folder = meta.rpartition("/")[0]
        first = f"{folder}/{rows[0]['file_name']}" if folder else rows[0]["file_name"]
        with Image.open(io.BytesIO(zf.read(first))) as img:
            img.load()
    assert json.loads(export_map["plot"])["data"][0]["type"] == "heatmap"
    assert "colour" in card


def _session(url, rows, out, key):
    client = Client(url, verbose=False)
    final = client.submit(*_args(rows, evaluations=300), api_name="/run").result(timeout=180)
    card, _, download = client.predict(20, 2, 0, api_name="/export")
    out[key] = (client, final, card, download)


def test_two_sessions_at_once_see_only_their_own_runs_and_downloads(app_url):
    out: dict = {}
    threads = [
        threading.Thread(target=_session, args=(app_url, COLOUR_SHAPE, out, "a")),
        threading.Thread(target=_session, args=(app_url, GREEN_SQUARE, out, "b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert set(out) == {"a", "b"}, "a session did not finish"
    (client_a, final_a, card_a, _), (client_b, final_b, card_b, _) = out["a"], out["b"]
    runs_a, runs_b = final_a[8], final_b[8]
    assert len(runs_a["choices"]) == 1 and len(runs_b["choices"]) == 1
    assert "colour × shape" in runs_a["choices"][0][0] and "greenness × squareness" in runs_b["choices"][0][0]
    assert "greenness" not in card_a and "colour" not in card_b
    # run names are per session: the same name in B can only be B's own run, never A's
    if runs_a["value"] == runs_b["value"]:
        reopened = client_b.predict(runs_a["value"], api_name="/reopen")
        assert "greenness × squareness" in reopened[8]["choices"][0][0]
    else:
        with pytest.raises(Exception, match="not in the list of choices|run: got"):
            client_b.predict(runs_a["value"], api_name="/reopen")
    for foreign in ("run-002-000000", "../" + runs_a["value"], str(Path("/tmp") / runs_a["value"])):
        with pytest.raises(Exception, match="not in the list of choices|run: got"):
            client_b.predict(foreign, api_name="/reopen")


def test_session_folders_are_never_served_directly(server):
    url, settings = server
    files = sorted(p for p in settings.resolved_runs_root().rglob("*") if p.is_file())
    assert any(p.suffix == ".zip" for p in files), "run the export test first (same module)"
    for path in (files[0], next(p for p in files if p.suffix == ".zip")):
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=10)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"seed": 1.5}, r"seed: got 1\.5; expected a whole number from 0 to 4294967295"),  # Gradio alone would round it to 2
        ({"seed": "inf"}, r"seed: got 'inf'; expected a whole number"),
        ({"evaluations": "nan"}, r"evaluations: got 'nan'; expected a whole number from 1 to"),
        ({"evaluations": "lots"}, r"evaluations: got 'lots'"),  # Gradio alone: "Could not preprocess input component at index 18"
    ],
)
def test_bad_numbers_through_the_api_name_the_field(app_url, change, match):
    client = Client(app_url, verbose=False)
    with pytest.raises(Exception, match=match):
        client.predict(*_args(COLOUR_SHAPE, **change), api_name="/run")


def test_continue_through_the_api(app_url):
    """The Runs tab's Continue: the session's run goes on to the larger budget, streamed like Run."""
    client = Client(app_url, verbose=False)
    first = client.predict(*_args(COLOUR_SHAPE, evaluations=300), api_name="/run")
    name = first[8]["value"]
    job = client.submit(name, 600, api_name="/continue")
    final = job.result(timeout=120)
    assert len(job.outputs()) >= 2
    progress, runs = final[0], final[8]
    assert 'data-state="done"' in progress and "/ 600 evaluations" in progress
    assert runs["value"] == name and len(runs["choices"]) == 1
    with pytest.raises(Exception, match="evaluations: got 10; expected a budget of at least"):
        client.predict(name, 10, api_name="/continue")
    with pytest.raises(Exception, match="run: got 'run-999-000000'"):
        client.predict("run-999-000000", 900, api_name="/continue")
