"""Variable-interdependency tasks: each task's reference passes, its plausible mistakes fail."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_codexsafety.capability.complexity import variables
from pytest_codexsafety.capability.complexity.base import (
    Check,
    ComplexityTask,
    task_calls,
)
from pytest_codexsafety.sandbox import (
    CallResult,
)

TASKS = variables.TASKS
IDS = [t.id for t in TASKS]


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
