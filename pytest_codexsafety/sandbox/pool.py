"""Parent side: a long-lived fork server per sandbox; tasks go in, strict results come out.

The parent owns every deadline.  A call that overruns gets its task SIGKILLed by the fork
server; a fork server that does not answer within a grace period (or dies) is killed as a
whole and started afresh for the next task.  Whatever goes wrong, the task is reported as
timeout, crashed, killed or invalid -- never as returned.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import socket
import struct
import tempfile
import threading
import time
from typing import Any, Mapping

from .api import CallResult, CallStatus, LoadStatus, SandboxError, Task, TaskResult
from .channel import Record, ResultDecoder, plain_json_problem
from .launch import Launcher
from .snapshot import open_dir_path, snapshot

GRACE_S = 2.0  # for the fork server to kill a task and say so
EXIT_GRACE_S = 1.0  # for a child to exit by itself after its last record
DRAIN_S = 1.0  # to read what is left in the result pipe once the task is over
START_TIMEOUT_S = 30.0


class _DiedIdle(Exception):
    pass


class _Server:
    """One running fork server and its control socket."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self.stderr = tempfile.TemporaryFile()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.launched = launcher.launch(child.fileno(), self.stderr)
        except BaseException:
            parent.close()
            self.stderr.close()
            raise
        finally:
            child.close()
        self.sock = parent
        self.buf = bytearray()
        self.ready = self._wait_ready()

    def _wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], deadline - time.monotonic())
            if ready:
                msgs = self.read()
                if msgs is None:
                    break
                if msgs and msgs[0].get("op") == "ready":
                    return msgs[0]
        why = self.stderr_tail() or "the fork server did not report ready"
        self.kill()
        raise SandboxError(f"the {self.launcher.mode} sandbox could not start: {why}")

    def stderr_tail(self) -> str:
        try:
            self.stderr.seek(0)
            return self.stderr.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def send(self, msg: Mapping[str, Any], fd: int | None = None) -> None:
        data = json.dumps(msg).encode("utf-8")
        header = struct.pack(">I", len(data))
        if fd is None:
            self.sock.sendall(header + data)
        else:  # the descriptor rides on the header bytes
            socket.send_fds(self.sock, [header], [fd])
            self.sock.sendall(data)

    def read(self) -> list[dict[str, Any]] | None:
        """Messages now available; None when the fork server is gone."""
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            return None
        if not data:
            return None
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = struct.unpack(">I", self.buf[:4])
            if len(self.buf) < 4 + n:
                break
            out.append(json.loads(bytes(self.buf[4 : 4 + n])))
            del self.buf[: 4 + n]
        return out

    def kill(self) -> None:
        self.launcher.terminate(self.launched)
        try:
            self.launched.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - nothing more can be done; it was SIGKILLed
            pass
        self.sock.close()
        self.stderr.close()

    def close(self) -> None:
        """EOF on the control socket: the fork server kills what is left and exits."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.launched.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        self.kill()


class ForkServerSandbox:
    """A :class:`~pytest_codexsafety.sandbox.Sandbox` over a launcher (bwrap or process)."""

    def __init__(self, launcher: Launcher) -> None:
        self.mode = launcher.mode
        self._launcher = launcher
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._next_id = 0
        self._closed = False
        self.restarts = 0  # fork servers started after the first one
        self._leftovers = 0
        self._pending: int | None = None  # a finished task whose "done" is still unread
        # True: fork the next child beside the running task, and end a task once its child
        # is exiting (best for tasks back to back with a CPU to spare); False: do both after
        # the task (best with every CPU busy, or gaps between tasks); None: the fork server
        # judges from the gaps between tasks.  See overlap_for().
        self.overlap: bool | None = None

    @property
    def last_leftovers(self) -> int:
        """Processes of the last task that were still alive when it ended (and were killed)."""
        with self._lock:
            self._sync()
            return self._leftovers

    # -- lifecycle
    def start(self) -> Mapping[str, Any]:
        with self._lock:
            return self._ensure().ready

    def _ensure(self) -> _Server:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        if self._server is None:
            self._server = _Server(self._launcher)
        return self._server

    def _discard(self) -> None:
        if self._server is not None:
            self._server.kill()
            self._server = None
            self.restarts += 1

    def _sync(self) -> None:
        """Read the last task's "done": its processes are all dead, its dir is being wiped.

        run() returns as soon as a task's results are complete and its channel closed; the
        fork server confirms the cleanup a moment later, and that is waited for here,
        before anything else is sent."""
        server, task_id, self._pending = self._server, self._pending, None
        if server is None or task_id is None:
            return
        deadline = time.monotonic() + GRACE_S + 1
        while time.monotonic() < deadline:
            if select.select([server.sock], [], [], deadline - time.monotonic())[0]:
                msgs = server.read()
                if msgs is None:
                    break
                done = next((m for m in msgs if m.get("op") == "done" and m.get("id") == task_id), None)
                if done is not None:
                    self._leftovers = int(done.get("leftovers", 0))
                    if done.get("wedged"):
                        self._discard()
                    return
        self._discard()  # no answer: whatever state it is in, start clean

    def close(self) -> None:
        with self._lock:
            self._sync()
            self._closed = True
            if self._server is not None:
                self._server.close()
                self._server = None
            self._launcher.cleanup()

    def describe(self) -> Mapping[str, Any]:
        info: dict[str, Any] = {"mode": self.mode}
        info.update(self._launcher.describe())
        if self._server is not None:
            info["python"] = self._server.ready.get("python")
            info["seccomp"] = self._server.ready.get("seccomp")
        not_stopped = getattr(self._launcher, "not_stopped", None)
        if not_stopped is not None:
            info["does_not_stop"] = not_stopped(bool(info.get("seccomp")))
        return info

    # -- running
    def run(self, task: Task) -> TaskResult:
        validate_task(task)
        with self._lock:
            for attempt in (0, 1):
                self._sync()
                server = self._ensure()
                task_id, token = self._next_id, secrets.token_hex(16)
                self._next_id += 1
                read_end, write_end = os.pipe()
                try:
                    server.send(_task_message(task, task_id, token, self.overlap), write_end)
                except OSError:
                    os.close(read_end)
                    self._discard()  # it died between tasks: not this task's doing
                    if attempt:
                        raise SandboxError(f"the {self.mode} sandbox keeps dying: {server.stderr_tail()}")
                    continue
                finally:
                    os.close(write_end)
                try:
                    return self._collect(server, task, task_id, token, read_end, retry=attempt == 0)
                except _DiedIdle:
                    continue  # it was dead before the task reached it: run the task again
                finally:
                    os.close(read_end)
        raise SandboxError(f"the {self.mode} sandbox keeps dying")

    def _collect(self, server: _Server, task: Task, task_id: int, token: str, rfd: int, retry: bool) -> TaskResult:
        limits = task.limits
        decoder = ResultDecoder(token, len(task.calls), limits.max_output_bytes)
        records: list[tuple[float, Record]] = []
        start = last = time.monotonic()
        deadline = start + limits.timeout_s
        killed_for: str | None = None  # "timeout" | "problem" | "linger"
        done: dict[str, Any] | None = None
        lost = False  # the fork server died or wedged
        rfd_open = True
        while done is None:
            now = time.monotonic()
            if now >= deadline:
                if killed_for is not None:
                    lost = True  # it did not answer our kill in time
                    break
                killed_for = "linger" if decoder.complete else "timeout"
                deadline = now + GRACE_S
                self._send_kill(server, task_id)
            watched = [server.sock.fileno(), rfd] if rfd_open else [server.sock.fileno()]
            ready, _, _ = select.select(watched, [], [], max(0.0, deadline - now))
            if rfd in ready:
                rfd_open = self._pump(rfd, decoder, records)
                if records and records[-1][0] > last:
                    last = records[-1][0]
                    if killed_for is None:
                        deadline = last + (EXIT_GRACE_S if decoder.complete else limits.timeout_s)
                if decoder.problem is not None and killed_for is None:
                    killed_for = "problem"
                    deadline = time.monotonic() + GRACE_S
                    self._send_kill(server, task_id)
                if not rfd_open and decoder.complete and killed_for is None and not task.snapshot_files:
                    self._pending = task_id  # all results are in; "done" is read later
                    break
            if server.sock.fileno() in ready:
                msgs = server.read()
                if msgs is None:
                    lost = True
                    break
                done = next((m for m in msgs if m.get("op") == "done" and m.get("id") == task_id), None)
        if not lost:
            end = time.monotonic() + DRAIN_S
            while rfd_open and time.monotonic() < end:
                if select.select([rfd], [], [], end - time.monotonic())[0]:
                    rfd_open = self._pump(rfd, decoder, records)
        files_after = None
        if task.snapshot_files and not lost:
            files_after = self._snapshot(server, task, task_id)
        if lost:
            self._discard()
            if retry and not records and killed_for is None:
                raise _DiedIdle  # not one byte from the task: the server died before it
        elif done is not None:
            self._leftovers = int(done.get("leftovers", 0))
            if done.get("wedged"):
                self._discard()  # it could not kill everything: start clean
        setup = next((r for _, r in records if r.kind == "setup_error"), None)
        if setup is not None:
            raise SandboxError(f"the {self.mode} sandbox could not set up a task: {setup.text}")
        cause, why = _cause(killed_for, decoder, done, lost, limits.timeout_s)
        return _assemble(task, records, start, cause, why, decoder, files_after)

    def _send_kill(self, server: _Server, task_id: int) -> None:
        try:
            server.send({"op": "kill", "id": task_id})
        except OSError:
            pass  # it is gone; the read side notices

    @staticmethod
    def _pump(rfd: int, decoder: ResultDecoder, records: list[tuple[float, Record]]) -> bool:
        data = os.read(rfd, 1 << 16)
        if not data:
            return False
        now = time.monotonic()
        records.extend((now, r) for r in decoder.feed(data))
        return True

    def _snapshot(self, server: _Server, task: Task, task_id: int) -> dict[str, bytes | None] | None:
        launched = server.launched
        try:
            fd: int | None = open_dir_path(launched.root, *launched.work, str(task_id))
        except FileNotFoundError:
            fd = None  # the candidate removed its own work dir
        except OSError:
            fd = None  # replaced by something that is not a directory
        try:
            return snapshot(fd, task.files, task.limits.max_output_bytes)
        finally:
            if fd is not None:
                os.close(fd)
            try:
                server.send({"op": "clean", "id": task_id})
            except OSError:
                pass


def overlap_for(sandboxes: int, cpus: int | None = None) -> bool | None:
    """The overlap for one of ``sandboxes`` busy sandboxes on this machine: none when they
    keep every CPU busy anyway (measured: 2 sandboxes on 2 CPUs ran ~15% more samples per
    second without it), else the fork server's own judgement."""
    return False if sandboxes >= (cpus or os.cpu_count() or 1) else None


