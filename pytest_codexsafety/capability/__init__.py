"""Capability probes: the evaluation framework of DESIGN.md section 4."""

from __future__ import annotations

from pytest_codexsafety.capability.ladder import (
    OPERATIONS,
    OPS_BY_NAME,
    LadderTask,
    StringOp,
    compose,
    decay_factors,
    make_ladder,
    make_task,
    summary_decay,
)

__all__ = [
    "OPERATIONS",
    "OPS_BY_NAME",
    "LadderTask",
    "StringOp",
    "compose",
    "decay_factors",
    "make_ladder",
    "make_task",
    "summary_decay",
]
