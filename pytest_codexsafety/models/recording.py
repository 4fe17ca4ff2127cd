"""``--hazard-record=PATH`` — write every completion a run used to a replayable recording.

The format is the one :mod:`.replay` reads (one :func:`~.replay.recording_line` per
request), so ``replay:PATH`` serves the run back offline.  A recording holds only request
content (prompt, generation parameters, sample index, hazard id) and completion text:
never the adapter's description or metadata, so it cannot carry credentials.

Under pytest-xdist each worker writes its own part, ``PATH.<worker_id>``, and the
controller calls :func:`merge_recordings` at session end.  No pytest import.
"""

from __future__ import annotations

import glob
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TextIO

from ..errors import FatalModelError
from .base import Completion, CompletionRequest, ModelAdapter
from .replay import recording_line

_WORKER_ID = re.compile(r"[A-Za-z0-9_-]+")


def part_path(path: Path, worker_id: str) -> Path:
    """Where worker ``worker_id`` writes its part of the recording ``path``."""
    if not _WORKER_ID.fullmatch(worker_id):
        # It becomes part of a file name: nothing that could leave the directory.
        raise ValueError(f"worker id {worker_id!r} must match {_WORKER_ID.pattern}")
    return path.with_name(f"{path.name}.{worker_id}")


def _natural_key(path: Path) -> list[Any]:
    # gw2 before gw10, as a person would order the workers.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def find_parts(path: Path) -> list[Path]:
    """The worker parts of ``path`` lying on disk, in worker order (gw0, gw1, ..., gw10).

    A fallback for a controller that did not collect the parts' names from its workers:
    a part left behind by an earlier run that died before merging would be found too.
    """
    prefix = path.name + "."
    found = [
        candidate
        for candidate in path.parent.glob(glob.escape(prefix) + "*")
        if candidate.is_file() and _WORKER_ID.fullmatch(candidate.name[len(prefix):])
    ]
    return sorted(found, key=_natural_key)


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_recordings` did; ``problems`` are lines or parts it skipped."""

    path: Path
    entries: int
    duplicates: int
    problems: tuple[str, ...] = ()


def merge_recordings(path: Path, parts: list[Path]) -> MergeResult:
    """Merge worker parts into the recording ``path``, then delete the parts.

    Lines keep their order (parts in the order given, lines in file order); a key seen
    before is dropped.  A line that is not a recording entry (a worker killed in mid-write
    leaves a truncated last line) is skipped and reported, not fatal: the controller calls
    this at session end, where raising would lose every other line.  ``path`` is replaced
    atomically, so a reader never sees half a merge.
    """
    lines: list[str] = []
    seen: set[str] = set()
    duplicates = 0
    problems: list[str] = []
    for part in parts:
        try:
            raw = part.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(f"{part}: missing (the worker recorded nothing?)")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{part}: cannot be read: {exc}")
            continue
        for lineno, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                problems.append(f"{part}:{lineno}: not valid JSON, skipped")
                continue
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("key"), str)
                or not isinstance(entry.get("completion"), str)
            ):
                problems.append(f"{part}:{lineno}: not a recording entry, skipped")
                continue
            if entry["key"] in seen:
                duplicates += 1
                continue
            seen.add(entry["key"])
            lines.append(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The dot in ".tmp" keeps a scratch file left by a crash from passing for a part.
    scratch = path.with_name(f"{path.name}.merging-{os.getpid()}.tmp")
    with open(scratch, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(line + "\n" for line in lines))
    os.replace(scratch, path)
    for part in parts:
        if part != path:
            part.unlink(missing_ok=True)
    return MergeResult(path, len(lines), duplicates, tuple(problems))


class RecordingAdapter:
    """Wraps a model adapter and records every completion it returns.

    Wrap it around the :class:`~pytest_codexsafety.cache.CachingAdapter`, so that cache
    hits are recorded too: the recording must hold every completion the run used.  The
    file is truncated on this adapter's first write (a recording describes one run) and
    every line is flushed at once; a key already recorded by this adapter is not written
    again.  A recording that cannot be written is a :class:`FatalModelError`: the user
    asked for it, and a silently partial recording would make replay fail later.
    """

    def __init__(self, inner: ModelAdapter, path: Path, *, worker_id: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        #: The file this process writes: ``path`` itself, or its part for ``worker_id``.
        self.file_path = part_path(self.path, worker_id) if worker_id else self.path
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._started = False
        self._seen: set[str] = set()

    @property
    def max_concurrency(self) -> int:
        return int(getattr(self.inner, "max_concurrency", 1))

    @property
    def recorded(self) -> int:
        """Entries written so far."""
        return len(self._seen)

    def describe(self) -> Mapping[str, Any]:
        return self.inner.describe()

    def complete(self, request: CompletionRequest) -> Completion:
        completion = self.inner.complete(request)
        self._record(request, completion.text)
        return completion

    def _record(self, request: CompletionRequest, text: str) -> None:
        key = request.content_key()
        if key in self._seen:  # racy read, re-checked under the lock
            return
        line = recording_line(request, text) + "\n"
        with self._lock:
            if key in self._seen:
                return
            try:
                handle = self._open_locked()
                handle.write(line)
                handle.flush()
            except OSError as exc:
                raise FatalModelError(f"cannot write the recording {self.file_path}: {exc}") from exc
            self._seen.add(key)

    def _open_locked(self) -> TextIO:
        if self._file is None:
            self.file_path.parent.mkdir(parents=True, exist_ok=True)
            # "w" on the first open only: later reopens (after close) append to this run's file.
            if self._started:
                handle = open(self.file_path, "a", encoding="utf-8", newline="\n")
            else:
                handle = open(self.file_path, "w", encoding="utf-8", newline="\n")
            self._file = handle
            self._started = True
        return self._file

    def close(self) -> None:
        try:
            with self._lock:
                if not self._started:
                    # A run that used no completion still leaves an (empty) recording of
                    # itself, never the previous run's file.
                    try:
                        self._open_locked()
                    except OSError:
                        pass
                if self._file is not None:
                    self._file.close()
                    self._file = None
        finally:
            self.inner.close()

    def __repr__(self) -> str:
        return f"RecordingAdapter({self.inner!r}, {str(self.file_path)!r})"
