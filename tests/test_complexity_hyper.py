"""Hyperproperty tasks (noninterference, observational determinism): runs compared with runs."""

from __future__ import annotations

import ast
import json
import os
import re
import time
from typing import Any

import pytest

from pytest_codexsafety.capability.complexity import hyperproperties
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

TASKS = hyperproperties.TASKS
PROPERTY = "hyperproperty"


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


# ------------------------------------------------------------------ runs compared with runs

def _reference(task: ComplexityTask) -> object:
    return {"login": hyperproperties.ref_login, "roster": hyperproperties.ref_roster,
            "redacted_log": hyperproperties.ref_log, "paged_query": hyperproperties.ref_query,
            "tenant_store": hyperproperties.ref_store,
            "gradebook": hyperproperties.ref_gradebook}[task.id.split(".", 1)[1]]


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_check_names_the_broken_hyperproperty(task: ComplexityTask) -> None:
    reference = _reference(task)
    calls = task_calls(task, 2)
    good = [CallResult("returned", reference(*args)) for args in calls]  # type: ignore[operator]
    assert task.check(calls, good) == Check(True, ())
    for key, label in (("secret", "noninterference"), ("reordered", "observational determinism")):
        if key not in good[-1].value:  # type: ignore[operator]
            continue
        leaked = dict(good[-1].value)  # type: ignore[arg-type]
        leaked[key] = [leaked[key], "leak"]
        verdict = task.check(calls, good[:-1] + [CallResult("returned", leaked)])
        assert not verdict.passed and label in verdict.reasons[0], verdict.reasons


def test_every_task_tests_noninterference_and_some_determinism() -> None:
    keys = [set(_reference(t)(*task_calls(t, 0)[0])) for t in TASKS]  # type: ignore[operator]
    assert all("secret" in k for k in keys)
    assert sum("reordered" in k for k in keys) >= 3


def test_references_by_hand() -> None:
    users = {"ann": "pw", "dis": ""}
    assert hyperproperties.ref_login([["ann", "pw"], ["dis", ""]], [users] * 3)["all"][0] == [
        {"ok": True, "message": "welcome ann"},
        {"ok": False, "message": "invalid username or password"}]
    staff = [{"name": "b", "dept": "x", "salary": 1}, {"name": "a", "dept": "x", "salary": 9},
             {"name": "a", "dept": "w", "salary": 5}]
    assert hyperproperties.ref_roster(staff, staff, staff)["base"] == [
        ["w", 1, ["a"]], ["x", 2, ["a", "b"]]]
    log = hyperproperties.ref_log([{"user": "a", "Api_Token": "t", "n": 1}], [], [])
    assert log["base"] == ["Api_Token=[REDACTED] n=1 user=a"]
    rows = [{"id": 3, "level": 1, "title": "a"}, {"id": 1, "level": 2, "title": "b"},
            {"id": 2, "level": 0, "title": "c"}]
    query = hyperproperties.ref_query(rows, rows, rows, 1, [[1, 1], [2, 1], [3, 1]])
    assert query["base"]["pages"] == [{"ids": [2], "total_pages": 2, "has_next": True},
                                      {"ids": [3], "total_pages": 2, "has_next": False},
                                      {"ids": [], "total_pages": 2, "has_next": False}]
    ops: list[list[Any]] = [["put", "alice", "k1", 1], ["put", "alice", "k2", 2], ["get", "alice", "k1"],
           ["put", "alice", "k3", 3], ["keys", "alice"], ["size", "alice"]]
    assert hyperproperties.ref_store(2, ops, ops)["base"] == [None, None, 1, None, ["k1", "k3"], 2]
    book = hyperproperties.ref_gradebook(
        [["b", "m", 90], ["a", "m", 90], ["c", "m", 59], ["z", "s", 10]], [], [])["base"]
    assert book["reports"] == [{"students": 3, "mean": 239 / 3, "top": "a", "bands": [1, 0, 0, 0, 2]},
                               {"students": 1, "mean": None, "top": None, "bands": None}]
