"""The on-disk completion cache and the adapter wrapper that consults it.  No pytest import.

One SQLite file is shared by every process of a run (the pytest-xdist workers included)
and by every run after it, so rerunning an unchanged suite makes no model calls.  Entries
are keyed by the adapter's identity (the canonical JSON of its ``describe()``) and the
request's :meth:`~pytest_codexsafety.models.base.CompletionRequest.content_key` (prompt,
every generation parameter including the seed, and the sample index).

Durability: every completion is committed on its own as soon as it arrives, so an
interrupted run (Ctrl-C, ``kill -9``) keeps all it received and the rerun asks only for the
rest.  The file is in WAL mode with ``synchronous=NORMAL``: a commit is then safe against
the process dying (the WAL is in the OS's hands once ``write`` returns) though not against
power loss, which for a cache costs at most a few repeated model calls.

A corrupt file is reported through :attr:`CompletionCache.warnings` (and the optional
``on_warning`` callback), renamed to ``<name>.corrupt-<timestamp>`` and replaced by a fresh
cache: the cache never makes a run crash, at worst it stops caching.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

from .models.base import Completion, CompletionRequest, ModelAdapter

CACHE_DIRNAME = ".codexsafety"
CACHE_FILENAME = "cache.sqlite3"
SCHEMA_VERSION = 1
DEFAULT_TIMEOUT_S = 30.0

# Same convention as pytest's own cache dir: a directory the plugin creates ignores itself.
GITIGNORE_TEXT = "# Created by pytest-codexsafety automatically.\n*\n"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created REAL NOT NULL
)
"""
_SELECT = "SELECT text, prompt_tokens, completion_tokens, created FROM completions WHERE key = ?"
_UPSERT = (
    "INSERT OR REPLACE INTO completions "
    "(key, identity, text, prompt_tokens, completion_tokens, created) VALUES (?, ?, ?, ?, ?, ?)"
)

# Connections a forked child inherited from its parent.  They are kept referenced and never
# closed in the child: SQLite must not carry a connection across fork, and closing one there
# could checkpoint (and delete) the WAL the parent is still using.
_INHERITED: list[sqlite3.Connection] = []

T = TypeVar("T")


def default_cache_path(rootdir: Path) -> Path:
    """Where the cache lives unless configured: ``<rootdir>/.codexsafety/cache.sqlite3``.

    Nothing is created here; :class:`CompletionCache` creates the directory (with a
    ``.gitignore``) on first use.
    """
    return Path(rootdir) / CACHE_DIRNAME / CACHE_FILENAME