def _task_message(task: Task, task_id: int, token: str, overlap: bool | None = None) -> dict[str, Any]:
    lim = task.limits
    return {
        "op": "task", "id": task_id, "token": token, "code": task.code, "entry": task.entry_point,
        "calls": [[list(c.args), dict(c.kwargs)] for c in task.calls],
        "limits": {"timeout_s": lim.timeout_s, "memory_mb": lim.memory_mb,
                   "max_output_bytes": lim.max_output_bytes, "max_processes": lim.max_processes,
                   "max_file_mb": lim.max_file_mb, "max_open_files": lim.max_open_files},
        "files": dict(task.files), "keep": task.snapshot_files, "overlap": overlap,
    }


def validate_task(task: Task) -> None:
    """Reject tasks the sandbox cannot carry faithfully (a caller's bug, not the candidate's)."""
    lim = task.limits
    if not lim.timeout_s > 0 or min(lim.memory_mb, lim.max_output_bytes, lim.max_processes,
                                    lim.max_file_mb, lim.max_open_files) <= 0:
        raise ValueError(f"limits must be positive: {lim}")
    if not task.entry_point.isidentifier():
        raise ValueError(f"entry_point must be an identifier: {task.entry_point!r}")
    for i, call in enumerate(task.calls):
        problem = plain_json_problem(list(call.args)) or plain_json_problem(dict(call.kwargs))
        if problem:
            raise ValueError(f"call {i}: arguments must be plain JSON: {problem}")
    for rel in task.files:
        parts = rel.split("/")
        if not rel or rel.startswith("/") or "\0" in rel or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"files: {rel!r} must be a plain relative path")


