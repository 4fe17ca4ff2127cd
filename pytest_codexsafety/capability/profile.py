"""The capability profile: samples grouped by cell into pass rates with intervals.  Pure.

Every number comes from :mod:`pytest_codexsafety.stats` (intervals, pass@k, pass^k) and
:mod:`pytest_codexsafety.capability.ladder` (decay), so the register, the terminal summary
and later reports cannot disagree.  The profile is built from plain per-sample facts, so a
pytest-xdist worker and a serial run compute the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..stats import WILSON, difference_interval, interval, mean_pass_k_interval, pass_at_k, pass_hat_k
from .cells import Cell, relative_to_baseline
from .ladder import decay_factors, fit_decay

#: pass@k and pass^k are reported for these k wherever every task of a cell has at
#: least k judged samples.
DEFAULT_KS: tuple[int, ...] = (1, 5, 10)
#: How pass_at_k_ci / pass_hat_k_ci are computed (docs/risk-model.md).
PASS_K_METHOD = ("{method} interval of each task's per-sample rate at confidence 1 - (1 - c) / tasks "
                 "(Bonferroni), mapped through 1-(1-p)^k (pass@k) or p^k (pass^k), averaged over the tasks")
LADDER_FAMILY = "ladder"
MISALIGNMENT_FAMILY = "misalignment"


@dataclass(frozen=True)
class ProfileSample:
    """What the profile needs from one sample."""

    cell: Cell
    task: int  # the prompt index: samples of one task are draws of the same problem
    solved: bool | None  # None: the sample errored, so it says nothing either way


def _cell_entry(cell: Cell, samples: list[ProfileSample], confidence: float, method: str,
                ks: tuple[int, ...]) -> dict[str, Any]:
    judged = [s for s in samples if s.solved is not None]
    solved = sum(1 for s in judged if s.solved)
    n = len(judged)
    low, high = interval(solved, n, confidence, method) if n else (0.0, 1.0)
    per_task: dict[int, list[bool]] = {}
    for s in judged:
        per_task.setdefault(s.task, []).append(bool(s.solved))
    at_k: dict[str, float] = {}
    hat_k: dict[str, float] = {}
    at_k_ci: dict[str, list[float]] = {}
    hat_k_ci: dict[str, list[float]] = {}
    tasks = [(len(v), sum(v)) for v in per_task.values()]
    for k in ks:
        if per_task and all(len(v) >= k for v in per_task.values()):
            at_k[str(k)] = sum(pass_at_k(len(v), sum(v), k) for v in per_task.values()) / len(per_task)
            hat_k[str(k)] = sum(pass_hat_k(len(v), sum(v), k) for v in per_task.values()) / len(per_task)
            at_k_ci[str(k)] = list(mean_pass_k_interval(tasks, k, confidence, method))
            hat_k_ci[str(k)] = list(mean_pass_k_interval(tasks, k, confidence, method, all_pass=True))
    return {
        "family": cell.family,
        "row": cell.row,
        "column": cell.column,
        "tasks": len({s.task for s in samples}),
        "samples": len(samples),
        "solved": solved,
        "errors": len(samples) - n,
        "rate": solved / n if n else None,
        "ci_low": low if n else None,
        "ci_high": high if n else None,
        "pass_at_k": at_k,
        "pass_hat_k": hat_k,
        # Intervals of the mean over the cell's tasks: stats.mean_pass_k_interval.
        "pass_at_k_ci": at_k_ci,
        "pass_hat_k_ci": hat_k_ci,
        "pass_k_method": PASS_K_METHOD.format(method=method),
        "baseline": cell.baseline.to_dict() if cell.baseline else None,
        # With no judged sample there is nothing to place against the baseline.
        "relative": relative_to_baseline(low, high, cell.baseline) if n else "not measured",
    }


def _decay(cells: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ladder's fall in pass rate per added component: the pairwise factors between
    consecutive lengths, and one factor fitted to every length's counts."""
    rungs = sorted(
        (int(c["column"]), c["solved"], c["samples"] - c["errors"], c["rate"]) for c in cells
        if c["family"] == LADDER_FAMILY and c["column"].isdigit() and c["rate"] is not None
    )
    if len(rungs) < 2:
        return None
    lengths = [r[0] for r in rungs]
    if lengths != list(range(lengths[0], lengths[0] + len(lengths))):
        return None  # a gap in the lengths would make a per-component factor meaningless
    rates = [r[3] for r in rungs]
    return {
        "lengths": lengths,
        "pass_rates": rates,
        "factors": decay_factors(rates),
        "per_component": fit_decay([(r[0], r[1], r[2]) for r in rungs]),
    }


def _gap(cells: list[dict[str, Any]], confidence: float) -> dict[str, Any] | None:
    """Misalignment: the clean-context pass rate minus the buggy-context one, with
    Newcombe's interval; positive when buggy examples make the model worse."""
    sides = {c["column"]: c for c in cells if c["family"] == MISALIGNMENT_FAMILY}
    clean, buggy = sides.get("clean"), sides.get("buggy")
    if clean is None or buggy is None or clean["rate"] is None or buggy["rate"] is None:
        return None
    n_clean, n_buggy = clean["samples"] - clean["errors"], buggy["samples"] - buggy["errors"]
    gap, low, high = difference_interval(clean["solved"], n_clean, buggy["solved"], n_buggy, confidence)
    return {"clean_rate": clean["rate"], "buggy_rate": buggy["rate"], "gap": gap, "ci_low": low, "ci_high": high}


def build_profile(samples: Iterable[ProfileSample], *, confidence: float = 0.95,
                  method: str = WILSON, ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, Any] | None:
    """The profile of the samples that carry a cell, in order of first appearance;
    None when no sample does (the probe is not a capability probe)."""
    grouped: dict[tuple[str, str, str], tuple[Cell, list[ProfileSample]]] = {}
    for s in samples:
        grouped.setdefault(s.cell.key, (s.cell, []))[1].append(s)
    if not grouped:
        return None
    cells = [_cell_entry(cell, members, confidence, method, ks) for cell, members in grouped.values()]
    return {"confidence": confidence, "interval_method": method, "cells": cells, "decay": _decay(cells),
            "gap": _gap(cells, confidence)}
