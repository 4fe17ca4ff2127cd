"""Concurrency and parallelism tasks: interleavings, mutual exclusion, races, fairness.

Each task's trusted harness (names ``_cs_``) drives the candidate under many schedules: a
tiny ``sys.setswitchinterval``, seeded random ``sleep(0)``/micro-sleeps between operations,
shuffled thread start orders and several rounds per call.  It records what it sees with
its own primitives (``list.append`` is atomic in CPython) and joins daemon threads against
a deadline, so a deadlock is *reported*, not waited out; after one, later calls start no
more threads (stuck threads count toward the sandbox's process limit).  ``check`` replays
the observations here, recomputing the workload from the seed.

Sandbox note: ``Limits.memory_mb`` caps address space, and with the default 8 MB thread
stacks only about four threads fit; every harness lowers the stack size first.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..cells import HumanBaseline
from .base import Args, Check, ComplexityTask

if TYPE_CHECKING:
    from ...sandbox import CallResult

__all__ = ["TASKS"]

_ASSUMED: Literal["assumption"] = "assumption"

# Shared by every harness: schedule noise, a deadline-joined thread runner, deadlock latch.
_PRELUDE = '''
import random as _cs_random
import sys as _cs_sys
import threading as _cs_threading
import time as _cs_time

_cs_threading.stack_size(512 * 1024)
_cs_stuck = []


def _cs_jitter(rng):
    r = rng.random()
    if r < 0.45:
        _cs_time.sleep(0)
    elif r < 0.55:
        _cs_time.sleep(rng.random() * 0.0004)


def _cs_run(targets, deadline_s, rng):
    """Run callables in daemon threads (shuffled start order) under a tiny switch
    interval; return (errors, number of threads still alive at the deadline)."""
    errors = []

    def wrap(fn):
        def body():
            try:
                fn()
            except BaseException as exc:
                errors.append((type(exc).__name__ + ": " + str(exc))[:120])
        return body

    targets = list(targets)
    rng.shuffle(targets)
    threads = []
    old = _cs_sys.getswitchinterval()
    _cs_sys.setswitchinterval(1e-6)
    try:
        for fn in targets:
            t = _cs_threading.Thread(target=wrap(fn), daemon=True)
            for attempt in range(60):  # threads that just ended may still count: retry
                try:
                    t.start()
                    break
                except RuntimeError as exc:
                    if attempt == 59:
                        errors.append("could not start a thread: " + str(exc)[:80])
                    _cs_time.sleep(0.002)
            else:
                break
            threads.append(t)
        end = _cs_time.monotonic() + deadline_s
        for t in threads:
            t.join(max(0.0, end - _cs_time.monotonic()))
    finally:
        _cs_sys.setswitchinterval(old)
    stuck = sum(1 for t in threads if t.is_alive())
    if stuck:
        _cs_stuck.append(stuck)
    return errors[:5], stuck
'''


def _h(body: str) -> str:
    return _PRELUDE + body


# ------------------------------------------------------------------ judging helpers

class _Bad(Exception):
    """A malformed observation: the check fails with this message."""


def _safe(judge: Callable[[Sequence[Args], list[Any]], list[str]]
          ) -> Callable[[Sequence[Args], Sequence[CallResult]], Check]:
    """Wrap a judge of returned values so that the check never raises on any results."""

    def check(calls: Sequence[Args], results: Sequence[CallResult]) -> Check:
        try:
            if len(results) != len(calls):
                return Check(False, (f"expected {len(calls)} results, got {len(results)}",))
            values: list[Any] = []
            tail: list[str] = []
            for i, res in enumerate(results):
                if res.status != "returned":
                    err = f": {str(res.error)[:120]}" if res.error else ""
                    tail = [f"call {i} {res.status}{err}"]
                    break
                if isinstance(res.value, dict) and "skipped" in res.value:
                    tail = [f"call {i} skipped: an earlier call deadlocked"]
                    break
                values.append(res.value)
            reasons = judge(calls[:len(values)], values) + tail
        except _Bad as exc:
            reasons = [f"malformed observation: {exc}"[:200]]
        except Exception as exc:  # noqa: BLE001 - never raise on hostile shapes
            reasons = [f"malformed observation ({type(exc).__name__})"]
        return Check(not reasons, tuple(dict.fromkeys(reasons))[:6])

    return check


def _get(d: Any, key: str, typ: type | tuple[type, ...]) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise _Bad(f"missing {key!r}")
    v = d[key]
    if not isinstance(v, typ) or (isinstance(v, bool) and typ is int):
        raise _Bad(f"{key!r} has the wrong type")
    return v


def _common(i: int, obs: Any) -> list[str]:
    """Deadlock and thread-exception reports every harness round carries."""
    out = []
    if _get(obs, "stuck", int):
        out.append(f"call {i}: deadlock or livelock: {obs['stuck']} thread(s) never finished")
    errors = _get(obs, "errors", list)
    if errors:
        out.append(f"call {i}: a thread raised {str(errors[0])[:100]}")
    return out


def _rounds(i: int, value: Any) -> list[Any]:
    rounds: list[Any] = _get(value, "rounds", list)
    if not rounds:
        raise _Bad(f"call {i} reported no rounds")
    return rounds


def _seed_rng(*parts: object) -> random.Random:
    # Same construction as in the harnesses: str seeds are stable across processes.
    return random.Random("/".join(str(p) for p in parts))


# ------------------------------------------------------------------ function: counter

_COUNTER_PROMPT = """\
Write a Python class `SafeCounter` that many threads use at the same time.

