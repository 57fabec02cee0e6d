"""Shared fixtures of the engine tests: stand-in models (no weights) and small configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core._torchvision_compat import ensure_torchvision
from core.config import PromptPair, RunConfig
from tests.core import stand_ins

ensure_torchvision()  # the export tests load zips with torchvision's ImageFolder (see that module)


@pytest.fixture(scope="session", autouse=True)
def _register_stand_ins() -> None:
    stand_ins.register()


@pytest.fixture(scope="session")
def generator() -> stand_ins.StandInGenerator:
    return stand_ins.StandInGenerator()


@pytest.fixture(scope="session")
def scorer() -> stand_ins.StandInScorer:
    return stand_ins.StandInScorer()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, offline, as on this project's machines."""
    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    return cache


def small_config(**overrides) -> RunConfig:
    """Two stand-in measures (red/blue x triangle/square), a small budget."""
    base = dict(
        measures=(PromptPair("a red shape", "a blue shape"), PromptPair("a triangle", "a square")),
        objective=PromptPair("a clean shape", "a smudge"),
        generator=stand_ins.NAME,
        scorer=stand_ins.NAME,
        evaluations=600,
        batch_size=16,
        emitters=2,
        archive_resolution=10,
        seed=3,
    )
    base.update(overrides)
    return RunConfig(**base)


@pytest.fixture
def config() -> RunConfig:
    return small_config()
