"""The engine tests' stand-in models and fixtures, for the experiments' tests."""

from tests.core.conftest import _register_stand_ins, config, generator, scorer, small_config  # noqa: F401