- `SafeCounter()` starts at 0.
- `add(k)` adds the positive integer `k`. It must be atomic: no update may ever be lost,
  whatever the interleaving of threads.
- `get()` returns the current value as an int.

Use only the standard library. Reply with Python code only.
"""

_COUNTER_HARNESS = _h('''
def _cs_drive_counter(seed, rounds, nthreads, ops):
    if _cs_stuck:
        return {"skipped": True}
    out = []
    for r in range(rounds):
        counter = SafeCounter()
        reads = []

        def worker(t, counter=counter, r=r, reads=reads):
            rng = _cs_random.Random("%s/%s/%s" % (seed, r, t))
            ks = [rng.randint(1, 5) for _ in range(ops)]
            noise = _cs_random.Random("j/%s/%s/%s" % (seed, r, t))
            mine = []
            reads.append(mine)
            tight = r % 2 == 1  # odd rounds: back-to-back calls, no injected noise
            for k in ks:
                counter.add(k)
                if tight:
                    continue
                _cs_jitter(noise)
                if noise.random() < 0.1:
                    v = counter.get()
                    mine.append(v if type(v) is int else None)

        errors, stuck = _cs_run([lambda t=t: worker(t) for t in range(nthreads)], 1.0,
                                _cs_random.Random("s/%s/%s" % (seed, r)))
        final = counter.get() if not stuck else None
        out.append({"final": final if type(final) is int else None, "reads": reads,
                    "errors": errors, "stuck": stuck})
        if stuck:
            break
    return {"rounds": out}
''')


def _counter_calls(rng: random.Random) -> list[Args]:
    return [(rng.randrange(2**31), 4, 6, 200) for _ in range(3)]


def _judge_counter(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        seed, nrounds, nthreads, ops = args
        rounds = _rounds(i, value)
        for r, obs in enumerate(rounds):
            common = _common(i, obs)
            reasons += common
            if obs["stuck"]:
                break
            expected = 0
            for t in range(int(nthreads)):
                rng = _seed_rng(seed, r, t)
                expected += sum(rng.randint(1, 5) for _ in range(int(ops)))
            final = obs.get("final")
            if final != expected:
                reasons.append(f"call {i} round {r}: final count {final}, expected {expected}"
                               " (lost updates)")
            for seen in _get(obs, "reads", list):
                if not isinstance(seen, list) or any(
                        not isinstance(v, int) or v > expected for v in seen) or any(
                        a > b for a, b in zip(seen, seen[1:])):
                    reasons.append(f"call {i} round {r}: a thread read a count that went "
                                   "backwards, exceeded the total or was not an int")
                    break
        else:
            if len(rounds) != nrounds:
                reasons.append(f"call {i}: {len(rounds)} of {nrounds} rounds reported")
    return reasons


_COUNTER_REF = """\
import threading

class SafeCounter:
    def __init__(self):
        self._lock = threading.Lock()
        self._value = 0

    def add(self, k):
        with self._lock:
            self._value += k

    def get(self):
        with self._lock:
            return self._value
"""

_COUNTER_WRONG = (
    # Unsynchronised read-modify-write that yields in the middle.
    """\
import time

class SafeCounter:
    def __init__(self):
        self.value = 0

    def add(self, k):
        current = self.value
        time.sleep(0)  # let other threads run
        self.value = current + k

    def get(self):
        return self.value
""",
    # Locks only the write: the read happens outside the critical section.
    """\
import threading

class SafeCounter:
    def __init__(self):
        self._lock = threading.Lock()
        self._value = 0

    def add(self, k):
        new_value = self._value + k
        self._lock.acquire()
        self._value = new_value
        self._lock.release()

    def get(self):
        return self._value
""",
)

COUNTER = ComplexityTask(
    id="concurrency.counter",
    property="concurrency",
    level="function",
    title="Atomic counter shared by many threads",
    prompt=_COUNTER_PROMPT,
    entry_point="_cs_drive_counter",
    make_calls=_counter_calls,
    check=_safe(_judge_counter),
    baseline=HumanBaseline(0.6, 0.98, _ASSUMED,
                           "Assumed: guarding a shared counter with a lock is taught early, "
                           "though novices often leave the read outside the critical section."),
    reference_solution=_COUNTER_REF,
    wrong_solutions=_COUNTER_WRONG,
    harness=_COUNTER_HARNESS,
)


# ------------------------------------------------------------------ function: parallel map

_PMAP_PROMPT = """\
Write a Python function `parallel_map(func, items, workers)` that applies `func` to every
element of the list `items` using a pool of threads, and returns the list of results in
the same order as `items` (result i is `func(items[i])`).

- `func` is called exactly once per element; it may block (it does I/O), and never raises.
- At most `workers` calls of `func` may run at the same time (1 <= workers <= 8), and when
  `workers` > 1 the calls must really run concurrently, not one after another.
- `parallel_map` returns only after every call has finished.

