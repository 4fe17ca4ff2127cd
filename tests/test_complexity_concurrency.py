"""The concurrency task library: references pass under several schedules, each wrong
solution fails with a reason, checks never raise, inputs are seeded."""

from __future__ import annotations

import pytest
from conftest import bwrap_sandbox

from pytest_codexsafety.capability.complexity import concurrency
from pytest_codexsafety.capability.complexity.base import (
    LEVELS,
    ComplexityTask,
    evaluate,
    program_source,
    task_calls,
)
from pytest_codexsafety.sandbox import (
    CallResult,
    JSONValue,
    Sandbox,
)

TASKS = concurrency.TASKS
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
        assert t.property == "concurrency" and t.id.startswith("concurrency.")
        assert len(t.wrong_solutions) >= 2
        assert t.entry_point.startswith("_cs_") and f"def {t.entry_point}(" in t.harness
        assert "Python code only" in " ".join(t.prompt.split())
        assert t.baseline.basis == "assumption" and t.baseline.source.endswith(".")
        assert t.timeout_s <= 3.0
        assert program_source(t, "X = 1").startswith("X = 1\n")


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_calls_are_seeded_plain_json(task: ComplexityTask) -> None:
    calls = task_calls(task, 7)
    assert calls == task_calls(task, 7)
    assert calls != task_calls(task, 8)

    def plain(v: object) -> bool:
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or type(v) in (bool, int, float, str)

    assert calls and all(plain(list(args)) for args in calls)


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_reference_passes_under_three_seeds(task: ComplexityTask, sb: Sandbox) -> None:
    for seed in (0, 1, 2):
        verdict = evaluate(task, task.reference_solution, sb, seed=seed)
        assert verdict.passed, (seed, verdict.reasons)


WRONG = [(t, i) for t in TASKS for i in range(len(t.wrong_solutions))]


@pytest.mark.parametrize("task,index", WRONG, ids=[f"{t.id}-wrong{i}" for t, i in WRONG])
def test_wrong_solution_fails_with_reason(task: ComplexityTask, index: int, sb: Sandbox) -> None:
    # A race shows up under some schedules only: on a heavily loaded machine one seed's
    # schedules can miss it, so the check must catch the wrong program on one of three
    # seeds (in practice it catches it on every seed).
    for seed in (3, 4, 5):
        verdict = evaluate(task, task.wrong_solutions[index], sb, seed=seed)
        if not verdict.passed:
            break
    assert not verdict.passed
    assert verdict.reasons and all(r.strip() for r in verdict.reasons)


def test_missing_class_fails_cleanly(sb: Sandbox) -> None:
    verdict = evaluate(concurrency.COUNTER, "def unrelated():\n    pass\n", sb)
    assert not verdict.passed and "NameError" in " ".join(verdict.reasons)


ODD: list[JSONValue] = [None, 1, "x", [], {}, {"rounds": []}]
JUNK: list[list[CallResult]] = [
    [],
    [CallResult("raised", None, "boom")],
    [CallResult("timeout")] * 3,
    [CallResult("crashed"), CallResult("killed"), CallResult("invalid", None, "tuple")],
    [CallResult("returned", v) for v in ODD],
    [CallResult("returned", {"rounds": [{"stuck": "no", "errors": 3}]})] * 3,
    [CallResult("returned", {"rounds": [{"stuck": 0, "errors": [], "final": 1, "reads": [[1, "a"]],
                                          "events": [1, 1, 9], "got": [None], "kind": "fill",
                                          "keys": ["a"], "made": [], "results": [[True]],
                                          "audits": [None]}]})] * 3,
    [CallResult("returned", {"share": {"trace": ["R+", 5], "stuck": 0, "errors": []},
                             "order": [1], "calls": [1], "max_active": True,
                             "stuck": 0, "errors": []})] * 3,
    [CallResult("returned", {"skipped": True})] * 3,
    [CallResult("returned", [[[[]]]])] * 3,
]


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_check_never_raises_on_junk(task: ComplexityTask) -> None:
    calls = task_calls(task, 0)
    for results in JUNK:
        verdict = task.check(calls, results)
        assert not verdict.passed and verdict.reasons


def test_check_flags_a_deadlock_report() -> None:
    calls = task_calls(concurrency.BOUNDED_BUFFER, 0)
    stuck: JSONValue = {
        "rounds": [{"kind": "fill", "events": [1], "got": [], "errors": [], "stuck": 2}]}
    verdict = concurrency.BOUNDED_BUFFER.check(calls, [CallResult("returned", stuck)] * len(calls))
    assert not verdict.passed and "deadlock" in verdict.reasons[0]


def test_rw_replay_detects_overlap() -> None:
    assert concurrency._replay(["R+", "R+", "R-", "R-", "W+", "W-"]) == (2, False)
    assert concurrency._replay(["R+", "W+", "W-", "R-"])[1] is True
    assert concurrency._replay(["W+", "W+"])[1] is True
