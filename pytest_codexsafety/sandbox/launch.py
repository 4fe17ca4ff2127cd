"""What both launchers share: the fork server's command line, a scrubbed environment, and
spawning from a thread that lives as long as the process.

Why that thread: ``--die-with-parent`` (PR_SET_PDEATHSIG) fires when the *thread* that
spawned bwrap exits, not the process.  A sandbox first opened from a short-lived worker
thread would be killed with it, and its next task reported as a crash.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Protocol

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class Launched:
    proc: subprocess.Popen[bytes]
    fs_pid: int  # host pid of the fork server
    root: str  # host path of the fork server's filesystem root
    work: tuple[str, ...]  # path of the work root below ``root``


class Launcher(Protocol):
    mode: str

    def launch(self, ctrl_fd: int, stderr: IO[bytes]) -> Launched: ...

    def terminate(self, launched: Launched) -> None: ...

    def cleanup(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


def interpreter() -> str:
    """The base interpreter (not a venv's): the fork server needs only the stdlib."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


@functools.lru_cache(maxsize=1)
def fork_server_source() -> str:
    return Path(__file__).with_name("forkserver.py").read_text(encoding="utf-8")


def fs_argv(config: dict[str, Any]) -> list[str]:
    # -I: no environment, no user site, no cwd on sys.path; -S: no site-packages; -B: no .pyc
    return [interpreter(), "-I", "-S", "-B", "-c", fork_server_source(), json.dumps(config)]


def scrubbed_env() -> dict[str, str]:
    """The whole environment a sandbox process gets: no secrets can be inherited."""
    return {"PATH": SAFE_PATH, "LANG": "C.UTF-8"}


_requests: queue.Queue[tuple[Callable[[], Any], queue.Queue[tuple[bool, Any]]]] = queue.Queue()
_keeper: threading.Thread | None = None
_keeper_lock = threading.Lock()


def _keeper_loop() -> None:
    while True:
        fn, reply = _requests.get()
        try:
            reply.put((True, fn()))
        except BaseException as exc:  # handed back to the caller's thread
            reply.put((False, exc))


def _on_long_lived_thread(fn: Callable[[], Any]) -> Any:
    global _keeper
    if threading.current_thread() is threading.main_thread():
        return fn()
    with _keeper_lock:
        if _keeper is None or not _keeper.is_alive():
            _keeper = threading.Thread(target=_keeper_loop, name="codexsafety-sandbox-spawner", daemon=True)
            _keeper.start()
    reply: queue.Queue[tuple[bool, Any]] = queue.Queue()
    _requests.put((fn, reply))
    ok, value = reply.get()
    if not ok:
        raise value
    return value


def spawn(
    argv: list[str], *, pass_fds: tuple[int, ...], stderr: IO[bytes], **kwargs: Any
) -> subprocess.Popen[bytes]:
    """Popen with a scrubbed environment, / as cwd, its own session, stdio closed off."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv, env=scrubbed_env(), cwd="/", pass_fds=pass_fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True, **kwargs,
        )

    proc: subprocess.Popen[bytes] = _on_long_lived_thread(start)
    return proc
