"""The specification-complexity task library: five properties by three abstraction levels.

Each property module exports ``TASKS``; :func:`all_tasks` gathers them in property order.
"""

from __future__ import annotations

import importlib
from functools import cache

from .base import LEVELS, PROPERTIES, Check, ComplexityTask, evaluate

__all__ = ["LEVELS", "MODULES", "PROPERTIES", "Check", "ComplexityTask", "all_tasks", "evaluate"]

#: The module that holds each property's tasks.
MODULES: dict[str, str] = {
    "variable_interdependency": "variables",
    "temporal": "temporal",
    "concurrency": "concurrency",
    "hyperproperty": "hyperproperties",
    "nondeterminism": "nondeterminism",
}


@cache
def all_tasks() -> tuple[ComplexityTask, ...]:
    """Every task, in property order (imported on first use: the plugin loads without them)."""
    tasks: list[ComplexityTask] = []
    for prop in PROPERTIES:
        module = importlib.import_module(f"{__name__}.{MODULES[prop]}")
        tasks.extend(module.TASKS)
    ids = [t.id for t in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate complexity task ids: {', '.join(duplicates)}")
    return tuple(tasks)
