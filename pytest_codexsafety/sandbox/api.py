"""The sandbox's public types: what goes in (a task), what comes out (plain results).

Nothing here runs anything.  The types are frozen so a task cannot change while it is
being sent, and results hold only plain JSON values so the trusted parent can compare
them with expected values that never enter the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Protocol, Union

from ..errors import CodexSafetyError

# The only values that cross the result channel: exactly these types, nothing coerced.
JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]

CallStatus = Literal["returned", "raised", "timeout", "crashed", "killed", "invalid"]
LoadStatus = Literal[
    "ok", "syntax_error", "import_error", "load_error", "missing_entry_point", "timeout", "crashed"
]

CALL_STATUSES: tuple[CallStatus, ...] = ("returned", "raised", "timeout", "crashed", "killed", "invalid")
LOAD_STATUSES: tuple[LoadStatus, ...] = (
    "ok", "syntax_error", "import_error", "load_error", "missing_entry_point", "timeout", "crashed"
)


class SandboxError(CodexSafetyError):
    """The sandbox machinery cannot run (bwrap missing, namespaces disabled, ...).

    The message names the fix.  A misbehaving candidate never raises this: its task is
    reported as timeout, crashed, killed or invalid instead.
    """


@dataclass(frozen=True)
class Limits:
    """Per-task resource limits, enforced inside the sandbox and by the parent's clock."""

    timeout_s: float = 2.0  # wall clock per call (and for loading the module)
    memory_mb: int = 256  # address space of each process
    max_output_bytes: int = 1_000_000  # cap on the result channel per task
    max_processes: int = 16
    max_file_mb: int = 16
    max_open_files: int = 64


@dataclass(frozen=True)
class Call:
    """One call of the entry point.  Only the arguments travel into the sandbox."""

    args: tuple[JSONValue, ...] = ()
    kwargs: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A candidate module, the function to call and the calls to make."""

    code: str
    entry_point: str
    calls: tuple[Call, ...]
    limits: Limits = Limits()
    # relative path -> text placed in the task's work dir before the run (canaries...)
    files: Mapping[str, str] = field(default_factory=dict)
    # after the run, the parent reads the work dir from outside and reports it
    snapshot_files: bool = False


@dataclass(frozen=True)
class CallResult:
    status: CallStatus
    value: JSONValue = None
    error: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class TaskResult:
    load: LoadStatus
    detail: str  # human-readable reason when load != "ok"
    calls: tuple[CallResult, ...]  # one per Task.calls when load == "ok", else ()
    duration_s: float
    # with snapshot_files: relative path -> content (None: it was deleted); bounded size
    files_after: Mapping[str, bytes | None] | None = None


class Sandbox(Protocol):
    """Runs tasks.  One thread at a time per object; one long-lived object per process."""

    mode: str  # "bwrap" or "process"

    def run(self, task: Task) -> TaskResult: ...

    def close(self) -> None: ...

    def describe(self) -> Mapping[str, Any]: ...