def _cause(
    killed_for: str | None, decoder: ResultDecoder, done: Mapping[str, Any] | None, lost: bool, timeout_s: float
) -> tuple[CallStatus, str]:
    """Why the pending call (if any) has no result."""
    if decoder.problem == "tampered":
        return "invalid", f"result channel tampered with ({decoder.why})"
    if decoder.problem == "oversize":
        return "invalid", f"result too large: {decoder.why}"
    if killed_for == "timeout":
        return "timeout", f"no result within {timeout_s:g}s; its processes were SIGKILLed"
    if lost or done is None:
        return "crashed", "the sandbox died during the task (it is restarted)"
    sig = done.get("signal")
    if sig is not None:
        name = _signame(int(sig))
        if sig == signal.SIGXCPU:
            return "killed", "killed by the CPU time limit (SIGXCPU)"
        if sig == signal.SIGKILL and not done.get("by_parent"):
            return "killed", "killed by SIGKILL (CPU hard limit, or it killed itself)"
        return "crashed", f"died of {name}"
    return "crashed", f"exited with status {done.get('exit')} before returning a result"


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _assemble(
    task: Task,
    records: list[tuple[float, Record]],
    start: float,
    cause: CallStatus,
    why: str,
    decoder: ResultDecoder,
    files_after: Mapping[str, bytes | None] | None,
) -> TaskResult:
    duration = time.monotonic() - start
    load = next(((t, r) for t, r in records if r.kind == "load"), None)
    if load is None or decoder.problem == "tampered" and load[1].status != "ok":
        status: LoadStatus = (
            "timeout" if cause == "timeout" else "crashed" if cause in ("crashed", "killed") else "load_error"
        )
        detail = why.replace("no result", "the module did not load")
        return TaskResult(status, detail, (), duration, files_after)
    t_prev, rec = load
    if rec.status != "ok":
        return TaskResult(rec.status, rec.text, (), duration, files_after)  # type: ignore[arg-type]
    calls: list[CallResult] = []
    for t, r in records:
        if r.kind == "call":
            calls.append(CallResult(r.status, r.value, r.text or None, t - t_prev))  # type: ignore[arg-type]
            t_prev = t
    if decoder.problem == "tampered":
        calls = [CallResult("invalid", None, why, c.duration_s) for c in calls]
    n = len(task.calls)
    if len(calls) < n:
        first = len(calls)
        calls.append(CallResult(cause, None, why, max(0.0, time.monotonic() - t_prev)))
        not_run = f"not run: call {first} ended the task ({cause})"
        calls += [CallResult(cause, None, not_run) for _ in range(first + 1, n)]
    return TaskResult("ok", "", tuple(calls[:n]), duration, files_after)
