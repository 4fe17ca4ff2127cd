"""Temporal tasks (safety and liveness): references pass, mistakes fail, traces are judged."""

from __future__ import annotations

import ast
import json
import os
import re
import time
from typing import Any

import pytest

from pytest_codexsafety.capability.complexity import temporal
from pytest_codexsafety.capability.complexity.base import (
    LEVELS,
    Check,
    ComplexityTask,
    evaluate,
    task_calls,
)
from pytest_codexsafety.capability.complexity.checks import PLAIN_HARNESS
from pytest_codexsafety.sandbox import (
    CallResult,
    Sandbox,
    SandboxError,
    sandbox_available,
    shared_sandbox,
)
from pytest_codexsafety.sandbox.api import CALL_STATUSES

TASKS = temporal.TASKS
PROPERTY = "temporal"


# ------------------------------------------------------------------ shared checks of a library

def _sandbox() -> Sandbox:
    """The real bwrap sandbox; skipped where it cannot run, except in CI."""
    ok, why = sandbox_available("bwrap")
    try:
        if not ok:
            raise SandboxError(why)
        return shared_sandbox("bwrap")
    except SandboxError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the bwrap sandbox: {exc}", pytrace=False)
        pytest.skip(f"the bwrap sandbox cannot run here: {exc}")


def _no_tuples(value: object) -> bool:
    if isinstance(value, tuple):
        return False
    if isinstance(value, list):
        return all(_no_tuples(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _no_tuples(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str))


def _harness_names(task: ComplexityTask) -> set[str]:
    """Names of the candidate's functions, classes and methods the harness calls."""
    tree = ast.parse(task.harness[len(PLAIN_HARNESS):])
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and not func.id.startswith("_cs_"):
            names.add(func.id)
        elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
              and func.value.id.startswith("_cs_") and func.value.id != "_cs_bi"
              and func.attr not in ("append", "sort", "get")):
            names.add(func.attr)
    return names


IDS = [t.id for t in TASKS]
JUNK: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], {}, [None], [[]], [[1, 2]],
                      {"base": None}, {"base": [], "secret": [1]}, {"events": 1},
                      [{"state": None}], [[["deep"]]], "<not JSON: set>", 10**30]


def test_library_shape() -> None:
    assert len(TASKS) >= 6
    assert len({t.id for t in TASKS}) == len(TASKS)
    for level in LEVELS:
        assert sum(t.level == level for t in TASKS) >= 2, level
    for task in TASKS:
        assert task.property == PROPERTY and task.id.startswith(PROPERTY + ".")
        assert task.baseline.basis == "assumption" and task.baseline.source.strip()
        assert len(task.wrong_solutions) >= 2
        assert task.harness.startswith(PLAIN_HARNESS) and task.entry_point == "_cs_run"
        assert task.timeout_s <= 2.0
        assert task.prompt.rstrip().endswith("example usage).")


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_prompt_names_what_the_harness_calls(task: ComplexityTask) -> None:
    names = _harness_names(task)
    assert names, "the harness must call the candidate"
    for name in names:
        assert re.search(rf"\b{re.escape(name)}\b", task.prompt), name


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_calls_are_seeded_plain_json(task: ComplexityTask) -> None:
    first, again, other = task_calls(task, 3), task_calls(task, 3), task_calls(task, 4)
    assert first == again and first != other
    assert first and all(_no_tuples(list(args)) for args in first)
    assert json.loads(json.dumps([list(a) for a in first])) == [list(a) for a in first]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_reference_solution_passes(task: ComplexityTask, seed: int) -> None:
    started = time.perf_counter()
    verdict = evaluate(task, task.reference_solution, _sandbox(), seed)
    assert verdict.passed, verdict.reasons
    assert verdict.reasons == ()
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_wrong_solutions_fail_with_a_reason(task: ComplexityTask) -> None:
    sandbox = _sandbox()
    for index, wrong in enumerate(task.wrong_solutions):
        assert wrong != task.reference_solution
        for seed in (0, 1):
            verdict = evaluate(task, wrong, sandbox, seed)
            assert not verdict.passed, (index, seed)
            assert verdict.reasons and all(r.strip() for r in verdict.reasons), (index, seed)


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_check_never_raises_on_junk(task: ComplexityTask) -> None:
    calls = task_calls(task, 0)
    n = len(calls)
    batches: list[list[Any]] = [
        [], [None] * n, [CallResult("returned")] * (n - 1), [CallResult("returned")] * (n + 1),
        [CallResult(status) for status in CALL_STATUSES][:n] + [CallResult("timeout")] * n,
        [CallResult("timeout", error="took too long")] * n,
        [CallResult("raised", error="ValueError: x")] + [CallResult("returned", 1)] * (n - 1),
        [CallResult("invalid", error="not plain JSON: tuple")] * n,
    ]
    batches += [[CallResult("returned", junk)] * n for junk in JUNK]
    for results in batches:
        verdict = task.check(calls, results)
        assert isinstance(verdict, Check)
        assert not verdict.passed and verdict.reasons, results[:1]
        assert all(isinstance(r, str) and len(r) < 400 for r in verdict.reasons)


