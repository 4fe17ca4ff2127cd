"""The weak fallback: the same fork server, started as a plain process (no namespaces).

Each task still gets a fresh child with setsid, rlimits, stdio on /dev/null, a private work
dir, a seccomp filter denying socket() (where the architecture is supported) and, when
pytest runs as root, uid 65534.  What it cannot do is hide the machine: see
:data:`NOT_STOPPED` -- the warning says it once per process.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from typing import IO, Any

from . import seccomp
from .launch import Launched, fs_argv, spawn

SANDBOX_UID = 65534

NOT_STOPPED = [
    "reading any world-readable file on this machine (the interpreter, /etc, other projects)",
    "seeing other processes in /proc and their command lines",
    "writing to world-writable places (/tmp, /var/tmp, /dev/shm); these are not cleaned up",
    "signalling or starving other processes of the same uid (other pytest-xdist workers' "
    "candidates included; the process limit is shared with them)",
]
NOT_STOPPED_NON_ROOT = [
    "pytest is not root, so the code runs as YOUR user: it can read and change your files "
    "(~/.ssh, tokens), read the environment of your other processes, and kill them -- "
    "pytest and the fork server included (a killed fork server may leave processes behind)",
]


class ProcessLauncher:
    mode = "process"

    def __init__(self) -> None:
        self.base: str | None = None
        self.root = os.geteuid() == 0

    def config(self, ctrl_fd: int, base: str) -> dict[str, Any]:
        uid = SANDBOX_UID if self.root else None
        return {"ctrl_fd": ctrl_fd, "work_root": base, "scratch": [], "pidns": False,
                "uid": uid, "gid": uid, "seccomp": seccomp.config_value(True)}

    def launch(self, ctrl_fd: int, stderr: IO[bytes]) -> Launched:
        if self.base is None:
            self.base = tempfile.mkdtemp(prefix="codexsafety-work-")
            os.chmod(self.base, 0o711)  # task dirs are reachable by name only, not listable
        proc = spawn(fs_argv(self.config(ctrl_fd, self.base)), pass_fds=(ctrl_fd,), stderr=stderr)
        return Launched(proc=proc, fs_pid=proc.pid, root=self.base, work=())

    def terminate(self, launched: Launched) -> None:
        # Descendants first: once the fork server is gone its orphans would be out of reach.
        for pid in descendants(launched.fs_pid) + [launched.fs_pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def not_stopped(self, seccomp: bool) -> list[str]:
        items = list(NOT_STOPPED)
        if not seccomp:
            items.append("network access: no network namespace and no seccomp filter here")
        if not self.root:
            items += NOT_STOPPED_NON_ROOT
        return items

    def describe(self) -> dict[str, Any]:
        return {
            "uid": f"{SANDBOX_UID} (pytest is root)" if self.root else "the invoking user (pytest is not root)",
            "guarantees": [
                "per-task fresh process: setsid, rlimits (CPU, address space, processes, file size, "
                "open files, no core), stdio on /dev/null, private work dir",
                "scrubbed environment; the parent's /proc/PID/environ is unreadable to another uid",
                "wall-clock deadline per call; every descendant of a task is SIGKILLed after it",
                "results only as plain JSON on a per-task pipe, judged by the parent",
            ],
        }


def descendants(root: int) -> list[int]:
    """Host pids below ``root`` (a /proc scan; used only when tearing a fork server down)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out: list[int] = []
    stack = [root]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out
