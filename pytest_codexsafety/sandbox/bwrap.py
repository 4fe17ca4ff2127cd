"""Starting the fork server inside bubblewrap: one long-lived sandbox per worker process.

Everything is unshared (user, pid, net, ipc, uts, cgroup, mount); the system and the
interpreter are mounted read-only; the only writable places are size-capped tmpfs mounts
(/work, /tmp, /dev/shm) that the fork server wipes after every task; the root and /dev
are remounted read-only.  When pytest runs as root, bwrap itself runs as uid 65534
(nobody), so the sandbox is an unprivileged uid on the host too, not just inside.  bwrap
gets a scrubbed environment: ``--clearenv`` alone would leave ours readable at
/proc/1/environ inside.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from . import seccomp
from .api import SandboxError
from .launch import Launched, fs_argv, interpreter, scrubbed_env, spawn

SANDBOX_UID = 65534
WORK = "/work"
TMPFS_MB = {WORK: 64, "/tmp": 64, "/dev/shm": 16}
INSIDE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
FIX = (
    "bubblewrap could not start a sandbox: {why}\n"
    "Fix: install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), "
    "and make sure unprivileged user namespaces are allowed (sysctl user.max_user_namespaces > 0; "
    "Debian before 11: sysctl kernel.unprivileged_userns_clone=1; Ubuntu 23.10+: "
    "sysctl kernel.apparmor_restrict_unprivileged_userns=0).  Inside Docker, the default seccomp "
    "profile forbids namespaces: run the container with --security-opt seccomp=unconfined, or "
    "accept the weaker CODEXSAFETY_SANDBOX=process."
)


def bwrap_path() -> str | None:
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


@functools.lru_cache(maxsize=None)
def features(path: str) -> frozenset[str]:
    """Options this bwrap knows (--size and --disable-userns came with 0.8)."""
    try:
        out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10,
                             env=scrubbed_env()).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(w for w in ("--size", "--disable-userns", "--as-pid-1", "--info-fd") if w in out)


def _prefixes() -> list[str]:
    """Directories the interpreter needs, outside /usr (a pyenv or conda install, say)."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix),
            os.path.dirname(interpreter())}
    out: list[str] = []
    for d in sorted(dirs):
        if d == "/usr" or d.startswith("/usr/") or any(d.startswith(p + "/") for p in out):
            continue
        out.append(d)
    return out


