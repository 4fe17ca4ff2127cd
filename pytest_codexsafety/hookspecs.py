"""Hooks other plugins implement to extend pytest-codexsafety.

Register an implementation in a ``conftest.py`` or a plugin module; pytest finds them
through the usual ``pytest_codexsafety_*`` names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pytest

if TYPE_CHECKING:
    from .models.base import ModelAdapter
    from .probes.base import ProbeKind


@pytest.hookspec(firstresult=True)
def pytest_codexsafety_model_adapter(spec: str, config: pytest.Config) -> "ModelAdapter | None":
    """Build the model adapter for ``spec`` (the value of ``--hazard-model``).

    Return ``None`` when ``spec`` is not yours (look at its ``scheme:`` prefix); the first
    non-None result wins.  Raise :class:`pytest_codexsafety.errors.ModelConfigError` with a
    message that says how to fix the configuration when the spec is yours but unusable.
    Called lazily, at most once per worker process.
    """


@pytest.hookspec(firstresult=True)
def pytest_codexsafety_default_model(config: pytest.Config) -> "ModelAdapter | None":
    """The model to use when none is configured, or ``None`` when there is none.

    With no result every hazard item errors, saying how to configure a model.
    """


@pytest.hookspec
def pytest_codexsafety_probe_kinds(config: pytest.Config) -> "Sequence[ProbeKind]":  # type: ignore[empty-body]
    """Probe kinds this plugin provides; the results of all plugins are merged.

    A kind name declared twice is a usage error.
    """


@pytest.hookspec
def pytest_codexsafety_hazard_result(config: pytest.Config, entry: Mapping[str, Any]) -> None:
    """Called on the controlling process once per decided hazard with its risk-register
    entry (a JSON-compatible dict), e.g. to forward results to a dashboard."""
