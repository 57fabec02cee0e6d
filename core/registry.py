"""Generators and scorers by name.

Entries are registered with the dotted path of a factory, imported only when the model is
loaded, so ``import core`` stays light and a missing optional library (diffusers, open_clip)
only matters to whoever asks for that model.

Each entry may also name an ``availability`` function that says, without loading anything
heavy, whether the model can run on this machine and if not, why (weights absent, library
missing). The dashboard greys out what is unavailable with that reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, Callable

from .errors import InputError
from .interfaces import Generator, Judge, Scorer

__all__ = [
    "PRESETS",
    "PRESET_MODELS",
    "ModelEntry",
    "GeneratorDefaults",
    "generator_defaults",
    "register_generator",
    "register_scorer",
    "register_judge",
    "load_generator",
    "load_scorer",
    "load_judge",
    "generator_entries",
    "scorer_entries",
    "judge_entries",
]


@dataclasses.dataclass(frozen=True)
class GeneratorDefaults:
    """What a run with this generator uses unless its config says otherwise."""

    objective: Any = None  # core.config.PromptPair: the quality pair for this generator's images
    algorithm: str = "cma-maega"  # key of core.algorithms.ALGORITHM_TABLE that works best here
    judge: str | None = None  # registry name of the judge of its images; None = no judge
    judge_options: dict = dataclasses.field(default_factory=dict)  # that judge's factory options
    presets: dict = dataclasses.field(default_factory=dict)  # preset name -> measures (PromptPairs) for it
    preset_scorer: str = "shapes"  # the scorer its presets are meant for


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered model."""

    name: str  # registry name, e.g. "shapes"
    factory: str  # "package.module:callable" returning a Generator or Scorer
    description: str  # one line for menus and help texts
    availability: str | None = None  # "package.module:callable" -> (ok: bool, reason: str)
    defaults: GeneratorDefaults | None = None  # generators only

    def _resolve(self, path: str) -> Callable[..., Any]:
        module, _, attr = path.partition(":")
        return getattr(importlib.import_module(module), attr)

    def available(self) -> tuple[bool, str]:
        """(True, "") if the model can be loaded here, else (False, the reason)."""
        if self.availability is None:
            return True, ""
        try:
            return self._resolve(self.availability)()
        except ImportError as exc:  # an optional library is missing
            return False, f"needs a library that is not installed: {exc.name or exc}"

    def load(self, kind: str = "model", /, **kwargs: Any) -> Any:
        """Calls the factory; options it does not take are refused (InputError naming them)."""
        factory = self._resolve(self.factory)
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin or C callable: nothing to check against
            signature = None
        if signature is not None:
            try:
                signature.bind(**kwargs)
            except TypeError:
                accepted = [p for p in signature.parameters if p != "device"]
                options = {k: v for k, v in kwargs.items() if k != "device"}
                raise InputError(
                    f"{kind} options", options, f"options the {self.name} {kind} takes: {', '.join(accepted) or 'none'}"
                ) from None
        return factory(**kwargs)


PRESETS: dict[str, tuple] = {}  # preset name -> measures (core.config.PromptPair), from the registrations
PRESET_MODELS: dict[str, tuple[str, str]] = {}  # preset name -> (generator, scorer) it is meant for
_GENERATORS: dict[str, ModelEntry] = {}
_SCORERS: dict[str, ModelEntry] = {}
_JUDGES: dict[str, ModelEntry] = {}


def register_generator(
    name: str, factory: str, description: str, availability: str | None = None, *, defaults: GeneratorDefaults | None = None
) -> None:
    """Registers a generator factory under ``name`` (replacing any earlier entry).

    Args:
        defaults: The objective, algorithm and judge a run with this generator uses unless
            its config names others, and the named presets meant for it.
    """
    defaults = defaults or GeneratorDefaults()
    _GENERATORS[name] = ModelEntry(name, factory, description, availability, defaults)
    for preset, measures in defaults.presets.items():
        PRESETS[preset] = tuple(measures)
        PRESET_MODELS[preset] = (name, defaults.preset_scorer)


def register_scorer(name: str, factory: str, description: str, availability: str | None = None) -> None:
    """Registers a scorer factory under ``name`` (replacing any earlier entry)."""
    _SCORERS[name] = ModelEntry(name, factory, description, availability)


def register_judge(name: str, factory: str, description: str, availability: str | None = None) -> None:
    """Registers a judge factory under ``name`` (replacing any earlier entry)."""
    _JUDGES[name] = ModelEntry(name, factory, description, availability)


def generator_entries() -> dict[str, ModelEntry]:
    """All registered generators by name."""
    return dict(_GENERATORS)


def scorer_entries() -> dict[str, ModelEntry]:
    """All registered scorers by name."""
    return dict(_SCORERS)


def judge_entries() -> dict[str, ModelEntry]:
    """All registered judges by name."""
    return dict(_JUDGES)


def _lookup(table: dict[str, ModelEntry], kind: str, name: str) -> ModelEntry:
    if name not in table:
        raise InputError(kind, name, "one of " + ", ".join(sorted(table)))
    return table[name]


def load_generator(name: str = "shapes", **kwargs: Any) -> Generator:
    """Loads a generator by registry name.

    Args:
        name: Registry name, e.g. ``"shapes"``.
        **kwargs: Passed to the factory (e.g. ``device="cuda"``).

    Raises:
        InputError: ``name`` is not registered.
        WeightsNotFoundError: the weights are not available locally.
    """
    return _lookup(_GENERATORS, "generator", name).load("generator", **kwargs)


def load_scorer(name: str = "shapes", **kwargs: Any) -> Scorer:
    """Loads a scorer by registry name. See :func:`load_generator`."""
    return _lookup(_SCORERS, "scorer", name).load("scorer", **kwargs)


def load_judge(name: str = "shapes", **kwargs: Any) -> Judge:
    """Loads a judge by registry name. See :func:`load_generator`."""
    return _lookup(_JUDGES, "judge", name).load("judge", **kwargs)


def generator_defaults(name: str) -> GeneratorDefaults:
    """The registered defaults of generator ``name``.

    Raises:
        InputError: ``name`` is not registered.
    """
    return _lookup(_GENERATORS, "generator", name).defaults or GeneratorDefaults()
