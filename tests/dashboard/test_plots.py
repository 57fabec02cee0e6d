"""Plot functions and HTML pieces: plain data in, figure or HTML out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import cards, gallery, plots

RANGES = [(-1.0, 1.0), (0.0, 2.0), (-1.0, 1.0)]


def test_archive_heatmap_keeps_the_best_per_cell_and_projects_extra_measures():
    measures = np.array([[-0.95, 0.05, 0.0], [-0.9, 0.1, 0.9], [0.95, 1.95, 0.0]])
    objective = np.array([1.0, 3.0, 2.0])
    fig = plots.archive_heatmap(measures=measures, objective=objective, ranges=RANGES, resolution=4, labels=["a", "b", "c"], axes=(0, 1))
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (4, 4)
    assert z[0, 0] == 3.0  # two elites share cell (0, 0) once measure c is projected out
    assert z[3, 3] == 2.0
    assert np.isfinite(z).sum() == 2
    assert fig.layout.xaxis.title.text == "a" and fig.layout.yaxis.title.text == "b"


def test_archive_heatmap_with_one_measure_is_a_strip():
    fig = plots.archive_heatmap(measures=np.array([[0.1]]), objective=np.array([0.5]), ranges=RANGES[:1], resolution=5, labels=["a"], axes=(0,))
    assert np.asarray(fig.data[0].z, dtype=float).shape == (1, 5)


@pytest.mark.parametrize("axes", [(0, 0), (0, 7)])
def test_archive_heatmap_rejects_bad_axes(axes):
    with pytest.raises(ValueError, match="axes: got"):
        plots.archive_heatmap(measures=np.zeros((2, 3)), objective=np.zeros(2), ranges=RANGES, resolution=4, labels=["a", "b", "c"], axes=axes)


def test_density_maps_share_one_colour_scale_in_percent():
    qd = np.array([[5, 5], [5, 5]])
    balanced = np.array([[9, 1], [1, 9]])
    rnd = np.array([[18, 1], [1, 0]])
    fig = plots.density_maps(panels=[("QD", qd), ("Balanced random", balanced), ("Random", rnd)], ranges=RANGES[:2], labels=["a", "b"])
    left, middle, right = (np.asarray(t.z, dtype=float) for t in fig.data)
    assert np.nansum(left) == pytest.approx(100) and np.nansum(middle) == pytest.approx(100) and np.nansum(right) == pytest.approx(100)
    assert fig.layout.coloraxis.cmax == pytest.approx(90.0)  # the largest of the maxima
    assert left[0, 0] == pytest.approx(25.0) and np.isnan(right[1, 1])  # empty cells stay blank
    assert [a.text for a in fig.layout.annotations] == ["QD (20 samples)", "Balanced random (20 samples)", "Random (20 samples)"]


def test_density_maps_reject_different_shapes():
    with pytest.raises(ValueError, match=r"counts of 'Random': got shape \(3, 3\); expected \(2, 2\)"):
        plots.density_maps(panels=[("QD", np.ones((2, 2))), ("Random", np.ones((3, 3)))], ranges=RANGES[:2], labels=["a", "b"])
    with pytest.raises(ValueError, match="panels: got none"):
        plots.density_maps(panels=[], ranges=RANGES[:2], labels=["a", "b"])


def test_progress_curves_draw_qd_and_the_random_baseline():
    history = pd.DataFrame({
        "evaluations": [100, 200], "coverage": [0.2, 0.4], "uniformity": [0.5, 0.6],
        "random_coverage": [0.1, 0.15], "random_uniformity": [0.4, 0.4],
    })
    fig = plots.progress_curves(history)
    names = [t.name for t in fig.data]
    assert names.count("QD search") == 2 and names.count("Random sampling") == 2


def test_metric_cards_show_qd_and_both_baselines_with_tooltips():
    html = cards.metric_cards(
        {
            "qd": {"coverage": 0.5, "uniformity": 0.9, "judge": 0.92, "qd_score": 1234.0},
            "balanced_random": {"uniformity": 0.6, "judge": 0.99},
            "random": {"coverage": 0.25, "uniformity": None, "judge": 0.5},
        },
        judge_note="judged when the run ends",
    )
    assert "50%" in html and "random: 25%" in html and "random: –" in html
    assert "92%" in html and "balanced random: 99% · random: 50%" in html
    assert html.count('title="') == 4 and html.count("judged when the run ends") == 1  # the judge card only


def test_progress_bar_estimates_time_left():
    html = cards.progress_bar(evaluations=250, total=1000, elapsed=10.0, state="running")
    assert 'width:25.0%' in html and "about 30 s left" in html


def test_elite_grid_keeps_the_best_per_coarse_cell():
    measures = np.array([[-0.9, 0.1], [-0.8, 0.2], [0.9, 1.9]])
    placement = gallery.elite_grid(measures, np.array([1.0, 2.0, 0.5]), RANGES[:2], cells=2)
    assert placement == [(0, 1, 2), (1, 0, 1)]  # row 0 = high second measure


def test_typed_labels_reach_plotly_titles_escaped():
    labels = ["<b>bold</b>", "<img src=x onerror=alert(2)> & co"]
    shown = ["&lt;b&gt;bold&lt;/b&gt;", "&lt;img src=x onerror=alert(2)&gt; &amp; co"]  # plotly shows these literally
    heat = plots.archive_heatmap(measures=np.zeros((1, 2)), objective=np.zeros(1), ranges=RANGES[:2], resolution=3, labels=labels)
    dens = plots.density_maps(panels=[("<i>QD</i>", np.ones((2, 2))), ("random", np.ones((2, 2)))], ranges=RANGES[:2], labels=labels)
    assert dens.layout.annotations[0].text.startswith("&lt;i&gt;QD")
    export = plots.export_density_map(counts=np.ones((2, 2)), labels=labels)
    for fig in (heat, dens, export):
        assert [fig.layout.xaxis.title.text, fig.layout.yaxis.title.text] == shown
    assert plots.plain('say "hi"') == 'say "hi"'  # quotes stay: plotly would show &quot; as typed
