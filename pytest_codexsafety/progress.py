"""Samples done and planned for a long hazard, in pytest's verbose output (``-v``).

pytest writes ``path::ID `` when an item starts and ``PASSED [ 50%]`` when it ends; a
hazard samples in between, sometimes for minutes.  Progress goes on a line of its own
under the item's line, the way live logging does it: pytest's reporter then starts a new
line and writes ``path::ID PASSED [ 50%]`` again in full, so every result line stays
whole and parseable.  (Appending to pytest's own line would corrupt the width pytest
measures to place ``[ 50%]``.)

* On a terminal (a TTY) the one progress line is rewritten in place, at most every
  :data:`TTY_REFRESH_S` seconds, once the hazard has run for :data:`TTY_DELAY_S`.
* Elsewhere (CI logs) a plain line is written at most every ``interval`` seconds
  (environment variable ``CODEXSAFETY_PROGRESS_INTERVAL``, default
  :data:`DEFAULT_INTERVAL_S`; ``off`` disables it), so a log gets a few lines per slow
  hazard and a fast hazard none.
* Under pytest-xdist the worker that samples has no terminal (the controller prints
  ``[gw0] PASSED ...`` lines of its own), so nothing is shown there.  Without ``-v``
  nothing is shown either.

Output goes through the terminal reporter with capturing suspended (the capture
manager's ``global_and_fixture_disabled``), as pytest's live logging does.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable, ContextManager, Iterator

import pytest

__all__ = ["DEFAULT_INTERVAL_S", "HazardProgress", "hazard_progress", "progress_interval"]

DEFAULT_INTERVAL_S = 10.0
TTY_DELAY_S = 1.0
TTY_REFRESH_S = 0.25
ENV = "CODEXSAFETY_PROGRESS_INTERVAL"


def progress_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between plain progress lines (None: off); bad values fall back to the default."""
    raw = (environ if environ is not None else dict(os.environ)).get(ENV, "").strip().lower()
    if raw in ("off", "none", "no", "false"):
        return None
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value >= 0 else DEFAULT_INTERVAL_S


class HazardProgress:
    """The ``progress(done, planned)`` callback of one hazard item."""

    def __init__(self, reporter: Any, hazard_id: str, *, tty: bool, interval: float,
                 suspend_capture: Callable[[], ContextManager[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reporter = reporter
        self.hazard_id = hazard_id
        self.tty = tty
        self.interval = interval
        self._suspend = suspend_capture
        self._clock = clock
        self._started = clock()
        self._last: float | None = None
        self._latest: tuple[int, int] | None = None
        self.shown = 0  # how many times progress was written

    def text(self, done: int, planned: int) -> str:
        share = f" ({done * 100 // planned}%)" if planned else ""
        return f"    {self.hazard_id}: {done} of {planned} samples{share}"

    def __call__(self, done: int, planned: int) -> None:
        self._latest = (done, planned)
        now = self._clock()
        if self.tty:
            due = (now - self._started >= TTY_DELAY_S
                   and (self._last is None or now - self._last >= TTY_REFRESH_S or done >= planned))
        else:
            since = self._started if self._last is None else self._last
            due = now - since >= self.interval and done < planned
        if due:
            self._last = now
            self._write(self.text(done, planned))

    def close(self) -> None:
        """On a terminal, leave the progress line at its final count."""
        if self.tty and self.shown and self._latest is not None:
            self._write(self.text(*self._latest))

    def _write(self, text: str) -> None:
        context = self._suspend() if self._suspend is not None else contextlib.nullcontext()
        try:
            with context:
                if not self.shown:
                    # Off pytest's "path::ID " line: the reporter rewrites it with the result,
                    # after ending the progress line.
                    self.reporter.ensure_newline()
                    self.reporter.write(text)
                elif self.tty:
                    self.reporter.rewrite(text, erase=True)
                else:
                    self.reporter.write("\n" + text)
                self.reporter.flush()
        except (OSError, ValueError):  # a closed or broken terminal must not cost the hazard
            return
        self.shown += 1


@contextlib.contextmanager
def hazard_progress(item: pytest.Item, hazard_id: str) -> Iterator[HazardProgress | None]:
    """The progress callback for ``item`` (None when nothing should be shown)."""
    config = item.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    interval = progress_interval()
    if (reporter is None or hasattr(config, "workerinput") or int(config.getoption("verbose", 0) or 0) < 1
            or interval is None):
        yield None
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    suspend = getattr(capman, "global_and_fixture_disabled", None)
    progress = HazardProgress(reporter, hazard_id, tty=bool(getattr(reporter, "isatty", False)),
                              interval=interval, suspend_capture=suspend)
    try:
        yield progress
    finally:
        progress.close()
