"""Fixtures of the dashboard tests: tiny stand-in models, per-test runs root, small runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.settings import Settings
from tests.core import stand_ins

ROWS = [
    ("a red shape", "a blue shape", "colour"),
    ("a triangle", "a square", "shape"),
    ("", "", ""),
    ("", "", ""),
]
OBJECTIVE = ("a clean shape", "a blurry shape")
SMALL_RUN = dict(  # a run of a few steps of the stand-in models (well under a second)
    rows=ROWS,
    objective=OBJECTIVE,
    generator=stand_ins.NAME,
    scorer=stand_ins.NAME,
    algorithm="cma-maega",
    evaluations=600,
    resolution=10,
    seed=0,
)


@pytest.fixture(autouse=True, scope="session")
def _stand_ins() -> None:
    stand_ins.register()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(runs_root=tmp_path / "runs", stream_seconds=0.0, max_evaluations=5000, max_export_images=300, gallery_size=12, grid_cells=4)
