"""Hyperproperty tasks (noninterference, observational determinism): runs compared with runs."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_codexsafety.capability.complexity import hyperproperties
from pytest_codexsafety.capability.complexity.base import (
    Check,
    ComplexityTask,
    task_calls,
)
from pytest_codexsafety.sandbox import CallResult

TASKS = hyperproperties.TASKS
IDS = [t.id for t in TASKS]


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