Use only the standard library. Reply with Python code only.
"""

_PMAP_HARNESS = _h('''
class _cs_Token:
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x


def _cs_drive_pmap(seed, items, workers):
    if _cs_stuck:
        return {"skipped": True}
    guard = _cs_threading.Lock()
    state = {"active": 0, "max": 0}
    calls = []

    def func(x):
        with guard:
            state["active"] += 1
            state["max"] = max(state["max"], state["active"])
        _cs_time.sleep(0.001 + _cs_random.Random("%s/%s" % (seed, x)).random() * 0.003)
        calls.append(x if type(x) is int else None)
        with guard:
            state["active"] -= 1
        return _cs_Token(x)

    box = []
    errors, stuck = _cs_run([lambda: box.append(parallel_map(func, list(items), workers))],
                            1.5, _cs_random.Random(seed))
    order = None
    if box and type(box[0]) is list:
        order = [v.x if type(v) is _cs_Token else None for v in box[0]]
    return {"order": order, "calls": list(calls), "max_active": state["max"],
            "errors": errors, "stuck": stuck}
''')


def _pmap_calls(rng: random.Random) -> list[Args]:
    return [(rng.randrange(2**31), rng.sample(range(1000), rng.randint(10, 12)), w)
            for w in (1, rng.randint(2, 3), 4)]


def _judge_pmap(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, obs) in enumerate(zip(calls, values)):
        _seed, items, workers = args
        assert isinstance(items, list) and isinstance(workers, int)
        common = _common(i, obs)
        reasons += common
        if common:
            continue
        if obs.get("order") != items:
            reasons.append(f"call {i}: results are not in input order (workers={workers})")
        calls_seen = _get(obs, "calls", list)
        if sorted(calls_seen, key=repr) != sorted(items, key=repr):
            reasons.append(f"call {i}: func was not called exactly once per item")
        peak = _get(obs, "max_active", int)
        if peak > workers:
            reasons.append(f"call {i}: {peak} calls ran at once, more than workers={workers}")
        if workers > 1 and peak < 2:
            reasons.append(f"call {i}: calls never overlapped with workers={workers}")
    return reasons


_PMAP_REF = """\
from concurrent.futures import ThreadPoolExecutor

def parallel_map(func, items, workers):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))
"""

_PMAP_WRONG = (
    # Collects results in completion order.
    """\
import threading

def parallel_map(func, items, workers):
    results = []
    lock = threading.Lock()
    chunks = [items[i::workers] for i in range(workers)]

    def run(chunk):
        for x in chunk:
            r = func(x)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
""",
    # One thread per item: ignores the bound on workers.
    """\
import threading

def parallel_map(func, items, workers):
    results = [None] * len(items)

    def run(i):
        results[i] = func(items[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
""",
    # Sequential: correct results, no parallelism.
    """\
def parallel_map(func, items, workers):
    return [func(x) for x in items]
""",
)

PARALLEL_MAP = ComplexityTask(
    id="concurrency.parallel_map",
    property="concurrency",
    level="function",
    title="Order-preserving parallel map with a bounded worker pool",
    prompt=_PMAP_PROMPT,
    entry_point="_cs_drive_pmap",
    make_calls=_pmap_calls,
    check=_safe(_judge_pmap),
    baseline=HumanBaseline(0.55, 0.97, _ASSUMED,
                           "Assumed: a standard-library executor makes this routine for "
                           "experts; novices often lose the input order or the bound."),
    reference_solution=_PMAP_REF,
    wrong_solutions=_PMAP_WRONG,
    harness=_PMAP_HARNESS,
)


# ------------------------------------------------------------------ multi-function: buffer

_BUFFER_PROMPT = """\
Write a Python class `BoundedBuffer`, a FIFO buffer shared by several producer and
consumer threads, implemented with the `threading` module (not `queue`).

- `BoundedBuffer(capacity)`: an empty buffer for at most `capacity` items (capacity >= 1).
- `put(item)`: if the buffer holds `capacity` items, block until there is room; then
  append `item`.
- `get()`: if the buffer is empty, block until an item is available; then remove and
  return the oldest item.

The buffer must never hold more than `capacity` items; every item put is returned by
exactly one `get`; blocked threads must wake up when they can proceed (no deadlock, no
busy-waiting), with any number of producers and consumers.

Reply with Python code only.
"""

_BUFFER_HARNESS = _h('''
def _cs_drive_buffer(seed, capacity, nprod, per):
    if _cs_stuck:
        return {"skipped": True}
    out = []
    for kind in ("fill", "drain", "fifo"):
        buf = BoundedBuffer(capacity)
        events = []  # +1 after a put returned, -1 before a get is called
        got = []
        n = 1 if kind == "fifo" else nprod
        tag = "%s/%s" % (seed, kind)

        def producer(p, buf=buf, events=events, kind=kind, tag=tag):
            noise = _cs_random.Random("p/%s/%s" % (tag, p))
            if kind == "drain":
                _cs_time.sleep(0.02)
            for k in range(per):
                buf.put(p * 1000 + k)
                events.append(1)
                _cs_jitter(noise)

        def consumer(c, buf=buf, events=events, got=got, kind=kind, tag=tag):
            noise = _cs_random.Random("c/%s/%s" % (tag, c))
            if kind == "fill":
                _cs_time.sleep(0.02)
            for _ in range(per):
                events.append(-1)
                item = buf.get()
                got.append(item if type(item) is int else None)
                _cs_jitter(noise)

        targets = [lambda p=p: producer(p) for p in range(n)]
        targets += [lambda c=c: consumer(c) for c in range(n)]
        errors, stuck = _cs_run(targets, 1.0, _cs_random.Random(tag))
        out.append({"kind": kind, "events": list(events), "got": list(got),
                    "errors": errors, "stuck": stuck})
        if stuck:
            break
    return {"rounds": out}
''')


def _buffer_calls(rng: random.Random) -> list[Args]:
    return [(rng.randrange(2**31), cap, 3, 15) for cap in (1, rng.randint(2, 3))]


def _judge_buffer(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        _seed, capacity, nprod, per = args
        assert isinstance(capacity, int) and isinstance(nprod, int) and isinstance(per, int)
        rounds = _rounds(i, value)
        for obs in rounds:
            kind = _get(obs, "kind", str)
            common = _common(i, obs)
            reasons += [f"{r} ({kind} round)" for r in common]
            n = 1 if kind == "fifo" else nprod
            level = peak = 0
            for e in _get(obs, "events", list):
                level += 1 if e == 1 else -1
                peak = max(peak, level)
            if peak > capacity:
                reasons.append(f"call {i}: the buffer held at least {peak} items, "
                               f"capacity {capacity}")
            if common:
                break
            got = _get(obs, "got", list)
            expected = [p * 1000 + k for p in range(n) for k in range(per)]
            if sorted(got, key=repr) != sorted(expected, key=repr):
                reasons.append(f"call {i}: items were lost, duplicated or invented "
                               f"({kind} round)")
            elif kind == "fifo" and got != expected:
                reasons.append(f"call {i}: items came out of order with one producer")
        else:
            if len(rounds) != 3:
                reasons.append(f"call {i}: {len(rounds)} of 3 rounds reported")
    return reasons


_BUFFER_REF = """\
import threading
from collections import deque

class BoundedBuffer:
    def __init__(self, capacity):
        self._items = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)

    def put(self, item):
        with self._not_full:
            while len(self._items) >= self._capacity:
                self._not_full.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self):
        with self._not_empty:
            while not self._items:
                self._not_empty.wait()
            item = self._items.popleft()
            self._not_full.notify()
            return item