def _blocked_ancestor(path: str) -> str | None:
    """The outermost directory on ``path`` that others (uid 65534) cannot traverse."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        try:
            if not os.stat(d).st_mode & 0o001:
                return d
        except OSError:
            return None
    return None


def bwrap_argv(path: str, prefixes: list[str], info_fd: int) -> list[str]:
    feats = features(path)
    argv = [path, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
            "--as-pid-1", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "sandbox", "--cap-drop", "ALL", "--clearenv"]
    if "--disable-userns" in feats:
        argv.append("--disable-userns")  # no nested namespaces: less kernel to attack
    for k, v in INSIDE_ENV.items():
        argv += ["--setenv", k, v]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        src = "/" + name
        if os.path.islink(src):
            argv += ["--symlink", os.readlink(src), src]
        elif os.path.isdir(src):
            argv += ["--ro-bind", src, src]
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        argv += ["--ro-bind-try", f, f]
    for d in prefixes:
        argv += ["--ro-bind", d, d]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for mount, mb in TMPFS_MB.items():
        if "--size" in feats:
            argv += ["--size", str(mb * 1024 * 1024)]
        argv += ["--perms", "0755", "--tmpfs", mount]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK, "--info-fd", str(info_fd)]
    return argv


def _as_nobody(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """How to start ``argv`` so that bwrap runs as uid 65534 when we are root.

    Never as root mapped to 65534 inside: that is still host root for file ownership and
    for anything that escapes.  If the interpreter is out of reach for 65534, a trampoline
    re-binds it in a private mount namespace first (see trampoline.py)."""
    if os.geteuid() != 0:
        return argv, {}
    expose = [d for d in _prefixes() if _blocked_ancestor(d)]
    if not expose:
        return argv, {"user": SANDBOX_UID, "group": SANDBOX_UID, "extra_groups": []}
    cover = sorted({a for a in (_blocked_ancestor(d) for d in expose) if a}, key=len)
    cfg = {"expose": expose, "cover": cover, "uid": SANDBOX_UID, "argv": argv}
    source = Path(__file__).with_name("trampoline.py").read_text(encoding="utf-8")
    return [interpreter(), "-I", "-S", "-B", "-c", source, json.dumps(cfg)], {}


class BwrapLauncher:
    mode = "bwrap"

    def __init__(self) -> None:
        path = bwrap_path()
        if path is None:
            raise SandboxError(FIX.format(why="bwrap is not installed"))
        self.path = path

    def config(self, ctrl_fd: int) -> dict[str, Any]:
        return {"ctrl_fd": ctrl_fd, "work_root": WORK, "scratch": ["/tmp", "/dev/shm"],
                "pidns": True, "uid": None, "gid": None, "seccomp": seccomp.config_value(False)}

    def launch(self, ctrl_fd: int, stderr: IO[bytes]) -> Launched:
        return self._start(fs_argv(self.config(ctrl_fd)), (ctrl_fd,), stderr)

    def _start(self, command: list[str], fds: tuple[int, ...], stderr: IO[bytes]) -> Launched:
        info_r, info_w = os.pipe()
        try:
            argv, kwargs = _as_nobody(bwrap_argv(self.path, _prefixes(), info_w) + ["--"] + command)
            proc = spawn(argv, pass_fds=fds + (info_w,), stderr=stderr, **kwargs)
        finally:
            os.close(info_w)
        try:
            info = _read_info(info_r, time.monotonic() + 20)
        finally:
            os.close(info_r)
        pid = info.get("child-pid") if isinstance(info, dict) else None
        if not isinstance(pid, int):
            proc.kill()
            proc.wait()
            stderr.seek(0)
            why = stderr.read()[-2000:].decode("utf-8", "replace").strip() or "no child pid reported"
            raise SandboxError(FIX.format(why=why))
        return Launched(proc=proc, fs_pid=pid, root=f"/proc/{pid}/root", work=("work",))

    def terminate(self, launched: Launched) -> None:
        # SIGKILL to the namespace's init takes every process in it along.
        for pid in (launched.fs_pid, launched.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        pass  # everything lived in the sandbox's own tmpfs mounts

    def describe(self) -> dict[str, Any]:
        return {
            "bwrap": self.path,
            "uid": f"{SANDBOX_UID} inside; bwrap runs as {SANDBOX_UID} on the host when pytest is root",
            "tmpfs_mb": dict(TMPFS_MB),
            "guarantees": [
                "no network (own network namespace, loopback only inside)",
                "own pid namespace: the runner and other host processes are invisible and unkillable",
                "read-only /usr and interpreter; writable only size-capped /work, /tmp, /dev/shm, "
                "wiped after every task",
                "scrubbed environment (nothing of the parent's environment inside, /proc/1/environ "
                "included)",
                "per-task fresh process: setsid, rlimits (CPU, address space, processes, file size, "
                "open files, no core), stdio on /dev/null",
                "wall-clock deadline per call; every process of a task is SIGKILLed after it",
                "results only as plain JSON on a per-task pipe, judged by the parent",
            ],
            "does_not_stop": [
                "CPU and memory use up to the limits, for up to the deadline",
                "kernel exploits (bwrap is not a VM)",
            ],
        }


def _read_info(fd: int, deadline: float) -> Any:
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        return json.loads(data or b"null")
    except ValueError:
        return None


@functools.lru_cache(maxsize=None)
def probe() -> tuple[bool, str]:
    """Can bwrap start our sandbox here?  One trial run of the interpreter inside (~30 ms)."""
    try:
        launcher = BwrapLauncher()
    except SandboxError as exc:
        return False, str(exc)
    with tempfile.TemporaryFile() as err:
        try:
            launched = launcher._start([interpreter(), "-I", "-S", "-c", "pass"], (), err)
            code = launched.proc.wait(timeout=20)
        except (SandboxError, OSError, subprocess.SubprocessError) as exc:
            return False, str(exc)
        if code != 0:
            err.seek(0)
            why = err.read()[-2000:].decode("utf-8", "replace").strip()
            return False, FIX.format(why=why or f"exit status {code}")
    return True, f"bubblewrap works ({launcher.path})"
