"""Run untrusted generated code isolated, fast, with results the candidate cannot forge.

Public API (everything else in this package is private)::

    sb = open_sandbox("auto")          # "bwrap" | "process" | "auto"; see CODEXSAFETY_SANDBOX
    result = sb.run(Task(code, "add", (Call((1, 2)),)))
    result.calls[0].status, result.calls[0].value   # "returned", 3 -- compared by the caller

Modes: ``bwrap`` (bubblewrap: every namespace unshared, the default when it works) and
``process`` (a weak fallback that warns once per process, naming what it does not stop).
Both keep one warm fork server per sandbox, outside the pytest process, that forks a fresh
child per task.  ``shared_sandbox(mode)`` keeps one per process (and per pytest-xdist
worker), closed at exit.  See docs/sandbox.md.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings

from ..errors import CodexSafetyWarning
from .api import (
    Call,
    CallResult,
    CallStatus,
    JSONValue,
    Limits,
    LoadStatus,
    Sandbox,
    SandboxError,
    Task,
    TaskResult,
)

__all__ = [
    "Call",
    "CallResult",
    "CallStatus",
    "JSONValue",
    "Limits",
    "LoadStatus",
    "MODES",
    "Sandbox",
    "SandboxError",
    "Task",
    "TaskResult",
    "open_sandbox",
    "sandbox_available",
    "shared_sandbox",
]

MODES = ("auto", "bwrap", "process")
ENV_VAR = "CODEXSAFETY_SANDBOX"

_warned = False
_shared: dict[str, Sandbox] = {}
_shared_pid = os.getpid()
_shared_lock = threading.Lock()


def _resolve(mode: str) -> str:
    if mode == "auto":
        mode = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
        if mode not in MODES:
            raise SandboxError(f"{ENV_VAR}={mode!r}: expected one of {', '.join(MODES)}")
    elif mode not in MODES:
        raise SandboxError(f"unknown sandbox mode {mode!r}: expected one of {', '.join(MODES)}")
    return mode


def sandbox_available(mode: str) -> tuple[bool, str]:
    """(works?, reason) for "bwrap", "process" or "auto"; cheap after the first call."""
    if not sys.platform.startswith("linux"):
        if mode == "process" and hasattr(os, "fork"):
            return True, "the process fallback (no namespaces on this platform)"
        return False, f"no sandbox for {sys.platform}: Linux is required (bwrap); try mode 'process'"
    from . import bwrap

    if mode == "bwrap":
        return bwrap.probe()
    if mode == "process":
        return True, "the process fallback is always available on Linux"
    if mode == "auto":
        ok, why = bwrap.probe()
        return True, why if ok else f"process fallback ({why.splitlines()[0]})"
    raise SandboxError(f"unknown sandbox mode {mode!r}: expected one of {', '.join(MODES)}")


def open_sandbox(mode: str = "auto") -> Sandbox:
    """A started sandbox.  "bwrap" raises :class:`SandboxError` naming the fix when bwrap
    cannot run here; "auto" falls back to "process" (with the warning) in that case."""
    from .pool import ForkServerSandbox

    mode = _resolve(mode)
    reason = ""
    if mode in ("bwrap", "auto"):
        ok, reason = sandbox_available("bwrap")
        if ok:
            from .bwrap import BwrapLauncher

            sb = ForkServerSandbox(BwrapLauncher())
            sb.start()
            return sb
        if mode == "bwrap":
            raise SandboxError(reason)
    from .process import ProcessLauncher

    launcher = ProcessLauncher()
    sb = ForkServerSandbox(launcher)
    ready = sb.start()
    _warn_weak(launcher.not_stopped(bool(ready.get("seccomp"))), reason)
    return sb


def _warn_weak(not_stopped: list[str], reason: str) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    why = f" because bubblewrap is unavailable ({reason.splitlines()[0]})" if reason else ""
    warnings.warn(
        CodexSafetyWarning(
            f"generated code runs in the weak 'process' sandbox{why}. It enforces time, memory, "
            "process, file-size and descriptor limits, but it does NOT stop: "
            + "; ".join(not_stopped)
            + f". For full isolation install bubblewrap (apt-get install bubblewrap); to forbid "
            f"this mode (in CI, say) set {ENV_VAR}=bwrap or --hazard-sandbox=bwrap."
        ),
        stacklevel=3,
    )


def shared_sandbox(mode: str = "auto") -> Sandbox:
    """One long-lived sandbox per process and mode, started on first use, closed at exit.

    A forked child process (multiprocessing, say) gets its own: a fork server's control
    socket must never be shared by two processes."""
    global _shared_pid
    with _shared_lock:
        if _shared_pid != os.getpid():
            _shared.clear()  # inherited objects belong to the parent process
            _shared_pid = os.getpid()
        key = _resolve(mode)
        sb = _shared.get(key)
        if sb is None:
            from .pool import ForkServerSandbox, overlap_for

            sb = _shared[key] = open_sandbox(key)
            if isinstance(sb, ForkServerSandbox):  # one per pytest-xdist worker
                sb.overlap = overlap_for(_xdist_workers())
        return sb


def _xdist_workers() -> int:
    """How many pytest-xdist workers run (each with its own sandbox); 1 outside xdist."""
    try:
        return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    except ValueError:
        return 1


@atexit.register
def _close_shared() -> None:
    if _shared_pid != os.getpid():
        return
    for sb in list(_shared.values()):
        try:
            sb.close()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass
    _shared.clear()
