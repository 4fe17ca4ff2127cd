"""Reading a task's work dir from OUTSIDE the sandbox, after every task process is dead.

The parent may be root and the directory was shaped by the candidate, so nothing is
followed: every component is opened relative to its parent's descriptor with
O_NOFOLLOW (a symlink to /etc/shadow is reported as a symlink, never read), only regular
files are read, and entries, depth and bytes are bounded.
"""

from __future__ import annotations

import os
import stat
from typing import Mapping

MAX_ENTRIES = 1000
MAX_DEPTH = 32
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_dir_path(root: str, *parts: str) -> int:
    """Open ``root`` (trusted, may be a /proc/PID/root magic link), then each part without
    following symlinks.  Raises OSError when a part is missing or not a directory."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            nxt = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def snapshot(dir_fd: int | None, placed: Mapping[str, str], budget: int) -> dict[str, bytes | None]:
    """relative path -> content for every entry under ``dir_fd``; None for a placed file
    that is gone.  Symlinks and special files are described, not read: ``b"<symlink -> T>"``,
    ``b"<fifo>"``...  Contents past ``budget`` bytes in total are cut."""
    out: dict[str, bytes | None] = {}
    if dir_fd is not None:
        _walk(dir_fd, "", 0, out, [budget])
    for rel in placed:
        out.setdefault(os.path.normpath(rel), None)
    return out


def _walk(fd: int, prefix: str, depth: int, out: dict[str, bytes | None], budget: list[int]) -> None:
    with os.scandir(fd) as entries:
        names = sorted(e.name for e in entries)
    for name in names:
        if len(out) >= MAX_ENTRIES:
            return
        rel = prefix + name
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth < MAX_DEPTH:
                try:
                    sub = os.open(name, _DIR, dir_fd=fd)
                except OSError:
                    continue
                try:
                    _walk(sub, rel + "/", depth + 1, out, budget)
                finally:
                    os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            out[rel] = _read(fd, name, budget)
        elif stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(name, dir_fd=fd)
            except OSError:
                target = "?"
            out[rel] = f"<symlink -> {target[:200]}>".encode("utf-8", "replace")
        else:
            kind = "fifo" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "device"
            out[rel] = f"<{kind}>".encode()


def _read(dir_fd: int, name: str, budget: list[int]) -> bytes:
    try:
        fd = os.open(name, _FILE, dir_fd=dir_fd)
    except OSError:
        return b"<unreadable>"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b"<not a regular file>"
        chunks: list[bytes] = []
        while budget[0] > 0:
            data = os.read(fd, min(budget[0], 1 << 16))
            if not data:
                break
            chunks.append(data)
            budget[0] -= len(data)
        return b"".join(chunks)
    finally:
        os.close(fd)