# ------------------------------------------------------------------ traces judged here

G, Y, R = "G", "Y", "R"


def test_traffic_reference_by_hand() -> None:
    # an EW car at tick 0: NS keeps its 3-tick minimum green, 2 ticks yellow, then EW
    trace = temporal.ref_traffic([[False, t == 0] for t in range(8)])
    assert trace == [[G, R]] * 3 + [[Y, R]] * 2 + [[R, G]] * 3
    assert temporal.judge_traffic(([[False, t == 0] for t in range(8)],), trace) == []


def test_traffic_judge_names_safety_and_liveness() -> None:
    quiet = [[False, False]] * 6
    both = [[G, R], [G, R], [G, G], [Y, R], [Y, R], [R, G]]
    assert any(p.startswith("safety: both") for p in temporal.judge_traffic((quiet,), both))
    short_yellow = [[G, R]] * 3 + [[Y, R], [R, G], [R, G]]
    assert any("yellow lasted 1" in p for p in temporal.judge_traffic((quiet,), short_yellow))
    ew_car = [[False, t == 0] for t in range(10)]
    stuck = [[G, R]] * 10
    assert any(p.startswith("liveness") for p in temporal.judge_traffic((ew_car,), stuck))
    assert temporal.judge_traffic((quiet,), [[G, R]] * 5) != []  # wrong length


def test_bucket_judge_catches_a_burst() -> None:
    requests = [[0, 3], [10, 3], [10, 3]]
    assert temporal.ref_bucket(3, 1, requests) == [True, True, False]
    assert temporal.judge_bucket((3, 1, requests), [True, True, False]) == []
    problems = temporal.judge_bucket((3, 1, requests), [True, True, True])
    assert problems and problems[0].startswith("safety: admitted cost 6 in ticks 10..10")


def test_rwlock_judge_catches_sharing_starvation_and_overtaking() -> None:
    events = [["request", "a", "r"], ["request", "b", "w"], ["request", "c", "r"],
              ["release", "a"], ["release", "b"], ["release", "c"]]
    ref = temporal.ref_rwlock(events)
    assert [s["writer"] for s in ref] == [None, None, None, "b", None, None]
    assert temporal.judge_rwlock((events,), ref) == []
    shared = [dict(s) for s in ref]
    shared[1] = {"writer": "b", "readers": ["a"]}
    assert any(p.startswith("safety: writer b") for p in temporal.judge_rwlock((events,), shared))
    overtaken = [dict(s) for s in ref]
    overtaken[2] = {"writer": None, "readers": ["a", "c"]}
    assert any(p.startswith("fairness: c overtook") for p in temporal.judge_rwlock((events,), overtaken))
    never = [{"writer": None, "readers": ["a"]}] * 3 + [{"writer": None, "readers": []}] * 3
    assert any(p.startswith("liveness: b") for p in temporal.judge_rwlock((events,), never))


def test_retry_reference_and_judge() -> None:
    args = (["a", "b"], {"a": 5}, 1, 3)
    out = temporal.ref_retry(*args)
    # a fails at ticks 0, 2 (backoff 1 would allow 1, but b runs then), 4: abandoned
    assert out["result"] == {"runs": [["a"], ["b"], ["a"], [], ["a"]],
                             "succeeded": ["b"], "abandoned": ["a"]}
    assert temporal.judge_retry(args, out) == []
    early = {"backoff": out["backoff"], "result": dict(out["result"], runs=[["a"], ["a", "b"], ["a"]])}
    problems = temporal.judge_retry(args, early)
    assert any("capacity 1" in p for p in problems)
    assert any("before its backoff" in p for p in problems)


def test_elevator_and_monitor_judges() -> None:
    schedule = [[2], [], [], [], [], []]
    ref = temporal.ref_elevator(3, schedule)
    assert [s["state"]["floor"] for s in ref] == [1, 2, 2, 2, 2, 2]
    assert [s["state"]["door"] for s in ref] == ["closed", "closed", "open", "closed", "closed", "closed"]
    assert temporal.judge_elevator((3, schedule), ref) == []
    jump = [dict(e, state=dict(e["state"], floor=2)) if i == 0 else e for i, e in enumerate(ref)]
    assert any("jumped" in p for p in temporal.judge_elevator((3, schedule), jump))
    script = [["a"], [], [], [], ["a"]]
    mon = temporal.ref_monitor(2, script)
    assert [e["events"] for e in mon] == [[], [], [], [["down", "a"]], [["up", "a"]]]
    early = [dict(e, events=[["down", "a"]]) if i == 2 else e for i, e in enumerate(mon)]
    assert any("false alarm" in p for p in temporal.judge_monitor((2, script), early))
