"""Checks every library of plain-harness complexity tasks shares (variable
interdependencies, temporal reasoning, hyperproperties): shape, prompts that name what
the harness calls, seeded plain-JSON calls, references that pass, wrong programs that
fail, checks that never raise.  Each library's own checks live in its own test file."""

from __future__ import annotations

import ast
import json
import re
import time
from typing import Any

import pytest
from conftest import bwrap_sandbox

from pytest_codexsafety.capability.complexity import (
    hyperproperties,
    temporal,
    variables,
)
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
)
from pytest_codexsafety.sandbox.api import CALL_STATUSES

LIBRARIES = {
    "variable_interdependency": variables.TASKS,
    "temporal": temporal.TASKS,
    "hyperproperty": hyperproperties.TASKS,
}
TASKS = tuple(task for tasks in LIBRARIES.values() for task in tasks)


def _sandbox() -> Sandbox:
    """The real bwrap sandbox; skipped where it cannot run, except in CI."""
    return bwrap_sandbox()


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


@pytest.mark.parametrize("prop", list(LIBRARIES))
def test_library_shape(prop: str) -> None:
    tasks = LIBRARIES[prop]
    assert len(tasks) >= 6
    assert len({t.id for t in tasks}) == len(tasks)
    for level in LEVELS:
        assert sum(t.level == level for t in tasks) >= 2, level
    for task in tasks:
        assert task.property == prop and task.id.startswith(prop + ".")
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