def adapter_identity(adapter: ModelAdapter) -> str:
    """Canonical JSON of ``adapter.describe()``: what distinguishes one model from another.

    ``describe()`` never holds credentials (the ModelAdapter contract), so storing this in
    the cache leaks nothing.
    """
    return json.dumps(
        dict(adapter.describe()),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def cache_key(identity: str, request: CompletionRequest) -> str:
    """The cache's primary key for ``request`` asked of the model ``identity`` names."""
    # A NUL separates the two parts unambiguously: the identity is JSON, which escapes every
    # control character, so it cannot contain one itself.
    payload = identity.encode("utf-8") + b"\0" + request.content_key().encode("ascii")
    return hashlib.sha256(payload).hexdigest()


class _CorruptFile(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found damage that SQLite did not raise on by itself."""


def _is_corruption(exc: BaseException) -> bool:
    # sqlite3 raises the bare DatabaseError class for SQLITE_CORRUPT and SQLITE_NOTADB; its
    # subclasses are other faults (OperationalError: locked, busy, disk full, read-only...),
    # which must never make us set a healthy file aside.
    return type(exc) in (sqlite3.DatabaseError, _CorruptFile)


def _first_lines(text: str, limit: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    more = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return "; ".join(lines[:limit]) + more


if sys.platform != "win32":
    import fcntl

    @contextmanager
    def _interprocess_lock(directory: Path) -> Iterator[None]:
        # flock on the directory itself: no lock file to leave behind or to race over.
        fd = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

else:  # pragma: no cover - exercised on Windows only

    @contextmanager
    def _interprocess_lock(directory: Path) -> Iterator[None]:
        # No flock on Windows; renaming a file another process holds open fails there
        # anyway, so the worst case is a second process giving up on the cache.
        yield


class CompletionCache:
    """A completion cache in one SQLite file, safe to share between threads and processes.

    Connections are opened lazily, once per process (a pid check notices a fork), and kept
    in a small pool: a thread takes an idle connection for one statement and gives it
    back.  A connection is thus never used by two threads at once, readers do not queue
    behind a Python lock (WAL lets them read concurrently), and the number of connections
    stays bounded by the peak concurrency rather than growing with every short-lived worker
    thread an adapter starts.  ``check_same_thread=False`` is needed only because a pooled
    connection moves between threads, one at a time.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        on_warning: Callable[[str], None] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        #: Human-readable reports of what went wrong (corrupt file set aside, cache
        #: disabled...), in order; each distinct message appears once.
        self.warnings: list[str] = []
        self.on_warning = on_warning
        self._lock = threading.Lock()  # opening, closing and the list of all connections
        self._warn_lock = threading.Lock()
        self._unreported: list[str] = []  # warnings not yet handed to on_warning
        self._pid: int | None = None
        self._idle: deque[sqlite3.Connection] = deque()
        self._all: list[sqlite3.Connection] = []
        self._disabled: str | None = None
        # Bumped whenever the pool is dropped, so a connection checked out before a close()
        # is not put back into the new pool afterwards.
        self._generation = 0

    # ---- public API

    @property
    def enabled(self) -> bool:
        """False once the cache gave up for this process (see :attr:`warnings`)."""
        self._ensure_open()
        self._report()
        return self._disabled is None

    def get(self, identity: str, request: CompletionRequest) -> Completion | None:
        """The stored completion (with ``cached=True``), or None on a miss."""
        key = cache_key(identity, request)
        row = self._execute(lambda conn: conn.execute(_SELECT, (key,)).fetchone())
        if row is None:
            return None
        text, prompt_tokens, completion_tokens, created = row
        if not isinstance(text, str):  # not written by us: treat as a miss, never crash
            return None
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
            completion_tokens=completion_tokens if isinstance(completion_tokens, int) else None,
            cached=True,
            metadata={"cached_at": created},
        )

    def put(self, identity: str, request: CompletionRequest, completion: Completion) -> None:
        """Store ``completion``, committed before this returns (replacing any older entry).

        Only the text and token counts are kept: adapter metadata is not, so nothing an
        adapter puts there can end up on disk.
        """
        row = (
            cache_key(identity, request),
            identity,
            completion.text,
            completion.prompt_tokens,
            completion.completion_tokens,
            time.time(),
        )
        # isolation_level=None: the statement is its own transaction, committed at once.
        self._execute(lambda conn: conn.execute(_UPSERT, row))

    def __len__(self) -> int:
        row = self._execute(lambda conn: conn.execute("SELECT COUNT(*) FROM completions").fetchone())
        return int(row[0]) if row is not None else 0

    def close(self) -> None:
        """Close this process's connections.  Idempotent; a later call reopens lazily."""
        with self._lock:
            if self._pid == os.getpid():
                for conn in self._all:
                    try:
                        conn.close()
                    except sqlite3.Error:
                        pass
            else:
                _INHERITED.extend(self._all)
            self._all = []
            self._idle.clear()
            self._generation += 1
            self._pid = None

    def __enter__(self) -> "CompletionCache":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CompletionCache({str(self.path)!r})"

    # ---- internals

    def _warn(self, message: str) -> None:
        with self._warn_lock:
            if message not in self.warnings:
                self.warnings.append(message)
                self._unreported.append(message)

    def _report(self) -> None:
        # Called with no lock held, so a callback that uses the cache cannot deadlock.
        if not self._unreported or self.on_warning is None:
            return
        with self._warn_lock:
            pending, self._unreported = self._unreported, []
        for message in pending:
            self.on_warning(message)

    def _disable(self, reason: str) -> None:
        if self._disabled is None:
            self._disabled = reason
            self._warn(
                f"completion cache {self.path} disabled for this process: {reason}; "
                "completions are not cached"
            )

    def _execute(self, operation: Callable[[sqlite3.Connection], T]) -> T | None:
        """Run ``operation`` on a pooled connection; any SQLite fault becomes a warning."""
        try:
            return self._execute_unreported(operation)
        finally:
            self._report()

    def _execute_unreported(self, operation: Callable[[sqlite3.Connection], T]) -> T | None:
        self._ensure_open()
        if self._disabled is not None:
            return None
        generation = self._generation
        try:
            try:
                conn = self._idle.pop()  # deque.pop/append are atomic: no lock needed
            except IndexError:
                conn = self._connect()
                with self._lock:
                    self._all.append(conn)
            try:
                return operation(conn)
            finally:
                if generation == self._generation:
                    self._idle.append(conn)
        except sqlite3.Error as exc:
            if _is_corruption(exc):
                # Another process may still be using the file: leave setting it aside to
                # the next run's startup check, and stop trusting it here.
                self._disable(f"the file became unreadable ({exc})")
            else:
                self._warn(f"completion cache {self.path}: {type(exc).__name__}: {exc}")
            return None

    def _ensure_open(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            if self._pid is not None:  # forked: the parent's connections are not ours
                _INHERITED.extend(self._all)
                self._all = []
                self._idle.clear()
                self._generation += 1
            self._disabled = None
            try:
                conn = self._open_checked()
            except (sqlite3.Error, OSError) as exc:
                self._disable(f"{type(exc).__name__}: {exc}")
            else:
                self._all.append(conn)
                self._idle.append(conn)
            self._pid = pid

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path),
            timeout=self.timeout,  # busy timeout: wait for other workers' writes
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Check the file and create the schema; raise DatabaseError if it is corrupt."""
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            detail = "\n".join(str(row[0]) for row in rows)
            raise _CorruptFile(f"integrity check failed: {_first_lines(detail)}")
        conn.execute("PRAGMA journal_mode=WAL")  # persistent in the file
        conn.execute(_SCHEMA)
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _prepare_dir(self) -> None:
        parent = self.path.parent
        if parent.is_dir():
            return
        try:
            parent.mkdir(parents=True)
        except FileExistsError:  # another worker won the race, or it is not a directory
            return
        try:
            (parent / ".gitignore").write_text(GITIGNORE_TEXT, encoding="utf-8")
        except OSError:
            pass  # a missing .gitignore is a nuisance, not a reason to stop caching

    def _open_and_check(self) -> sqlite3.Connection:
        """A connection to a checked file; DatabaseError if the file is corrupt."""
        conn = self._connect()  # can itself raise "file is not a database"
        try:
            self._initialise(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_checked(self) -> sqlite3.Connection:
        self._prepare_dir()
        try:
            return self._open_and_check()
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise
        with _interprocess_lock(self.path.parent):
            # Several xdist workers can find the same corrupt file at once: the first to get
            # the lock sets it aside, the others then find a healthy fresh file and must
            # not set that one aside too.
            try:
                return self._open_and_check()
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                reason = _first_lines(str(exc))
            aside = self._set_aside()
            self._warn(
                f"completion cache {self.path} is corrupt ({reason}); set aside as "
                f"{aside.name} and started a fresh cache"
            )
            return self._open_and_check()

    def _set_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime())
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        if aside.exists():
            aside = aside.with_name(f"{aside.name}-{os.getpid()}")
        os.replace(self.path, aside)
        # The WAL and shared-memory files belong to the corrupt file: a stale WAL left in
        # place could be replayed into the fresh database.
        for suffix in ("-wal", "-shm", "-journal"):
            sidecar = self.path.with_name(self.path.name + suffix)
            if sidecar.exists():
                os.replace(sidecar, aside.with_name(aside.name + suffix))
        return aside


class CachingAdapter:
    """Wraps a model adapter: a request already in the cache is served from it.

    Every completion the inner adapter returns is stored (committed) before it is handed
    on.  ``refresh=True`` ignores stored entries but still stores what it receives, so the
    cache ends up holding the fresh completions.  Errors of the inner adapter are passed on
    and never cached.  The cache belongs to the caller: :meth:`close` closes the inner
    adapter only.
    """

    def __init__(
        self,
        inner: ModelAdapter,
        cache: CompletionCache,
        *,
        identity: str | None = None,
        refresh: bool = False,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.refresh = refresh
        self.name = inner.name
        self._identity = identity
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    @property
    def identity(self) -> str:
        # Lazy: describe() may be costly (a GGUF adapter may hash its weights).
        if self._identity is None:
            with self._lock:
                if self._identity is None:
                    self._identity = adapter_identity(self.inner)
        return self._identity

    @property
    def max_concurrency(self) -> int:
        return int(getattr(self.inner, "max_concurrency", 1))

    @property
    def hits(self) -> int:
        return self._hits

    @property
    def misses(self) -> int:
        """Requests passed on to the inner adapter (failed ones included)."""
        return self._misses

    def describe(self) -> Mapping[str, Any]:
        return self.inner.describe()

    def complete(self, request: CompletionRequest) -> Completion:
        identity = self.identity
        if not self.refresh:
            hit = self.cache.get(identity, request)
            if hit is not None:
                with self._lock:
                    self._hits += 1
                return hit
        with self._lock:
            self._misses += 1
        completion = self.inner.complete(request)
        self.cache.put(identity, request, completion)
        return completion

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"CachingAdapter({self.inner!r}, {self.cache!r}, refresh={self.refresh})"
