"""Progress of a long hazard in pytest's verbose output (pytest_codexsafety.progress)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import hazard_yaml
from pytest_codexsafety.progress import DEFAULT_INTERVAL_S, TTY_DELAY_S, HazardProgress, progress_interval

RESULT_LINE = re.compile(r"^\S+\.hazard\.yaml::(\S+) (PASSED|FAILED|ERROR) +\[ *\d+%\]$")
PROGRESS_LINE = re.compile(r"^    (\S+): (\d+) of (\d+) samples \(\d+%\)$")

SLOW_MODEL = '''
import time

def complete(prompt, params):
    time.sleep(0.01)
    return "```python\\nimport ast\\n\\ndef calc(expr):\\n    return ast.literal_eval(expr)\\n```"
'''


class FakeReporter:
    """Records what the progress writes through the terminal reporter's public methods."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def ensure_newline(self) -> None:
        self.calls.append(("ensure_newline", None))

    def write(self, text: str) -> None:
        self.calls.append(("write", text))

    def rewrite(self, text: str, erase: bool = False) -> None:
        self.calls.append(("rewrite", (text, erase)))

    def flush(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_come_at_most_every_interval() -> None:
    clock, reporter = Clock(), FakeReporter()
    progress = HazardProgress(reporter, "H-1", tty=False, interval=5.0, clock=clock)
    for done in range(1, 101):
        clock.now += 0.2  # 100 samples over 20 s
        progress(done, 100)
    progress.close()
    writes = [c for c in reporter.calls if c[0] == "write"]
    # 20 s at one line per 5 s: lines at 5, 10, 15 s; none at the end (the result follows).
    assert [w[1].strip() for w in writes] == ["H-1: 25 of 100 samples (25%)", "H-1: 50 of 100 samples (50%)",
                                              "H-1: 75 of 100 samples (75%)"]
    assert reporter.calls[0] == ("ensure_newline", None)  # off pytest's own "path::ID " line
    assert all(w[1].startswith("\n    ") for w in writes[1:])


def test_a_fast_hazard_shows_nothing() -> None:
    for tty in (False, True):
        clock, reporter = Clock(), FakeReporter()
        progress = HazardProgress(reporter, "H-1", tty=tty, interval=DEFAULT_INTERVAL_S, clock=clock)
        for done in range(1, 41):
            clock.now += 0.01
            progress(done, 40)
        progress.close()
        assert reporter.calls == []


def test_on_a_terminal_one_line_is_rewritten_in_place() -> None:
    clock, reporter = Clock(), FakeReporter()
    progress = HazardProgress(reporter, "H-1", tty=True, interval=DEFAULT_INTERVAL_S, clock=clock)
    for done in range(1, 41):
        clock.now += TTY_DELAY_S / 10
        progress(done, 40)
    progress.close()
    kinds = [c[0] for c in reporter.calls]
    assert kinds[:2] == ["ensure_newline", "write"] and set(kinds[2:]) == {"rewrite"}
    assert all(erase for kind, (_, erase) in (c for c in reporter.calls if c[0] == "rewrite"))
    assert reporter.calls[-1] == ("rewrite", ("    H-1: 40 of 40 samples (100%)", True))
    assert len(kinds) < 40  # throttled


def test_a_broken_terminal_does_not_break_sampling() -> None:
    class Broken(FakeReporter):
        def write(self, text: str) -> None:
            raise OSError("terminal gone")

    clock = Clock()
    progress = HazardProgress(Broken(), "H-1", tty=False, interval=0.0, clock=clock)
    clock.now += 1
    progress(1, 10)  # no exception
    assert progress.shown == 0


@pytest.mark.parametrize("raw, expected", [
    ("", DEFAULT_INTERVAL_S), ("2.5", 2.5), ("0", 0.0), ("off", None), ("junk", DEFAULT_INTERVAL_S),
    ("-1", DEFAULT_INTERVAL_S),
])
def test_progress_interval_from_the_environment(raw: str, expected: float | None) -> None:
    assert progress_interval({"CODEXSAFETY_PROGRESS_INTERVAL": raw}) == expected


def slow_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(slowmodel=SLOW_MODEL)
    pytester.makeini("[pytest]\nhazard_model = python:slowmodel:complete\n")
    pytester.makefile(".hazard.yaml", a=hazard_yaml("SLOW-A", prompts=2, samples=3, threshold="max_rate: 0.5"))
    pytester.makefile(".hazard.yaml", b=hazard_yaml("SLOW-B", prompts=2, samples=3, threshold="max_rate: 0.5"))
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")


def test_verbose_output_shows_progress_and_stays_parseable(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    slow_project(pytester)
    monkeypatch.setenv("CODEXSAFETY_PROGRESS_INTERVAL", "0")  # a line per sample
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hazard-cache=off", "-v")
    result.assert_outcomes(passed=3)
    lines = result.outlines
    results = [m.groups() for m in map(RESULT_LINE.match, lines) if m]
    assert results == [("SLOW-A", "PASSED"), ("SLOW-B", "PASSED")]
    progress = [m.groups() for m in map(PROGRESS_LINE.match, lines) if m]
    assert [p for p in progress if p[0] == "SLOW-A"] == [("SLOW-A", str(n), "6") for n in range(1, 6)]
    assert {p[0] for p in progress} == {"SLOW-A", "SLOW-B"}
    # Each hazard's progress sits between its start line and its (whole) result line.
    start = lines.index("a.hazard.yaml::SLOW-A ")
    end = next(i for i, line in enumerate(lines) if line.startswith("a.hazard.yaml::SLOW-A PASSED"))
    assert all(PROGRESS_LINE.match(line) for line in lines[start + 1:end])
    assert any(re.match(r"^test_plain\.py::test_ok PASSED +\[100%\]$", line) for line in lines)


def test_without_verbose_nothing_is_added(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_project(pytester)
    monkeypatch.setenv("CODEXSAFETY_PROGRESS_INTERVAL", "0")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hazard-cache=off")
    result.assert_outcomes(passed=3)
    assert not any(PROGRESS_LINE.match(line) for line in result.outlines)
    result.stdout.fnmatch_lines(["a.hazard.yaml .*", "b.hazard.yaml .*", "test_plain.py .*"])


def test_xdist_output_is_unaffected(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    slow_project(pytester)
    monkeypatch.setenv("CODEXSAFETY_PROGRESS_INTERVAL", "0")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hazard-cache=off", "-v", "-n", "2")
    result.assert_outcomes(passed=3)
    assert not any(PROGRESS_LINE.match(line) for line in result.outlines)
    assert not any("samples (" in line for line in result.outlines)
    worker_lines = [line for line in result.outlines if re.match(r"^\[gw[01]\] \[ *\d+%\] PASSED ", line)]
    assert len(worker_lines) == 3
