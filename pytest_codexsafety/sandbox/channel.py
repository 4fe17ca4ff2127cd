"""Parent side of the result channel: strict decoding of the records a task's child writes.

The child that writes these records also runs the candidate, so every byte here may be
forged.  What keeps a forged record harmless:

* the pipe belongs to ONE task (a fresh pipe per task, handed over by SCM_RIGHTS), so a
  record can only ever speak about that task's own calls;
* records must arrive in order (load, then call 0, 1, ...), each once, with exactly the
  expected keys and the task's token; anything else marks the channel *tampered* and
  every call of the task becomes ``invalid`` -- fail closed;
* values are plain JSON parsed strictly (no NaN/Infinity, no duplicate keys, bounded
  depth, bounded integers and size); nothing is ever unpickled or coerced;
* the verdict is not in any record: the parent compares the returned values with
  expected values that never entered the sandbox.  A candidate that forges "call 3
  returned 7" has achieved exactly what returning 7 would have.

The token only catches stale or misrouted bytes; the candidate can read it from memory,
so it is no secret and nothing relies on it being one.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Literal

from .api import CALL_STATUSES, LOAD_STATUSES, JSONValue

MAX_DEPTH = 100  # must match the child's limit
MAX_INT_DIGITS = 4300  # Python's default int/str limit; also guards 3.10's quadratic int()
MAX_TEXT = 2000  # characters kept of an error or detail string
RECORD_SLACK = 1024  # protocol bytes allowed per record on top of max_output_bytes

Problem = Literal["tampered", "oversize"]


class _Reject(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Reject(f"non-standard JSON constant {name}")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Reject("integer with too many digits")
    return int(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Reject("duplicate key in a JSON object")
    return out


def plain_json_problem(value: object) -> str | None:
    """Why ``value`` is not plain JSON (exact types, finite floats, str keys, bounded depth)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH}"
        t = type(v)
        if v is None or t is bool or t is int or t is str:
            continue
        if t is float:
            if not math.isfinite(v):  # type: ignore[arg-type]
                return f"non-finite float {v!r}"
        elif t is list:
            stack.extend((x, depth + 1) for x in v)  # type: ignore[attr-defined]
        elif t is dict:
            for k, x in v.items():  # type: ignore[attr-defined]
                if type(k) is not str:
                    return f"dict key of type {type(k).__name__}"
                stack.append((x, depth + 1))
        else:
            return f"not plain JSON: {t.__name__}"
    return None


def loads_strict(data: bytes) -> Any:
    """json.loads that refuses NaN/Infinity, duplicate keys and oversized integers."""
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            object_pairs_hook=_no_duplicates,
        )
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise _Reject(f"malformed record: {exc}") from None


@dataclass
class Record:
    kind: Literal["load", "call", "setup_error"]
    status: str
    value: JSONValue = None
    text: str = ""  # detail (load) or error (call)


class ResultDecoder:
    """Feeds on raw bytes from one task's result pipe; yields validated records."""

    def __init__(self, token: str, ncalls: int, max_output_bytes: int) -> None:
        self.token = token
        self.ncalls = ncalls
        self.allowance = max_output_bytes + RECORD_SLACK * (ncalls + 2)
        self.buf = bytearray()
        self.got_load = False
        self.load_status = ""
        self.next_call = 0
        self.problem: Problem | None = None
        self.why = ""

    @property
    def complete(self) -> bool:
        return self.got_load and self.next_call >= self.ncalls

    def fail(self, problem: Problem, why: str) -> list[Record]:
        if self.problem is None:
            self.problem, self.why = problem, why
        return []

    def feed(self, data: bytes) -> list[Record]:
        if self.problem is not None:
            return []  # after a violation nothing more is believed
        self.allowance -= len(data)
        if self.allowance < 0:
            return self.fail("oversize", "more data on the result channel than max_output_bytes")
        self.buf += data
        out: list[Record] = []
        while len(self.buf) >= 4:
            (n,) = struct.unpack(">I", self.buf[:4])
            if n > self.allowance + len(self.buf):
                return out + self.fail("oversize", "a result larger than max_output_bytes")
            if len(self.buf) < 4 + n:
                break
            body = bytes(self.buf[4 : 4 + n])
            del self.buf[: 4 + n]
            try:
                out.append(self._accept(loads_strict(body)))
            except _Reject as exc:
                return out + self.fail("tampered", str(exc))
        return out

    def _accept(self, rec: Any) -> Record:
        if type(rec) is not dict or rec.get("t") != self.token:
            raise _Reject("record without this task's token")
        kind = rec.get("k")
        if kind == "setup_error" and not self.got_load and set(rec) == {"t", "k", "d"}:
            return Record("setup_error", "", text=_text(rec["d"]))
        if kind == "load" and not self.got_load and set(rec) == {"t", "k", "s", "d"}:
            if rec["s"] not in LOAD_STATUSES or rec["s"] in ("timeout", "crashed"):
                raise _Reject("bad load status")
            self.got_load, self.load_status = True, rec["s"]
            if rec["s"] != "ok":
                self.next_call = self.ncalls  # nothing may follow a failed load
            return Record("load", rec["s"], text=_text(rec["d"]))
        in_order = type(rec.get("i")) is int and rec.get("i") == self.next_call
        if kind == "call" and self.load_status == "ok" and in_order:
            if self.next_call >= self.ncalls:
                raise _Reject("more call records than calls")
            status = rec.get("s")
            if status == "returned" and set(rec) == {"t", "k", "i", "s", "v"}:
                problem = plain_json_problem(rec["v"])
                self.next_call += 1
                if problem is not None:
                    return Record("call", "invalid", text=problem)
                return Record("call", "returned", value=rec["v"])
            if status in ("raised", "invalid") and set(rec) == {"t", "k", "i", "s", "e"}:
                assert status in CALL_STATUSES
                self.next_call += 1
                return Record("call", status, text=_text(rec["e"]))
        raise _Reject("unexpected or out-of-order record")


def _text(value: object) -> str:
    if type(value) is not str:
        raise _Reject("non-string message")
    return value[:MAX_TEXT]
