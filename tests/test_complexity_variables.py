"""Variable-interdependency tasks: each task's reference passes, its plausible mistakes fail."""

from __future__ import annotations

import ast
import json
import os
import re
import time
from typing import Any

import pytest

from pytest_codexsafety.capability.complexity import variables
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

TASKS = variables.TASKS
PROPERTY = "variable_interdependency"


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


# ------------------------------------------------------------------ the references, by hand

def test_amortization_reference_by_hand() -> None:
    # 1 % a month: 100 interest, then 51, then 1.51 rounded half up to 2
    assert variables.ref_amortization(10000, 1200, 5000) == [
        [1, 5000, 100, 4900, 5100], [2, 5000, 51, 4949, 151], [3, 153, 2, 151, 0]]
    assert variables.ref_amortization(0, 500, 10) == []
    assert variables.ref_amortization(100000, 1200, 1000) is None  # pays only the interest


def test_inventory_reference_by_hand() -> None:
    # the day-1 delivery arrives before day-1 sales
    assert variables.ref_inventory(2, 1, 5, 1, [2, 3, 0]) == {
        "stock": [0, 2, 2], "orders": [0], "lost": 0, "final_stock": 2}
    # stock on order counts towards the reorder point: one order, not two
    assert variables.ref_inventory(10, 8, 10, 3, [3, 1, 1])["orders"] == [0]


def test_config_and_sheet_references_by_hand() -> None:
    cfg = {"workers": 4, "threads": 8, "mem_per_thread_mb": 16, "memory_mb": 607,
           "max_connections": 31, "tls": True, "cert_path": "", "port": 80, "admin_port": 80}
    assert variables.ref_config(cfg)["errors"] == [
        "max_connections", "memory_mb", "cert_path", "port", "admin_port"]
    assert variables.ref_config(dict(cfg, workers=True))["errors"][0] == "workers"
    sheet = variables.ref_sheet([["set", "A1", "=B1+2"], ["get", "A1"], ["set", "B1", "=A1"],
                                 ["get", "A1"], ["set", "C1", "=A1+1"], ["get", "C1"]])
    assert sheet["gets"] == [2, None, None]


def test_ledger_fee_and_limit_by_hand() -> None:
    accounts = {"a": {"balance": 1000, "overdraft": 0}, "b": {"balance": 0, "overdraft": 0}}
    out = variables.ref_ledger(accounts, [["a", "b", 990], ["a", "b", 975]], [2550, 1, 10**6])
    assert out["fees"] == [26, 25, 500]
    assert out["result"] == {"balances": {"a": 0, "b": 975}, "accepted": [False, True], "fees": 25}


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_check_offline_accepts_reference_and_rejects_a_change(task: ComplexityTask) -> None:
    refs: dict[str, Any] = {"amortization": variables.ref_amortization, "inventory": variables.ref_inventory,
            "config_validation": variables.ref_config, "ledger": variables.ref_ledger,
            "cart": variables.ref_cart, "spreadsheet": variables.ref_sheet}
    reference = refs[task.id.split(".", 1)[1]]
    calls = task_calls(task, 5)
    good = [CallResult("returned", reference(*args)) for args in calls]
    assert task.check(calls, good) == Check(True, ())
    bad = list(good)
    value: Any = good[-1].value
    changed = dict(value, extra=1) if isinstance(value, dict) else [value]
    bad[-1] = CallResult("returned", changed)
    verdict = task.check(calls, bad)
    assert not verdict.passed and verdict.reasons[0].startswith(f"call {len(calls) - 1}:")
