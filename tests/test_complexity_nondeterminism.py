"""The nondeterminism task library: references pass, each wrong solution fails with a
reason, checks never raise, inputs are seeded, and the statistics are right."""

from __future__ import annotations

import math
import random

import pytest
from conftest import bwrap_sandbox

from pytest_codexsafety.capability.complexity import nondeterminism as nd
from pytest_codexsafety.capability.complexity.base import (
    LEVELS,
    ComplexityTask,
    evaluate,
    task_calls,
)
from pytest_codexsafety.sandbox import CallResult, Sandbox

TASKS = nd.TASKS
IDS = [t.id for t in TASKS]


@pytest.fixture(scope="module")
def sb() -> Sandbox:
    return bwrap_sandbox()


def test_library_shape() -> None:
    assert len(TASKS) >= 6
    assert len(set(IDS)) == len(IDS)
    for level in LEVELS:
        assert sum(t.level == level for t in TASKS) >= 2, level
    for t in TASKS:
        assert t.property == "nondeterminism" and t.id.startswith("nondeterminism.")
        assert len(t.wrong_solutions) >= 2
        assert t.entry_point.startswith("_cs_") and f"def {t.entry_point}(" in t.harness
        assert "Python code only" in " ".join(t.prompt.split())
        assert t.baseline.basis == "assumption" and t.baseline.source.endswith(".")


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_calls_are_seeded(task: ComplexityTask) -> None:
    assert task_calls(task, 5) == task_calls(task, 5)
    assert task_calls(task, 5)


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_reference_passes(task: ComplexityTask, sb: Sandbox) -> None:
    for seed in (0, 1):
        verdict = evaluate(task, task.reference_solution, sb, seed=seed)
        assert verdict.passed, (seed, verdict.reasons)


WRONG = [(t, i) for t in TASKS for i in range(len(t.wrong_solutions))]


@pytest.mark.parametrize("task,index", WRONG, ids=[f"{t.id}-wrong{i}" for t, i in WRONG])
def test_wrong_solution_fails_with_reason(task: ComplexityTask, index: int, sb: Sandbox) -> None:
    verdict = evaluate(task, task.wrong_solutions[index], sb, seed=2)
    assert not verdict.passed
    assert verdict.reasons and all(r.strip() for r in verdict.reasons)


JUNK: list[list[CallResult]] = [
    [],
    [CallResult("raised", None, "boom")] * 3,
    [CallResult("timeout"), CallResult("crashed"), CallResult("killed")],
    [CallResult("invalid", None, "tuple")] * 3,
    [CallResult("returned", v) for v in (None, 1, "x")],
    [CallResult("returned", {"tally": {"1,2": -1}})] * 3,
    [CallResult("returned", {"tally": {"1,2": True}, "mid": {}, "counts": {}})] * 3,
    [CallResult("returned", {"tally": {"": 5, "?x": 2, "a,b": 1, "0.0-9.9": 3}, "mid": [],
                             "ready": 3, "verdicts": None, "big": 7, "path": "p",
                             "mutated": 0})] * 3,
    [CallResult("returned", {"tally": {}, "mid": {}, "counts": {}, "ready": [],
                             "verdicts": [], "big": "", "path": []})] * 3,
]


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_check_never_raises_on_junk(task: ComplexityTask) -> None:
    calls = task_calls(task, 0)
    for results in JUNK:
        verdict = task.check(calls, results)
        assert not verdict.passed and verdict.reasons


def test_always_the_same_valid_answer_fails() -> None:
    """A program that returns one valid permutation every time is rejected for variety."""
    calls = task_calls(nd.SHUFFLE, 0)
    results = [CallResult("returned", {"tally": {",".join(map(str, items)): draws}, "mutated": 0})
               for items, draws in calls]
    verdict = nd.SHUFFLE.check(calls, results)
    assert not verdict.passed and "distribution" in verdict.reasons[0]


def test_chi2_sf_matches_known_values() -> None:
    assert nd.chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert nd.chi2_sf(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-9)
    assert nd.chi2_sf(2.0, 2) == pytest.approx(math.exp(-1), rel=1e-12)  # df 2: exp(-x/2)
    assert nd.chi2_sf(80.0, 2) == pytest.approx(math.exp(-40), rel=1e-9)
    assert nd.chi2_sf(0.0, 5) == 1.0


def test_chi_square_test_rejects_impossible_outcomes_and_accepts_exact_fit() -> None:
    assert nd.chi_square_test([10, 0, 1], [0.5, 0.5, 0.0])[1] == 0.0
    stat, p = nd.chi_square_test([250, 250, 500], [0.25, 0.25, 0.5])
    assert stat == 0.0 and p == 1.0


def test_false_alarm_rate_of_the_fit_is_small() -> None:
    """Honest multinomial samples: far from ALPHA-level rejections (a sanity check, not a proof)."""
    rng = random.Random(1)
    probs = {str(i): 1 / 24 for i in range(24)}
    worst = 1.0
    for _ in range(200):
        draws = rng.choices(list(probs), k=2400)
        counts = {k: draws.count(k) for k in probs}
        worst = min(worst, nd.chi_square_test([counts[k] for k in probs], list(probs.values()))[1])
    assert worst > 1e-5


def test_password_compositions_are_a_distribution() -> None:
    comps = nd._compositions(6)
    assert len(comps) == 10 and math.isclose(sum(comps.values()), 1.0)
    assert nd._is_valid("aB3!") and not nd._is_valid("aB3") and not nd._is_valid("aB3 x")


def test_maze_tree_count() -> None:
    assert len(nd._all_trees(3, 2)) == 15 and len(nd._all_trees(2, 2)) == 4
