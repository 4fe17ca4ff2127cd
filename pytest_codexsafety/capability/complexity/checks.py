"""Generic helpers for writing a task's ``check`` and ``harness``.  Pure; no pytest import.

A check runs in the trusted parent on whatever the sandbox sent back: any status, any
JSON value of any shape.  :func:`per_call` turns a judge of one returned value into a
check that never raises: a non-returned call, a missing result or a value of the wrong
shape is a failed :class:`~.base.Check` with a short reason, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .base import Args, Check

if TYPE_CHECKING:
    from ...sandbox import CallResult, JSONValue

# Enough to see what went wrong, few enough to read.
MAX_REASONS = 4

# judge(call index, call args, returned value) -> reasons it is wrong (empty: right)
Judge = Callable[[int, Args, "JSONValue"], list[str]]
CheckFn = Callable[[Sequence[Args], Sequence["CallResult"]], Check]

# Harness prelude: the candidate's output made plain JSON.  The spec asks for lists, but a
# tuple where a list was asked is a format slip, not the property under test; anything
# that is not JSON becomes a marker string the check reports instead of an opaque
# "invalid" status.  Bound to private names at load time so the candidate's globals
# cannot shadow what the harness relies on.
PLAIN_HARNESS = '''
import builtins as _cs_bi
import copy as _cs_copy

def _cs_plain(_cs_v, _cs_depth=0):
    if _cs_depth > 50:
        return "<nested too deeply>"
    if _cs_v is None or _cs_bi.isinstance(_cs_v, (_cs_bi.bool, _cs_bi.int, _cs_bi.str)):
        return _cs_v
    if _cs_bi.isinstance(_cs_v, _cs_bi.float):
        return _cs_v if _cs_v == _cs_v and _cs_v not in (_cs_bi.float("inf"), -_cs_bi.float("inf")) else "<non-finite float>"
    if _cs_bi.isinstance(_cs_v, (_cs_bi.list, _cs_bi.tuple)):
        return [_cs_plain(_cs_x, _cs_depth + 1) for _cs_x in _cs_v]
    if _cs_bi.isinstance(_cs_v, _cs_bi.dict):
        return {_cs_bi.str(_cs_k): _cs_plain(_cs_x, _cs_depth + 1) for _cs_k, _cs_x in _cs_v.items()}
    return "<not JSON: " + _cs_bi.type(_cs_v).__name__ + ">"

def _cs_fresh(_cs_v):
    # a private copy per run: a candidate that mutates its input cannot change the next run
    return _cs_copy.deepcopy(_cs_v)
'''


def short(value: object, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters, for reasons people read."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a pathological value must not break the verdict
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def first_difference(expected: Any, actual: Any, path: str = "", tol: float = 1e-9) -> str | None:
    """Where ``actual`` first differs from ``expected`` (``None``: they agree).

    Strict about JSON kinds (``True`` is not ``1``); a number matches a number within
    ``tol`` (relative) so ``3`` and ``3.0`` agree; dicts compare by key set, lists in order.
    """
    where = f" at {path}" if path else ""
    if _kind(expected) != _kind(actual):
        return f"expected {short(expected)}{where}, got {short(actual)}"
    if isinstance(expected, dict):
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            return f"keys differ{where}: missing {short(missing)}, unexpected {short(extra)}"
        for key in expected:
            diff = first_difference(expected[key], actual[key], f"{path}[{key!r}]", tol)
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return (f"expected {len(expected)} items{where} ({short(expected, 40)}), "
                    f"got {len(actual)} ({short(actual, 40)})")
        for index, (exp, act) in enumerate(zip(expected, actual)):
            diff = first_difference(exp, act, f"{path}[{index}]", tol)
            if diff:
                return diff
        return None
    if isinstance(expected, float) or isinstance(actual, float):
        if math.isclose(float(expected), float(actual), rel_tol=tol, abs_tol=tol):
            return None
        return f"expected {short(expected)}{where}, got {short(actual)}"
    return None if expected == actual else f"expected {short(expected)}{where}, got {short(actual)}"


def per_call(judge: Judge) -> CheckFn:
    """A check from a judge of one returned value; see the module docstring."""

    def check(calls: Sequence[Args], results: Sequence[CallResult]) -> Check:
        try:
            if len(results) != len(calls):
                return Check(False, (f"expected {len(calls)} results, got {len(results)}",))
            reasons: list[str] = []
            for index, (args, result) in enumerate(zip(calls, results)):
                status = getattr(result, "status", None)
                if status != "returned":
                    error = getattr(result, "error", None)
                    detail = f": {' '.join(str(error).split())}" if error else ""
                    reasons.append(f"call {index} {status}{detail}"[:200])
                else:
                    reasons.extend(judge(index, args, result.value))
                if len(reasons) >= MAX_REASONS:
                    break
            return Check(not reasons, tuple(reasons[:MAX_REASONS]))
        except Exception as exc:  # noqa: BLE001 - an unforeseen shape fails, never crashes
            return Check(False, (f"result has an unexpected shape ({type(exc).__name__})",))

    return check


def expect_equal(reference: Callable[..., Any], what: str = "result") -> Judge:
    """A judge comparing the returned value with ``reference(*args)``, computed here."""

    def judge(index: int, args: Args, value: JSONValue) -> list[str]:
        diff = first_difference(reference(*args), value)
        return [] if diff is None else [f"call {index}: {what}: {diff}"]

    return judge


def is_int(value: object) -> bool:
    """A JSON integer (``bool`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def list_of(value: object, length: int | None = None) -> bool:
    return isinstance(value, list) and (length is None or len(value) == length)