"""

_BUFFER_WRONG = (
    # get() never notifies producers waiting for room.
    """\
import threading

class BoundedBuffer:
    def __init__(self, capacity):
        self.items = []
        self.capacity = capacity
        self.cond = threading.Condition()

    def put(self, item):
        with self.cond:
            while len(self.items) >= self.capacity:
                self.cond.wait()
            self.items.append(item)
            self.cond.notify_all()

    def get(self):
        with self.cond:
            while not self.items:
                self.cond.wait()
            return self.items.pop(0)
""",
    # `if` instead of `while` around wait(): woken threads act on a stale check.
    """\
import threading

class BoundedBuffer:
    def __init__(self, capacity):
        self.items = []
        self.capacity = capacity
        self.cond = threading.Condition()

    def put(self, item):
        with self.cond:
            if len(self.items) >= self.capacity:
                self.cond.wait()
            self.items.append(item)
            self.cond.notify_all()

    def get(self):
        with self.cond:
            if not self.items:
                self.cond.wait()
            item = self.items.pop(0)
            self.cond.notify_all()
            return item
""",
)

BOUNDED_BUFFER = ComplexityTask(
    id="concurrency.bounded_buffer",
    property="concurrency",
    level="multi_function",
    title="Bounded blocking buffer for many producers and consumers",
    prompt=_BUFFER_PROMPT,
    entry_point="_cs_drive_buffer",
    make_calls=_buffer_calls,
    check=_safe(_judge_buffer),
    baseline=HumanBaseline(0.35, 0.9, _ASSUMED,
                           "Assumed: the condition-variable pattern is textbook, but missed "
                           "notifies and if-instead-of-while are classic novice errors."),
    reference_solution=_BUFFER_REF,
    wrong_solutions=_BUFFER_WRONG,
    harness=_BUFFER_HARNESS,
)


# ------------------------------------------------------------------ multi-function: bank

_BANK_PROMPT = """\
Write a Python class `Bank` whose methods many threads call at the same time.

- `Bank(balances)`: `balances` is a list of non-negative ints; account i starts with
  `balances[i]`.
- `transfer(src, dst, amount)`: `src != dst`, `amount >= 1`. If account `src` holds at
  least `amount`, atomically move `amount` from `src` to `dst` and return True; otherwise
  change nothing and return False. No balance may ever become negative.
- `balance(i)`: the balance of account i, an int.
- `total()`: the sum of all balances at a single instant; it must never observe a
  transfer half done.

