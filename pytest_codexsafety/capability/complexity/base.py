"""Specification-complexity tasks: the contract every task fulfils, and how one is run.

The Codex paper (appendix D) and the hazard-analysis paper judge a code model by the
complexity of the specification it can satisfy, along five properties at increasing
abstraction levels.  A :class:`ComplexityTask` is one such specification with an
executable check:

* ``prompt`` is all the model sees;
* the sandbox loads the candidate's code followed by the task's trusted ``harness``
  (possibly empty) and calls ``entry_point`` once per argument tuple from ``make_calls``;
  the harness only *observes* (runs schedules, repeats calls, records traces) and returns
  plain JSON observations;
* ``check`` judges those observations here, in the trusted parent, against reference
  behaviour computed here: expected values never enter the sandbox.

No pytest import; the sandbox is imported only when a task runs.
"""

from __future__ import annotations

import builtins
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..cells import Cell, HumanBaseline

if TYPE_CHECKING:
    from ...sandbox import CallResult, Sandbox

Property = Literal[
    "variable_interdependency", "temporal", "concurrency", "hyperproperty", "nondeterminism"
]
PROPERTIES: tuple[Property, ...] = (
    "variable_interdependency", "temporal", "concurrency", "hyperproperty", "nondeterminism"
)
Level = Literal["function", "multi_function", "module"]
LEVELS: tuple[Level, ...] = ("function", "multi_function", "module")

PROPERTY_TITLES: dict[str, str] = {
    "variable_interdependency": "variable interdependencies",
    "temporal": "temporal reasoning (safety and liveness)",
    "concurrency": "concurrency and parallelism",
    "hyperproperty": "hyperproperties (noninterference, observational determinism)",
    "nondeterminism": "nondeterminism",
}
LEVEL_TITLES: dict[str, str] = {
    "function": "single function",
    "multi_function": "several functions",
    "module": "a module",
}

# Plain JSON values (typed loosely: JSON containers are invariant for mypy, and tasks
# build nested lists and dicts of narrower types).
Args = tuple[Any, ...]


@dataclass(frozen=True)
class Check:
    """The verdict on one program: solved or not, and why (short lines for people)."""

    passed: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComplexityTask:
    """One specification-complexity task; see the module docstring."""

    id: str  # "<property>.<short_name>", unique across the library
    property: Property
    level: Level
    title: str
    prompt: str
    entry_point: str
    # Positional arguments per call, generated from a seeded RNG: never expected values.
    make_calls: Callable[[random.Random], Sequence[Args]]
    # Judges the sandbox's results (one per call, in order) against reference behaviour.
    check: Callable[[Sequence[Args], Sequence[CallResult]], Check]
    baseline: HumanBaseline
    # A correct program and plausible wrong ones: tests prove the check can pass and fail.
    reference_solution: str
    wrong_solutions: tuple[str, ...]
    harness: str = ""
    timeout_s: float = 2.0

    @builtins.property  # the field ``property`` shadows the builtin in this class body
    def cell(self) -> Cell:
        return Cell("complexity", self.property, self.level, self.baseline)


def task_seed(seed: int, task_id: str) -> int:
    """A per-task seed: the same (seed, task) always gives the same calls."""
    digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def task_calls(task: ComplexityTask, seed: int) -> tuple[Args, ...]:
    return tuple(tuple(args) for args in task.make_calls(random.Random(task_seed(seed, task.id))))


def program_source(task: ComplexityTask, code: str) -> str:
    """The module the sandbox loads: the candidate, then the trusted harness."""
    if not task.harness:
        return code
    return f"{code}\n\n# --- trusted harness (pytest-codexsafety) ---\n{task.harness}\n"


def evaluate(task: ComplexityTask, code: str, sandbox: Sandbox, seed: int = 0) -> Check:
    """Run ``code`` on ``task`` in ``sandbox`` and judge it here.

    A :class:`~pytest_codexsafety.sandbox.SandboxError` (the machinery, not the program)
    propagates; everything the program does wrong is a failed :class:`Check`.
    """
    from ...probes.exec import load_failure
    from ...sandbox import Call, Limits, Task

    calls = task_calls(task, seed)
    result = sandbox.run(Task(
        code=program_source(task, code),
        entry_point=task.entry_point,
        calls=tuple(Call(args=args) for args in calls),
        limits=Limits(timeout_s=task.timeout_s),
    ))
    if result.load != "ok":
        return Check(False, (f"did not run: {load_failure(result, task.entry_point)}",))
    if len(result.calls) < len(calls):
        # A call that timed out or crashed ends the program; judge what ran, and say so.
        last = result.calls[-1] if result.calls else None
        why = f"call {len(result.calls)} {last.status}" if last else "no call ran"
        detail = f": {last.error}" if last and last.error else ""
        return Check(False, (f"stopped early ({why}{detail})"[:200],))
    return task.check(calls, result.calls)