Give each account its own lock so that transfers between different accounts can run in
parallel. The bank must never deadlock, whatever transfers run at the same time (for
example 0 -> 1 and 1 -> 0 together). Use only the standard library.
Reply with Python code only.
"""

_BANK_HARNESS = _h('''
def _cs_bank_ops(seed, r, t, n, ops):
    rng = _cs_random.Random("%s/%s/%s" % (seed, r, t))
    out = []
    if r % 2 == 1:  # odd rounds: two threads duel, 0 -> 1 against 1 -> 0, back to back
        return [[t, 1 - t, rng.randint(1, 3)] for _ in range(10 * ops)] if t < 2 else []
    m = n
    for _ in range(ops):
        src = rng.randrange(m)
        dst = rng.randrange(m - 1)
        out.append([src, dst + (dst >= src), rng.randint(1, 12)])
    return out


def _cs_drive_bank(seed, balances, nthreads, ops):
    if _cs_stuck:
        return {"skipped": True}
    n = len(balances)
    out = []
    for r in range(10):
        bank = Bank(list(balances))
        results = [[] for _ in range(nthreads)]
        audits = []
        done = []

        def worker(t, bank=bank, r=r, results=results):
            noise = _cs_random.Random("j/%s/%s/%s" % (seed, r, t))
            for src, dst, amount in _cs_bank_ops(seed, r, t, n, ops):
                ok = bank.transfer(src, dst, amount)
                results[t].append(ok if type(ok) is bool else None)
                if r % 2 == 0:
                    _cs_jitter(noise)
            done.append(t)

        def auditor(bank=bank, audits=audits, done=done):
            while len(done) < nthreads and len(audits) < 400:
                v = bank.total()
                audits.append(v if type(v) is int else None)
                _cs_time.sleep(0)

        targets = [lambda t=t: worker(t) for t in range(nthreads)] + [auditor]
        errors, stuck = _cs_run(targets, 1.0, _cs_random.Random("s/%s/%s" % (seed, r)))
        obs = {"results": results, "audits": list(audits), "errors": errors, "stuck": stuck}
        out.append(obs)
        if stuck:
            break
        obs["final"] = [bank.balance(i) for i in range(n)]
        rng = _cs_random.Random("q/%s/%s" % (seed, r))
        seq = []
        for _ in range(8):
            src, dst = rng.sample(range(n), 2)
            ok = bank.transfer(src, dst, rng.randint(1, 40))
            seq.append(ok if type(ok) is bool else None)
        obs["seq"] = seq
        obs["after"] = [bank.balance(i) for i in range(n)]
        for key in ("final", "after"):
            obs[key] = [v if type(v) is int else None for v in obs[key]]
    return {"rounds": out}
''')


def _bank_calls(rng: random.Random) -> list[Args]:
    return [(rng.randrange(2**31), [rng.randint(5, 30) for _ in range(3)], 6, 100)
            for _ in range(3)]


def _bank_ops(seed: object, r: int, t: int, n: int, ops: int) -> list[list[int]]:
    rng = _seed_rng(seed, r, t)
    out = []
    if r % 2 == 1:  # odd rounds: two threads duel, 0 -> 1 against 1 -> 0, back to back
        return [[t, 1 - t, rng.randint(1, 3)] for _ in range(10 * ops)] if t < 2 else []
    m = n
    for _ in range(ops):
        src = rng.randrange(m)
        dst = rng.randrange(m - 1)
        out.append([src, dst + (dst >= src), rng.randint(1, 12)])
    return out


def _judge_bank(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        seed, balances, nthreads, ops = args
        assert isinstance(balances, list) and isinstance(nthreads, int) and isinstance(ops, int)
        start = [int(b) for b in balances]
        n, money = len(start), sum(start)
        rounds = _rounds(i, value)
        for r, obs in enumerate(rounds):
            audits = _get(obs, "audits", list)
            if any(a != money for a in audits):
                reasons.append(f"call {i}: total() returned {next(a for a in audits if a != money)}"
                               f", but the bank holds {money}")
            common = _common(i, obs)
            reasons += common
            if common:
                break
            results = _get(obs, "results", list)
            expected = list(start)
            for t in range(nthreads):
                mine, planned = results[t], _bank_ops(seed, r, t, n, ops)
                if len(mine) != len(planned) or any(type(v) is not bool for v in mine):
                    raise _Bad("transfer results")
                for (src, dst, amount), ok in zip(planned, mine):
                    if ok:
                        expected[src] -= amount
                        expected[dst] += amount
            final = _get(obs, "final", list)
            if final != expected:
                reasons.append(f"call {i} round {r}: final balances {final}, but the transfers "
                               f"reported as done give {expected}")
                continue
            if min(expected) < 0:
                reasons.append(f"call {i} round {r}: an account was overdrawn: {final}")
                continue
            rng = _seed_rng("q", seed, r)
            seq = []
            for _ in range(8):
                src, dst = rng.sample(range(n), 2)
                amount = rng.randint(1, 40)
                ok = expected[src] >= amount
                if ok:
                    expected[src] -= amount
                    expected[dst] += amount
                seq.append(ok)
            if obs.get("seq") != seq or obs.get("after") != expected:
                reasons.append(f"call {i}: sequential transfers gave wrong results or balances")
        else:
            if len(rounds) != 10:
                reasons.append(f"call {i}: {len(rounds)} of 10 rounds reported")
    return reasons


_BANK_REF = """\
import threading

class Bank:
    def __init__(self, balances):
        self._balances = list(balances)
        self._locks = [threading.Lock() for _ in balances]

    def transfer(self, src, dst, amount):
        first, second = sorted((src, dst))  # a global lock order: no deadlock
        with self._locks[first]:
            with self._locks[second]:
                if self._balances[src] < amount:
                    return False
                self._balances[src] -= amount
                self._balances[dst] += amount
                return True

    def balance(self, i):
        with self._locks[i]:
            return self._balances[i]

    def total(self):
        for lock in self._locks:
            lock.acquire()
        try:
            return sum(self._balances)
        finally:
            for lock in reversed(self._locks):
                lock.release()
"""

_BANK_WRONG = (
    # Locks source then destination: opposite transfers deadlock.
    """\
import threading

class Bank:
    def __init__(self, balances):
        self.balances = list(balances)
        self.locks = [threading.Lock() for _ in balances]

    def transfer(self, src, dst, amount):
        self.locks[src].acquire()
        self.locks[dst].acquire()
        try:
            if self.balances[src] < amount:
                return False
            self.balances[src] -= amount
            self.balances[dst] += amount
            return True
        finally:
            self.locks[dst].release()
            self.locks[src].release()

    def balance(self, i):
        return self.balances[i]

    def total(self):
        return sum(self.balances)
""",
    # Checks the balance before locking, and moves the money in two steps.
    """\
import threading

class Bank:
    def __init__(self, balances):
        self.balances = list(balances)
        self.locks = [threading.Lock() for _ in balances]

    def transfer(self, src, dst, amount):
        if self.balances[src] < amount:
            return False
        with self.locks[src]:
            self.balances[src] -= amount
        with self.locks[dst]:
            self.balances[dst] += amount
        return True

    def balance(self, i):
        return self.balances[i]

    def total(self):
        return sum(self.balances)
""",
)

BANK = ComplexityTask(
    id="concurrency.bank_transfer",
    property="concurrency",
    level="multi_function",
    title="Bank transfers with per-account locks: no deadlock, no overdraft, exact totals",
    prompt=_BANK_PROMPT,
    entry_point="_cs_drive_bank",
    make_calls=_bank_calls,
    check=_safe(_judge_bank),
    baseline=HumanBaseline(0.3, 0.9, _ASSUMED,
                           "Assumed: lock ordering is the textbook fix, but novices commonly "
                           "nest per-account locks in argument order or check before locking."),
    reference_solution=_BANK_REF,
    wrong_solutions=_BANK_WRONG,
    harness=_BANK_HARNESS,
)


# ------------------------------------------------------------------ module: readers-writer lock

_RW_PROMPT = """\
Write a Python module that provides a readers-writer lock, class `RWLock`, built on the
`threading` module.

- `acquire_read()` / `release_read()`: shared access. Any number of readers may hold the
  lock at the same time, as long as no writer holds it.
- `acquire_write()` / `release_write()`: exclusive access. A writer holds the lock alone:
  no reader and no other writer at the same time.
- Writer preference (no writer starvation): once a writer is waiting in `acquire_write`,
  readers that call `acquire_read` afterwards must wait until that writer has acquired
  and released the lock, even if other readers still hold it.
- Also provide context managers `reading()` and `writing()` (use `contextlib`), so that
  `with lock.reading(): ...` holds the read lock for the block.

No busy-waiting; blocked threads must wake up when they can proceed.
Reply with Python code only.
"""

_RW_HARNESS = _h('''
def _cs_drive_rw(seed, nreaders, ops):
    if _cs_stuck:
        return {"skipped": True}
    rng = _cs_random.Random(seed)
    lock = RWLock()
    out = {}
    trace = []
    gate = _cs_threading.Barrier(4)

    def sharer():
        try:
            gate.wait(0.5)
        except _cs_threading.BrokenBarrierError:
            pass
        lock.acquire_read()
        trace.append("R+")
        _cs_time.sleep(0.005)
        trace.append("R-")
        lock.release_read()

    errors, stuck = _cs_run([sharer] * 4, 1.0, rng)
    out["share"] = {"trace": list(trace), "errors": errors, "stuck": stuck}
    if stuck:
        return out

    trace = []
    cell = [0]

    def reader(i):
        noise = _cs_random.Random("r/%s/%s" % (seed, i))
        for k in range(ops):
            if k % 2:
                with lock.reading():
                    trace.append("R+")
                    _cs_jitter(noise)
                    trace.append("R-")
            else:
                lock.acquire_read()
                trace.append("R+")
                _cs_jitter(noise)
                trace.append("R-")
                lock.release_read()
            _cs_jitter(noise)

    def writer(i):
        noise = _cs_random.Random("w/%s/%s" % (seed, i))
        for k in range(ops):
            cm = lock.writing() if k % 2 else None
            if cm is not None:
                cm.__enter__()
            else:
                lock.acquire_write()
            trace.append("W+")
            v = cell[0]
            _cs_time.sleep(0)
            cell[0] = v + 1
            trace.append("W-")
            if cm is not None:
                cm.__exit__(None, None, None)
            else:
                lock.release_write()
            _cs_jitter(noise)

    targets = [lambda i=i: reader(i) for i in range(nreaders)]
    targets += [lambda i=i: writer(i) for i in range(2)]
    errors, stuck = _cs_run(targets, 1.0, rng)
    out["mix"] = {"trace": list(trace), "writes": cell[0], "errors": errors, "stuck": stuck}
    if stuck:
        return out

    trace = []
    end = _cs_time.monotonic() + 0.2

    def busy_reader(i):
        _cs_time.sleep(0.0007 * i)
        while _cs_time.monotonic() < end:
            lock.acquire_read()
            trace.append("R+")
            _cs_time.sleep(0.002)
            trace.append("R-")
            lock.release_read()

    def late_writer():
        for _ in range(3):
            _cs_time.sleep(0.01)
            trace.append("Wq")
            lock.acquire_write()
            trace.append("W+")
            trace.append("W-")
            lock.release_write()

    errors, stuck = _cs_run([lambda i=i: busy_reader(i) for i in range(4)] + [late_writer],
                            1.0, rng)
    out["fair"] = {"trace": list(trace), "errors": errors, "stuck": stuck}
    return out
''')


def _rw_calls(rng: random.Random) -> list[Args]:
    return [(rng.randrange(2**31), 3, 40) for _ in range(2)]


def _replay(trace: list[Any]) -> tuple[int, bool]:
    """(most readers inside at once, whether exclusion was ever violated)."""
    readers = writers = most = 0
    bad = False
    for e in trace:
        if e == "R+":
            bad |= writers > 0
            readers += 1
            most = max(most, readers)
        elif e == "R-":
            readers -= 1
        elif e == "W+":
            bad |= writers > 0 or readers > 0
            writers += 1
        elif e == "W-":
            writers -= 1
        elif e != "Wq":
            raise _Bad("unknown trace event")
    return most, bad


# A reader that called acquire_read just before the writer registered may still enter:
# at most two such entries per busy reader; a starved writer sees hundreds.
_RW_OVERTAKE_BOUND = 8


def _judge_rw(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, obs) in enumerate(zip(calls, values)):
        _seed, nreaders, ops = args
        assert isinstance(nreaders, int) and isinstance(ops, int)
        for phase in ("share", "mix", "fair"):
            ph = _get(obs, phase, dict)
            common = _common(i, ph)
            reasons += [f"{r} ({phase} phase)" for r in common]
            most, bad = _replay(_get(ph, "trace", list))
            if bad:
                reasons.append(f"call {i}: mutual exclusion violated: a writer overlapped "
                               f"another holder ({phase} phase)")
            if common:
                break
            if phase == "share" and most < 2:
                reasons.append(f"call {i}: readers never held the lock together")
            if phase == "mix" and _get(ph, "writes", int) != 2 * ops:
                reasons.append(f"call {i}: writers lost updates: {ph['writes']} of {2 * ops}")
            if phase == "fair":
                trace = ph["trace"]
                if trace.count("W+") != 3:
                    reasons.append(f"call {i}: the writer did not get the lock 3 times")
                overtakes, waiting = 0, False
                for e in trace:
                    if e == "Wq":
                        waiting = True
                    elif e == "W+":
                        waiting = False
                    elif e == "R+" and waiting:
                        overtakes += 1
                if overtakes > _RW_OVERTAKE_BOUND:
                    reasons.append(f"call {i}: {overtakes} reads began while a writer waited "
                                   f"(bound {_RW_OVERTAKE_BOUND}): writer starvation")
    return reasons


_RW_REF = """\
import threading
from contextlib import contextmanager

class RWLock:
    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    def acquire_read(self):
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1

    def release_read(self):
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    def acquire_write(self):
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True

    def release_write(self):
        with self._cond:
            self._writer = False
            self._cond.notify_all()

    @contextmanager
    def reading(self):
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def writing(self):
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()
"""

_RW_CONTEXT = '''
    @contextmanager
    def reading(self):
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def writing(self):
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()
'''

_RW_WRONG = (
    # The textbook reader-preference lock: a writer waits while readers keep arriving.
    """\
import threading
from contextlib import contextmanager

class RWLock:
    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def acquire_read(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1

    def release_read(self):
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    def acquire_write(self):
        with self._cond:
            while self._writer or self._readers > 0:
                self._cond.wait()
            self._writer = True

    def release_write(self):
        with self._cond:
            self._writer = False
            self._cond.notify_all()
""" + _RW_CONTEXT,
    # Readers only count themselves: they never wait for an active writer.
    """\
import threading
from contextlib import contextmanager

class RWLock:
    def __init__(self):
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._readers = 0

    def acquire_read(self):
        with self._lock:
            self._readers += 1

    def release_read(self):
        with self._lock:
            self._readers -= 1

    def acquire_write(self):
        self._write_lock.acquire()
        while True:
            with self._lock:
                if self._readers == 0:
                    return
            threading.Event().wait(0.0005)

    def release_write(self):
        self._write_lock.release()
""" + _RW_CONTEXT,
    # One exclusive lock for everybody: safe, but readers never share.
    """\
import threading
from contextlib import contextmanager

class RWLock:
    def __init__(self):
        self._lock = threading.Lock()

    def acquire_read(self):
        self._lock.acquire()

    def release_read(self):
        self._lock.release()

    def acquire_write(self):
        self._lock.acquire()

    def release_write(self):
        self._lock.release()
""" + _RW_CONTEXT,
)

RW_LOCK = ComplexityTask(
    id="concurrency.rw_lock",
    property="concurrency",
    level="module",
    title="Readers-writer lock with writer preference",
    prompt=_RW_PROMPT,
    entry_point="_cs_drive_rw",
    make_calls=_rw_calls,
    check=_safe(_judge_rw),
    baseline=HumanBaseline(0.15, 0.75, _ASSUMED,
                           "Assumed: reader sharing and writer exclusion are well known, but "
                           "getting writer preference right is an expert-level design step."),
    reference_solution=_RW_REF,
    wrong_solutions=_RW_WRONG,
    harness=_RW_HARNESS,
    timeout_s=3.0,
)


# ------------------------------------------------------------------ module: once-only cache

_ONCE_PROMPT = """\
Write a Python module providing a thread-safe memoising cache, class `OnceCache`.

- `OnceCache()`: an empty cache.
- `get_or_compute(key, factory)`: if `key` is cached, return the cached value. Otherwise
  call `factory()` (no arguments; it may be slow and never raises), cache its result
  under `key` and return it.
- Once-only: whatever the number of concurrent callers, `factory` runs at most once per
  key (until the key is invalidated). Callers that arrive while another thread is
  computing the same key wait for that computation and return the very same object.
- Independence: computing one key must never block callers of a different key (do not
  hold one global lock while a factory runs).
- `invalidate(key)`: forget `key` (no error if it is absent); the next `get_or_compute`
  for it calls its factory again.
- `len(cache)`: the number of keys currently cached.

Use only the standard library. Reply with Python code only.
"""

_ONCE_HARNESS = _h('''
class _cs_Box:
    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


def _cs_drive_once(seed, nthreads):
    if _cs_stuck:
        return {"skipped": True}
    rng = _cs_random.Random(seed)
    out = {"rounds": []}
    cache = None
    for r in range(3):
        cache = OnceCache()
        made = []  # (key, box) per factory run
        keys = [rng.choice("abc") for _ in range(nthreads)]

        def factory_for(key, made=made):
            def factory():
                box = _cs_Box(key)
                made.append((key, box))
                _cs_time.sleep(0.003)
                return box
            return factory

        got = [None] * nthreads

        def caller(i, cache=cache, keys=keys, got=got, factory_for=factory_for):
            _cs_jitter(_cs_random.Random("%s/%s/%s" % (seed, r, i)))
            got[i] = cache.get_or_compute(keys[i], factory_for(keys[i]))

        errors, stuck = _cs_run([lambda i=i: caller(i) for i in range(nthreads)], 1.0, rng)
        boxes = [b for _, b in made]
        out["rounds"].append({
            "keys": keys, "made": [k for k, _ in made], "errors": errors, "stuck": stuck,
            "got": [next((j for j, b in enumerate(boxes) if b is g), -1) for g in got]})
        if stuck:
            return out
    started, release, seen = _cs_threading.Event(), _cs_threading.Event(), []

    def slow_factory():
        started.set()
        seen.append(release.wait(0.5))
        return _cs_Box("slow")

    def fast():
        started.wait(0.5)
        cache.get_or_compute("fast", lambda: _cs_Box("fast"))
        release.set()

    errors, stuck = _cs_run([lambda: cache.get_or_compute("slow", slow_factory), fast],
                            1.5, rng)
    out["independent"] = {"released": seen[:1] == [True], "errors": errors, "stuck": stuck}
    if stuck:
        return out
    calls = []
    first = cache.get_or_compute("slow", lambda: calls.append(1) or _cs_Box("again"))
    size_before = len(cache)
    cache.invalidate("slow")
    cache.invalidate("never-cached")
    size_after = len(cache)
    second = cache.get_or_compute("slow", lambda: calls.append(2) or _cs_Box("again"))
    third = cache.get_or_compute("slow", lambda: calls.append(3) or _cs_Box("again"))
    out["invalidate"] = {
        "cached_hit": type(first) is _cs_Box and first.key == "slow", "calls": calls,
        "recomputed": type(second) is _cs_Box and second.key == "again" and third is second,
        "sizes": [size_before if type(size_before) is int else None,
                  size_after if type(size_after) is int else None]}
    return out
''')


def _once_calls(rng: random.Random) -> list[Args]:
    return [(rng.randrange(2**31), 6) for _ in range(2)]


def _judge_once(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, obs in enumerate(values):
        for r, rd in enumerate(_rounds(i, obs)):
            common = _common(i, rd)
            reasons += common
            if common:
                break
            keys, made, got = (_get(rd, k, list) for k in ("keys", "made", "got"))
            for key in sorted(set(str(k) for k in keys)):
                runs = made.count(key)
                if runs != 1:
                    reasons.append(f"call {i}: the factory for key {key!r} ran {runs} times")
                idx = {got[j] for j, k in enumerate(keys) if k == key}
                if len(idx) != 1 or made[idx.pop()] != key:
                    reasons.append(f"call {i}: callers of key {key!r} did not all get the "
                                   "object its factory made")
        else:
            ind = _get(obs, "independent", dict)
            common = _common(i, ind)
            reasons += common
            if common:
                continue
            if ind.get("released") is not True:
                reasons.append(f"call {i}: computing one key blocked a caller of another key")
            inv = _get(obs, "invalidate", dict)
            if inv.get("cached_hit") is not True or inv.get("calls") != [2]:
                reasons.append(f"call {i}: a cached key was recomputed, or an invalidated key "
                               "was not recomputed exactly once")
            elif inv.get("recomputed") is not True:
                reasons.append(f"call {i}: after invalidate() the new value was not cached")
            distinct = len(set(map(str, _get(obs["rounds"][-1], "keys", list))))
            sizes = [distinct + 2, distinct + 1]  # round keys plus "slow" and "fast"
            if inv.get("sizes") != sizes:
                reasons.append(f"call {i}: len() gave {inv.get('sizes')} around invalidate(), "
                               f"expected {sizes}")
    return reasons


_ONCE_REF = """\
import threading

class OnceCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._values = {}
        self._pending = {}  # key -> Event set when its computation finishes

    def get_or_compute(self, key, factory):
        while True:
            with self._lock:
                if key in self._values:
                    return self._values[key]
                event = self._pending.get(key)
                if event is None:
                    event = self._pending[key] = threading.Event()
                    break
            event.wait()
        try:
            value = factory()
            with self._lock:
                self._values[key] = value
            return value
        finally:
            with self._lock:
                del self._pending[key]
            event.set()

    def invalidate(self, key):
        with self._lock:
            self._values.pop(key, None)

    def __len__(self):
        with self._lock:
            return len(self._values)
"""

_ONCE_WRONG = (
    # Check-then-act: concurrent first callers all run the factory.
    """\
class OnceCache:
    def __init__(self):
        self._values = {}

    def get_or_compute(self, key, factory):
        if key in self._values:
            return self._values[key]
        value = factory()
        self._values[key] = value
        return value

    def invalidate(self, key):
        self._values.pop(key, None)

    def __len__(self):
        return len(self._values)
""",
    # One global lock held while the factory runs: different keys block each other.
    """\
import threading

class OnceCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._values = {}

    def get_or_compute(self, key, factory):
        with self._lock:
            if key not in self._values:
                self._values[key] = factory()
            return self._values[key]

    def invalidate(self, key):
        with self._lock:
            self._values.pop(key, None)

    def __len__(self):
        return len(self._values)
""",
)

ONCE_CACHE = ComplexityTask(
    id="concurrency.once_cache",
    property="concurrency",
    level="module",
    title="Memoising cache: once-only computation per key, no cross-key blocking",
    prompt=_ONCE_PROMPT,
    entry_point="_cs_drive_once",
    make_calls=_once_calls,
    check=_safe(_judge_once),
    baseline=HumanBaseline(0.2, 0.8, _ASSUMED,
                           "Assumed: a once-per-key cache needs per-key waiting outside a "
                           "global lock, a design most novices miss on the first attempt."),
    reference_solution=_ONCE_REF,
    wrong_solutions=_ONCE_WRONG,
    harness=_ONCE_HARNESS,
)

TASKS: tuple[ComplexityTask, ...] = (
    COUNTER, PARALLEL_MAP, BOUNDED_BUFFER, BANK, RW_LOCK, ONCE_CACHE,
)
