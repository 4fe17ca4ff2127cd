"""Temporal-reasoning tasks: safety ("nothing bad ever happens") and liveness ("something
good eventually happens", here within a stated bound).

The harness drives the candidate over a generated event sequence and returns the trace of
states it showed.  The check reads the trace here: first the safety invariant at every
step, then each liveness bound, then agreement with a trusted reference (every spec is
deterministic), so a failure says which kind of property broke and where.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ...sandbox import JSONValue
from ..cells import HumanBaseline
from .base import Args, ComplexityTask, Level
from .checks import PLAIN_HARNESS, first_difference, is_int, list_of, per_call

_ASK = "\n\nReturn only the Python code (no explanations, no example usage)."

# judge of one trace: (call args, returned value) -> the first problems found
TraceJudge = Callable[..., list[str]]


def _baseline(level: Level) -> HumanBaseline:
    novice, expert = {"function": (0.5, 0.95), "multi_function": (0.35, 0.9),
                      "module": (0.25, 0.85)}[level]
    return HumanBaseline(novice, expert, "assumption", (
        "Assumed: state machines with timing rules are standard expert work, while "
        "novices commonly break an invariant or a bound at a boundary tick, more often "
        f"as the {level.replace('_', '-')} specification grows."))


def _judged(judge: Callable[[Args, Any], list[str]],
            reference: Callable[..., Any]) -> Callable[[int, Args, JSONValue], list[str]]:
    """Property problems first (they explain a failure best), then the reference."""

    def one(index: int, args: Args, value: JSONValue) -> list[str]:
        problems = judge(args, value)
        if not problems:
            diff = first_difference(reference(*args), value)
            problems = [f"differs from the specified behaviour: {diff}"] if diff else []
        return [f"call {index}: {p}" for p in problems[:2]]

    return one


def _task(short: str, level: Level, title: str, prompt: str,
          make_calls: Callable[[random.Random], Sequence[Args]],
          judge: Callable[[Args, Any], list[str]], reference: Callable[..., Any],
          harness: str, solution: str, wrong: tuple[str, ...]) -> ComplexityTask:
    return ComplexityTask(
        id=f"temporal.{short}", property="temporal", level=level, title=title,
        prompt=prompt.strip() + _ASK, entry_point="_cs_run", make_calls=make_calls,
        check=per_call(_judged(judge, reference)), baseline=_baseline(level),
        reference_solution=solution.strip() + "\n",
        wrong_solutions=tuple(w.strip() + "\n" for w in wrong),
        harness=PLAIN_HARNESS + harness)


def _runs(seq: Sequence[object]) -> list[tuple[object, int, int]]:
    """(value, start, length) of each maximal run of equal values."""
    runs: list[tuple[object, int, int]] = []
    for i, item in enumerate(seq):
        if runs and runs[-1][0] == item:
            runs[-1] = (item, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((item, i, 1))
    return runs


# ------------------------------------------------------------------ traffic light (function)

_PHASES = (["G", "R"], ["Y", "R"], ["R", "G"], ["R", "Y"])
TRAFFIC_BOUND = 7


def ref_traffic(arrivals: list[list[bool]]) -> list[list[str]]:
    phase, age, pending, trace = 0, 0, [False, False], []
    for step in arrivals:
        age += 1
        lights = _PHASES[phase]
        trace.append(list(lights))
        pending = [(pending[d] or step[d]) and lights[d] != "G" for d in (0, 1)]
        if phase in (0, 2):
            if age >= 3 and pending[1 - phase // 2]:
                phase, age = phase + 1, 0
        elif age == 2:
            phase, age = (phase + 1) % 4, 0
    return trace


def judge_traffic(args: Args, value: Any) -> list[str]:
    arrivals: Any = args[0]
    if not list_of(value, len(arrivals)) or not all(
            list_of(s, 2) and all(x in ("G", "Y", "R") for x in s) for s in value):
        return [f"expected {len(arrivals)} states [ns, ew] of 'G'/'Y'/'R'"]
    problems = [f"safety: both directions open at tick {t} ({s})"
                for t, s in enumerate(value) if s[0] != "R" and s[1] != "R"]
    for d, name in ((0, "NS"), (1, "EW")):
        runs = _runs([s[d] for s in value])
        for (light, start, length), nxt in zip(runs, runs[1:] + [("end", 0, 0)]):
            if light == "G" and nxt[0] == "R":
                problems.append(f"safety: {name} went green to red without yellow at tick {nxt[1]}")
            if light == "R" and nxt[0] == "Y":
                problems.append(f"safety: {name} went red to yellow at tick {nxt[1]}")
            if light == "Y" and nxt[0] != "end" and length != 2:
                problems.append(f"safety: {name} yellow lasted {length} ticks from tick {start}")
            if light == "G" and nxt[0] == "Y" and length < 3:
                problems.append(f"safety: {name} green lasted only {length} ticks from tick {start}")
        for t, step in enumerate(arrivals):
            window = value[t:t + TRAFFIC_BOUND + 1]
            if step[d] and t + TRAFFIC_BOUND < len(value) and all(s[d] != "G" for s in window):
                problems.append(f"liveness: {name} car arriving at tick {t} not served "
                                f"within {TRAFFIC_BOUND} ticks")
    return problems


def _traffic_calls(rng: random.Random) -> list[Args]:
    # an EW car at tick 0, then one tick later a short burst: exercises min green and latching
    calls: list[Args] = [([[False, t == 0] for t in range(20)],),
                         ([[t % 9 == 4, t % 7 == 1] for t in range(40)],)]
    for _ in range(4):
        p = rng.choice([0.05, 0.15, 0.3])
        calls.append(([[rng.random() < p, rng.random() < p] for _ in range(rng.randint(30, 60))],))
    return calls


_TRAFFIC_PROMPT = """
Write a Python function `traffic_lights(arrivals: list[list[bool]]) -> list[list[str]]`,
the controller of a crossing with two directions, NS and EW.  arrivals[t] is
[ns_car_arrives, ew_car_arrives] at tick t.  Return one state per tick, [ns_light,
ew_light], each "G", "Y" or "R".

Phases, in this cycle: NS_GREEN (["G","R"]) -> NS_YELLOW (["Y","R"]) -> EW_GREEN
(["R","G"]) -> EW_YELLOW (["R","Y"]) -> NS_GREEN ...  Tick 0 starts a NS_GREEN phase.
Waiting cars: a car arriving at tick t on a direction makes that direction "waiting"; a
direction stops waiting at every tick in which it shows "G" (a car arriving on a green
light is served at once).  At each tick t, in this order: output the current phase's
state; update waiting with arrivals[t] and the light just shown; then decide the phase
for tick t+1:
- in a green phase that has now been shown for 3 or more ticks, switch to the next
  (yellow) phase if the other direction is waiting; otherwise stay green (for ever if
  nobody waits);
- a yellow phase is shown for exactly 2 ticks, then the next phase starts.
So the lights are never both non-red, a green always turns yellow before red, and a
waiting car gets green within 7 ticks.
"""

_TRAFFIC_HARNESS = """
def _cs_run(arrivals):
    return _cs_plain(traffic_lights(_cs_fresh(arrivals)))
"""

_TRAFFIC_REF = """
def traffic_lights(arrivals):
    phases = [["G", "R"], ["Y", "R"], ["R", "G"], ["R", "Y"]]
    phase = 0
    shown = 0
    waiting = [False, False]
    out = []
    for cars in arrivals:
        shown += 1
        lights = phases[phase]
        out.append(list(lights))
        for d in (0, 1):
            if cars[d]:
                waiting[d] = True
            if lights[d] == "G":
                waiting[d] = False
        if phase in (0, 2):
            other = 1 if phase == 0 else 0
            if shown >= 3 and waiting[other]:
                phase += 1
                shown = 0
        elif shown == 2:
            phase = (phase + 1) % 4
            shown = 0
    return out
"""

TRAFFIC = _task(
    "traffic_light", "function", "Two-way traffic light: no conflict, bounded wait",
    _TRAFFIC_PROMPT, _traffic_calls, judge_traffic, ref_traffic, _TRAFFIC_HARNESS,
    _TRAFFIC_REF, (
        # no yellow: green straight to the other direction's green
        _TRAFFIC_REF.replace('phases = [["G", "R"], ["Y", "R"], ["R", "G"], ["R", "Y"]]',
                             'phases = [["G", "R"], ["R", "R"], ["R", "G"], ["R", "R"]]'),
        # cars are not remembered: only a car arriving this very tick counts as waiting
        _TRAFFIC_REF.replace("            if cars[d]:\n                waiting[d] = True\n",
                             "            waiting[d] = bool(cars[d])\n"),
        # minimum green off by one
        _TRAFFIC_REF.replace("shown >= 3", "shown >= 2"),
    ))


# ------------------------------------------------------------------ token bucket (function)

def ref_bucket(capacity: int, refill: int, requests: list[list[int]]) -> list[bool]:
    tokens, last, out = capacity, 0, []
    for tick, cost in requests:
        tokens, last = min(capacity, tokens + refill * (tick - last)), tick
        out.append(tokens >= cost)
        if out[-1]:
            tokens -= cost
    return out


def judge_bucket(args: Args, value: Any) -> list[str]:
    capacity, refill, requests = args[0], args[1], args[2]
    assert is_int(capacity) and is_int(refill) and isinstance(requests, list)
    if not list_of(value, len(requests)) or not all(isinstance(v, bool) for v in value):
        return [f"expected a list of {len(requests)} bools"]
    spent: dict[int, int] = {}
    for (tick, cost), ok in zip(requests, value):
        if ok:
            spent[tick] = spent.get(tick, 0) + cost
    ticks = sorted(spent)
    for i, first in enumerate(ticks):
        used = 0
        for last in ticks[i:]:
            used += spent[last]
            if used > capacity + refill * (last - first):
                limit = capacity + refill * (last - first)
                return [f"safety: admitted cost {used} in ticks {first}..{last}, over the limit {limit}"]
    return []


def _bucket_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = [(3, 1, [[0, 3], [10, 3], [10, 3], [10, 1]]), (2, 1, [[0, 1]] * 5),
                         (4, 2, [[0, 5], [0, 4], [1, 2], [2, 2], [2, 2], [2, 1]])]
    for _ in range(4):
        capacity, refill, tick, reqs = rng.randint(1, 10), rng.randint(0, 3), 0, []
        for _ in range(rng.randint(20, 50)):
            tick += rng.choice([0, 0, 1, 1, 2, 5])
            reqs.append([tick, rng.randint(1, 4)])
        calls.append((capacity, refill, reqs))
    return calls


_BUCKET_PROMPT = """
Write a Python function `token_bucket(capacity: int, refill: int,
requests: list[list[int]]) -> list[bool]`, a rate limiter.  requests is a list of
[tick, cost] in non-decreasing tick order (ticks >= 0, cost >= 1).  The bucket holds
`capacity` tokens at tick 0.  Before each request at tick t, add refill * (t - t_prev)
tokens, where t_prev is the tick of the previous request (0 for the first), and cap the
bucket at `capacity` tokens.  Then admit the request if the bucket holds at least `cost`
tokens, removing `cost` tokens; otherwise refuse it (a refused request takes nothing).
Return True/False per request.  Thus over any span of ticks a..b the admitted cost never
exceeds capacity + refill * (b - a), and a request is refused only when tokens are short.
"""

_BUCKET_HARNESS = """
def _cs_run(capacity, refill, requests):
    return _cs_plain(token_bucket(capacity, refill, _cs_fresh(requests)))
"""

_BUCKET_REF = """
def token_bucket(capacity, refill, requests):
    tokens = capacity
    last = 0
    out = []
    for tick, cost in requests:
        tokens = min(capacity, tokens + refill * (tick - last))
        last = tick
        if tokens >= cost:
            tokens -= cost
            out.append(True)
        else:
            out.append(False)
    return out
"""

BUCKET = _task(
    "token_bucket", "function", "Token-bucket rate limiter", _BUCKET_PROMPT, _bucket_calls,
    judge_bucket, ref_bucket, _BUCKET_HARNESS, _BUCKET_REF, (
        # the bucket is never capped: idle time buys an unbounded burst
        _BUCKET_REF.replace("tokens = min(capacity, tokens + refill * (tick - last))",
                            "tokens = tokens + refill * (tick - last)"),
        # refuses a request that needs exactly the tokens left
        _BUCKET_REF.replace("if tokens >= cost:", "if tokens > cost:"),
        # refills once per request instead of per elapsed tick
        _BUCKET_REF.replace("refill * (tick - last)", "refill"),
    ))


# ------------------------------------------------------------------ reader-writer lock (multi)

class _RefRW:
    def __init__(self) -> None:
        self.writer: str | None = None
        self.readers: set[str] = set()
        self.queue: list[tuple[str, str]] = []

    def known(self, client: str) -> bool:
        return client == self.writer or client in self.readers or any(c == client for c, _ in self.queue)

    def request(self, client: str, mode: str) -> None:
        if not self.known(client):
            self.queue.append((client, mode))
            self.grant()

    def release(self, client: str) -> None:
        if client == self.writer:
            self.writer = None
        elif client in self.readers:
            self.readers.discard(client)
        self.grant()

    def grant(self) -> None:
        while self.queue and self.writer is None:
            client, mode = self.queue[0]
            if mode == "w" and self.readers:
                return
            self.queue.pop(0)
            if mode == "w":
                self.writer = client
            else:
                self.readers.add(client)

    def state(self) -> dict[str, Any]:
        return {"writer": self.writer, "readers": sorted(self.readers)}


def ref_rwlock(events: list[list[str]]) -> list[dict[str, Any]]:
    lock, trace = _RefRW(), []
    for event in events:
        lock.request(event[1], event[2]) if event[0] == "request" else lock.release(event[1])
        trace.append(lock.state())
    return trace


def judge_rwlock(args: Args, value: Any) -> list[str]:
    events: Any = args[0]
    if not list_of(value, len(events)) or not all(
            isinstance(s, dict) and set(s) == {"writer", "readers"} and isinstance(s["readers"], list)
            for s in value):
        return [f"expected {len(events)} states {{'writer': ..., 'readers': [...]}}"]
    problems, wanted, granted = [], {}, set()  # type: list[str], dict[str, int], set[str]
    for i, (event, state) in enumerate(zip(events, value)):
        if event[0] == "request" and event[1] not in wanted and event[1] not in granted:
            wanted[event[1]] = i
        holders = set(map(str, state["readers"])) | ({str(state["writer"])} if state["writer"] is not None else set())
        if state["writer"] is not None and state["readers"]:
            problems.append(f"safety: writer {state['writer']} holds with readers {state['readers']} "
                            f"after event {i}")
        for client in holders - granted:
            if client not in wanted:
                problems.append(f"safety: {client} holds the lock after event {i} without waiting for it")
                continue
            # a reader granted while an earlier writer still waits: the writer can starve
            starved = [w for w, at in wanted.items()
                       if at < wanted[client] and w not in holders and events[at][2] == "w"]
            if starved:
                problems.append(f"fairness: {client} overtook waiting writer {starved[0]} "
                                f"at event {i}")
            wanted.pop(client, None)
        granted = holders
    for client, since in wanted.items():
        problems.append(f"liveness: {client}'s request at event {since} was never granted")
    return problems


def _rw_events(rng: random.Random, clients: int, steps: int) -> list[list[str]]:
    lock, events = _RefRW(), []
    names = [f"c{i}" for i in range(clients)]

    def emit(event: list[str]) -> None:
        events.append(event)
        lock.request(event[1], event[2]) if event[0] == "request" else lock.release(event[1])

    for _ in range(steps):
        holders = lock.readers | ({lock.writer} if lock.writer else set())
        idle = [n for n in names if not lock.known(n)]
        if idle and (not holders or rng.random() < 0.55):
            emit(["request", rng.choice(idle), rng.choice("rrw")])
        elif holders:
            emit(["release", rng.choice(sorted(holders)) if rng.random() < 0.9 else rng.choice(names)])
    while lock.writer or lock.readers:  # drain: every holder eventually releases
        emit(["release", lock.writer or min(lock.readers)])
    return events


def _rw_calls(rng: random.Random) -> list[Args]:
    fixed = [["request", "a", "r"], ["request", "b", "w"], ["request", "c", "r"],
             ["release", "c"], ["release", "a"], ["request", "a", "r"], ["release", "b"],
             ["release", "c"], ["release", "a"]]
    return [(fixed,)] + [(_rw_events(rng, rng.randint(3, 6), rng.randint(15, 35)),) for _ in range(5)]


_RW_PROMPT = """
Write four Python functions implementing a fair reader-writer lock:
- `new_lock()` returns a new lock object (any representation you like);
- `request(lock, client: str, mode: str) -> None`, mode "r" (shared read) or "w"
  (exclusive write);
- `release(lock, client: str) -> None`;
- `holders(lock) -> dict`: {"writer": name of the client holding it for writing or
  None, "readers": sorted list of the clients holding it for reading}.
Rules:
- A request joins the end of a FIFO wait queue, unless the client already holds the
  lock or is already waiting: then the request is ignored.
- After every request and every release, grant from the front of the queue, repeatedly:
  a "w" at the front is granted only when nobody holds the lock; an "r" at the front is
  granted when no writer holds the lock (it shares with other readers).  Stop at the
  first front entry that cannot be granted: nobody overtakes a waiting writer, so
  writers are never starved.
- release by a client that holds the lock ends its hold; by any other client (including
  one still waiting) it does nothing.
Safety: a writer never holds together with anyone else.  Liveness: if every holder
eventually releases, every request is eventually granted.
"""

_RW_HARNESS = """
def _cs_run(events):
    _cs_lock = new_lock()
    _cs_trace = []
    for _cs_e in events:
        if _cs_e[0] == "request":
            request(_cs_lock, _cs_e[1], _cs_e[2])
        else:
            release(_cs_lock, _cs_e[1])
        _cs_trace.append(_cs_plain(holders(_cs_lock)))
    return _cs_trace
"""

_RW_REF = """
def new_lock():
    return {"writer": None, "readers": set(), "queue": []}


def _waiting(lock, client):
    return any(c == client for c, _ in lock["queue"])


def _grant(lock):
    while lock["queue"] and lock["writer"] is None:
        client, mode = lock["queue"][0]
        if mode == "w" and lock["readers"]:
            break
        lock["queue"].pop(0)
        if mode == "w":
            lock["writer"] = client
        else:
            lock["readers"].add(client)


def request(lock, client, mode):
    if client == lock["writer"] or client in lock["readers"] or _waiting(lock, client):
        return
    lock["queue"].append((client, mode))
    _grant(lock)


def release(lock, client):
    if client == lock["writer"]:
        lock["writer"] = None
    elif client in lock["readers"]:
        lock["readers"].discard(client)
    _grant(lock)


def holders(lock):
    return {"writer": lock["writer"], "readers": sorted(lock["readers"])}
"""

RWLOCK = _task(
    "rw_lock", "multi_function", "Fair reader-writer lock protocol", _RW_PROMPT, _rw_calls,
    judge_rwlock, ref_rwlock, _RW_HARNESS, _RW_REF, (
        # a writer is granted while readers still hold
        _RW_REF.replace('        if mode == "w" and lock["readers"]:\n            break\n', ""),
        # release frees the lock but grants nobody waiting
        _RW_REF.replace('        lock["readers"].discard(client)\n    _grant(lock)',
                        '        lock["readers"].discard(client)'),
        # readers overtake a waiting writer
        _RW_REF.replace("""    lock["queue"].append((client, mode))
    _grant(lock)""", """    if mode == "r" and lock["writer"] is None:
        lock["readers"].add(client)
        return
    lock["queue"].append((client, mode))
    _grant(lock)"""),
    ))


# ------------------------------------------------------------------ retry scheduler (multi)

def _backoff(attempt: int) -> int:
    return int(min(2 ** (attempt - 1), 8))


def ref_retry(jobs: list[str], fails: dict[str, int], capacity: int,
              max_attempts: int) -> dict[str, Any]:
    due, tries = {j: 0 for j in jobs}, {j: 0 for j in jobs}
    runs: list[list[str]] = []
    done: dict[str, list[str]] = {"succeeded": [], "abandoned": []}
    tick = 0
    while due:
        ran = [j for _, j in sorted((d, j) for j, d in due.items() if d <= tick)[:capacity]]
        for job in ran:
            tries[job] += 1
            if tries[job] > fails.get(job, 0) or tries[job] >= max_attempts:
                done["succeeded" if tries[job] > fails.get(job, 0) else "abandoned"].append(job)
                del due[job]
            else:
                due[job] = tick + _backoff(tries[job])
        runs.append(ran)
        tick += 1
    return {"backoff": [_backoff(n) for n in range(1, 11)],
            "result": {"runs": runs, "succeeded": sorted(done["succeeded"]),
                       "abandoned": sorted(done["abandoned"])}}


def judge_retry(args: Args, value: Any) -> list[str]:
    jobs, fails, capacity, max_attempts = args
    result = value.get("result") if isinstance(value, dict) else None
    runs = result.get("runs") if isinstance(result, dict) else None
    if not isinstance(runs, list) or not all(isinstance(r, list) for r in runs):
        return ["expected {'backoff': [...], 'result': {'runs': [[...], ...], ...}}"]
    problems: list[str] = []
    last: dict[str, tuple[int, int]] = {}  # job -> (tick of last run, runs so far)
    for tick, ran in enumerate(runs):
        if len(ran) > capacity:
            problems.append(f"safety: {len(ran)} jobs ran at tick {tick}, capacity {capacity}")
        for job in ran:
            if job not in jobs:
                problems.append(f"safety: unknown job {job!r} ran at tick {tick}")
                continue
            prev_tick, count = last.get(job, (-1, 0))
            if count >= min(fails.get(job, 0) + 1, max_attempts):
                problems.append(f"safety: {job} ran again at tick {tick} after its last "
                                f"allowed attempt")
            elif count and tick - prev_tick < _backoff(count):
                problems.append(f"safety: {job} retried at tick {tick}, before its backoff "
                                f"of {_backoff(count)} ticks ended")
            last[job] = (tick, count + 1)
    for job in jobs:
        if last.get(job, (0, 0))[1] < min(fails.get(job, 0) + 1, max_attempts):
            problems.append(f"liveness: {job} never finished its attempts")
    return problems


def _retry_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = [(["a", "b", "c"], {"a": 5, "b": 1}, 1, 3)]
    for _ in range(5):
        jobs = rng.sample(["j1", "j2", "j3", "j4", "j5", "j6", "j7"], rng.randint(2, 7))
        fails = {j: rng.randint(0, 6) for j in jobs if rng.random() < 0.7}
        calls.append((jobs, fails, rng.randint(1, 3), rng.randint(1, 5)))
    return calls


_RETRY_PROMPT = """
Write two Python functions for a retry scheduler.
- `backoff(attempt: int) -> int`: the delay in ticks after the attempt-th failed
  attempt of a job (attempt >= 1): min(2 ** (attempt - 1), 8).
- `schedule(jobs: list[str], fails: dict[str, int], capacity: int, max_attempts: int)
  -> dict`: simulate ticks 0, 1, 2, ...  Every job is due at tick 0.  At each tick, run
  the due jobs (due tick <= current tick) with the smallest (due tick, job name), at most
  `capacity` of them.  Job j fails on its first fails.get(j, 0) attempts and succeeds on
  the next one.  When a run succeeds, the job is done ("succeeded").  When the n-th
  attempt fails: if n == max_attempts the job is done ("abandoned"); otherwise it is
  due again at current tick + backoff(n).  Stop after the tick in which the last job
  became done.  Return {"runs": [list of job names run at each tick, in the order
  chosen, one list per tick from 0 to the last tick, [] for idle ticks],
  "succeeded": sorted names, "abandoned": sorted names}.
Safety: no job runs more than max_attempts times, before its backoff ends, or after it
succeeded, and no tick runs more than capacity jobs.  Liveness: every job finishes.
"""

_RETRY_HARNESS = """
def _cs_run(jobs, fails, capacity, max_attempts):
    return {"backoff": [_cs_plain(backoff(_cs_n)) for _cs_n in _cs_bi.range(1, 11)],
            "result": _cs_plain(schedule(_cs_fresh(jobs), _cs_fresh(fails), capacity, max_attempts))}
"""

_RETRY_REF = """
def backoff(attempt):
    return min(2 ** (attempt - 1), 8)


def schedule(jobs, fails, capacity, max_attempts):
    due = {job: 0 for job in jobs}
    attempts = {job: 0 for job in jobs}
    runs = []
    succeeded = []
    abandoned = []
    tick = 0
    while due:
        ready = sorted((d, job) for job, d in due.items() if d <= tick)
        ran = [job for _, job in ready[:capacity]]
        for job in ran:
            attempts[job] += 1
            if attempts[job] > fails.get(job, 0):
                succeeded.append(job)
                del due[job]
            elif attempts[job] >= max_attempts:
                abandoned.append(job)
                del due[job]
            else:
                due[job] = tick + backoff(attempts[job])
        runs.append(ran)
        tick += 1
    return {"runs": runs, "succeeded": sorted(succeeded), "abandoned": sorted(abandoned)}
"""

RETRY = _task(
    "retry_scheduler", "multi_function", "Retry scheduler with backoff and a capacity",
    _RETRY_PROMPT, _retry_calls, judge_retry, ref_retry, _RETRY_HARNESS, _RETRY_REF, (
        # backoff one step too long
        _RETRY_REF.replace("min(2 ** (attempt - 1), 8)", "min(2 ** attempt, 8)"),
        # one attempt too many before abandoning
        _RETRY_REF.replace("attempts[job] >= max_attempts", "attempts[job] > max_attempts"),
        # capacity ignored: every due job runs
        _RETRY_REF.replace("ready[:capacity]", "ready"),
    ))


# ------------------------------------------------------------------ elevator (module)

class _RefElevator:
    def __init__(self, floors: int) -> None:
        self.floors, self.floor, self.door, self.direction = floors, 0, "closed", "idle"
        self.pending: set[int] = set()

    def call(self, floor: Any) -> bool:
        if not is_int(floor) or not 0 <= floor < self.floors:
            return False
        self.pending.add(floor)
        return True

    def step(self) -> dict[str, Any]:
        if self.door == "open":
            self.door = "closed"
        elif self.floor in self.pending:
            self.pending.discard(self.floor)
            self.door = "open"
        else:
            above = any(p > self.floor for p in self.pending)
            below = any(p < self.floor for p in self.pending)
            if self.direction == "up" and not above:
                self.direction = "down" if below else "idle"
            elif self.direction == "down" and not below:
                self.direction = "up" if above else "idle"
            if self.direction == "idle" and (above or below):
                up = min((p for p in self.pending if p > self.floor), default=None)
                down = max((p for p in self.pending if p < self.floor), default=None)
                self.direction = "up" if down is None or (
                    up is not None and up - self.floor <= self.floor - down) else "down"
            self.floor += {"up": 1, "down": -1, "idle": 0}[self.direction]
        return {"floor": self.floor, "door": self.door, "direction": self.direction}


def ref_elevator(floors: int, schedule: list[list[int]]) -> list[dict[str, Any]]:
    car, trace = _RefElevator(floors), []
    for calls in schedule:
        accepted = [car.call(f) for f in calls]
        trace.append({"accepted": accepted, "state": car.step()})
    return trace


def elevator_bound(floors: int) -> int:
    return 6 * floors


def judge_elevator(args: Args, value: Any) -> list[str]:
    floors, schedule = args[0], args[1]
    assert is_int(floors) and isinstance(schedule, list)
    if not list_of(value, len(schedule)) or not all(
            isinstance(v, dict) and isinstance(v.get("state"), dict)
            and is_int(v["state"].get("floor")) and v["state"].get("door") in ("open", "closed")
            for v in value):
        return [f"expected {len(schedule)} entries {{'accepted': [...], 'state': {{...}}}}"]
    problems, pending = [], {}  # type: list[str], dict[int, int]
    prev = {"floor": 0, "door": "closed"}
    bound = elevator_bound(floors)
    for tick, (calls, entry) in enumerate(zip(schedule, value)):
        for f in calls:
            if 0 <= f < floors:
                pending.setdefault(f, tick)
        state = entry["state"]
        floor, door = state["floor"], state["door"]
        if not 0 <= floor < floors:
            problems.append(f"safety: at floor {floor} at tick {tick}, outside 0..{floors - 1}")
        if abs(floor - prev["floor"]) > 1:
            problems.append(f"safety: jumped from floor {prev['floor']} to {floor} at tick {tick}")
        elif floor != prev["floor"] and "open" in (door, prev["door"]):
            problems.append(f"safety: moved with the door open at tick {tick}")
        if door == "open" and prev["door"] == "closed":
            if floor not in pending:
                problems.append(f"safety: door opened at floor {floor} at tick {tick} with no call")
            pending.pop(floor, None)
        for f, since in pending.items():
            if tick - since == bound:
                problems.append(f"liveness: call to floor {f} at tick {since} not served "
                                f"within {bound} ticks")
        prev = state
    return problems


def _elevator_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = [(5, [[3], [], [], [], [], [0, 5, -1], [4]] + [[]] * 30)]
    for _ in range(4):
        floors = rng.randint(3, 9)
        busy = [[rng.randrange(-1, floors + 1) for _ in range(rng.choice([0, 0, 0, 1, 1, 2]))]
                for _ in range(rng.randint(15, 40))]
        calls.append((floors, busy + [[]] * elevator_bound(floors)))
    return calls


_ELEVATOR_PROMPT = """
Write a Python class `Elevator` controlling one lift.
- `Elevator(floors: int)`: floors are numbered 0..floors-1.  The lift starts at floor 0,
  door "closed", direction "idle", with no pending calls.
- `call(floor) -> bool`: if floor is an int in 0..floors-1, add it to the pending calls
  (a set: calling a pending floor again changes nothing) and return True; otherwise
  ignore it and return False.
- `step() -> dict`: advance one tick, doing exactly one of the following, checked in
  this order, then return {"floor": int, "door": "open" or "closed", "direction":
  "up", "down" or "idle"} as it is after the tick.
  1. If the door is open: close it.
  2. Else if the current floor is pending: remove it from the pending calls and open
     the door.
  3. Else move (LOOK scheduling).  Let above/below say whether any pending call is
     above/below the current floor.  If the direction is "up" and nothing is above, the
     direction becomes "down" if something is below, else "idle"; symmetrically for
     "down".  If the direction is then "idle" and some call is pending, it becomes
     "up" or "down" towards the nearest pending floor (a tie goes "up").  Then the lift
     moves one floor in its direction ("idle": it stays).
Safety: the lift never moves while the door is open, moves one floor per tick at most,
and never leaves 0..floors-1.  Liveness: every accepted call is served (the door opens
at that floor) within 6 * floors ticks.
"""

_ELEVATOR_HARNESS = """
def _cs_run(floors, schedule):
    _cs_car = Elevator(floors)
    _cs_trace = []
    for _cs_calls in schedule:
        _cs_ok = [_cs_plain(_cs_car.call(_cs_f)) for _cs_f in _cs_calls]
        _cs_trace.append({"accepted": _cs_ok, "state": _cs_plain(_cs_car.step())})
    return _cs_trace
"""

_ELEVATOR_REF = """
class Elevator:
    def __init__(self, floors):
        self.floors = floors
        self.floor = 0
        self.door = "closed"
        self.direction = "idle"
        self.pending = set()

    def call(self, floor):
        if isinstance(floor, int) and not isinstance(floor, bool) and 0 <= floor < self.floors:
            self.pending.add(floor)
            return True
        return False

    def step(self):
        if self.door == "open":
            self.door = "closed"
        elif self.floor in self.pending:
            self.pending.discard(self.floor)
            self.door = "open"
        else:
            above = [p for p in self.pending if p > self.floor]
            below = [p for p in self.pending if p < self.floor]
            if self.direction == "up" and not above:
                self.direction = "down" if below else "idle"
            elif self.direction == "down" and not below:
                self.direction = "up" if above else "idle"
            if self.direction == "idle" and (above or below):
                if not below:
                    self.direction = "up"
                elif not above:
                    self.direction = "down"
                elif min(above) - self.floor <= self.floor - max(below):
                    self.direction = "up"
                else:
                    self.direction = "down"
            if self.direction == "up":
                self.floor += 1
            elif self.direction == "down":
                self.floor -= 1
        return {"floor": self.floor, "door": self.door, "direction": self.direction}
"""

ELEVATOR = _task(
    "elevator", "module", "Elevator controller (LOOK): door safety, bounded service",
    _ELEVATOR_PROMPT, _elevator_calls, judge_elevator, ref_elevator, _ELEVATOR_HARNESS,
    _ELEVATOR_REF, (
        # closes the door and moves off in the same tick
        _ELEVATOR_REF.replace('''        if self.door == "open":
            self.door = "closed"
        elif self.floor''', '''        if self.door == "open":
            self.door = "closed"
        if self.floor'''),
        # accepts floors up to and including `floors`
        _ELEVATOR_REF.replace("0 <= floor < self.floors", "0 <= floor <= self.floors"),
        # always heads for the nearest call (SSTF): far calls can starve
        _ELEVATOR_REF.replace('            if self.direction == "idle" and (above or below):',
                              '            self.direction = "idle"\n'
                              '            if self.direction == "idle" and (above or below):'),
    ))


# ------------------------------------------------------------------ heartbeat monitor (module)

def ref_monitor(timeout: int, script: list[list[str]]) -> list[dict[str, Any]]:
    last: dict[str, int] = {}
    down: set[str] = set()
    back: set[str] = set()
    trace = []
    for tick, beats in enumerate(script):
        for node in beats:
            if node in down:
                back.add(node)
            last[node] = tick
        events = []
        for node in sorted(last):
            if node in back:
                events.append(["up", node])
                down.discard(node)
                back.discard(node)
            elif node not in down and tick - last[node] > timeout:
                events.append(["down", node])
                down.add(node)
        trace.append({"events": events,
                      "status": {n: "down" if n in down else "up" for n in last}})
    return trace


def judge_monitor(args: Args, value: Any) -> list[str]:
    timeout, script = args[0], args[1]
    assert is_int(timeout) and isinstance(script, list)
    if not list_of(value, len(script)) or not all(
            isinstance(v, dict) and list_of(v.get("events")) and isinstance(v.get("status"), dict)
            and all(list_of(e, 2) and isinstance(e[1], str) for e in v["events"]) for v in value):
        return [f"expected {len(script)} entries {{'events': [[kind, node], ...], 'status': {{...}}}}"]
    expected = ref_monitor(timeout, script)
    problems, last, reported_down = [], {}, set()  # type: list[str], dict[str, int], set[str]
    for tick, (beats, entry, ref) in enumerate(zip(script, value, expected)):
        for node in beats:
            last[node] = tick
        for kind, node in entry["events"]:
            if kind == "down" and (node not in last or tick - last[node] <= timeout):
                problems.append(f"safety: false alarm: {node} reported down at tick {tick}, "
                                f"last heartbeat {last.get(node)}, timeout {timeout}")
            elif kind == "down" and node in reported_down:
                problems.append(f"safety: {node} reported down again at tick {tick}")
            elif kind == "up" and node not in reported_down:
                problems.append(f"safety: {node} reported up at tick {tick} but was not down")
            if kind == "down":
                reported_down.add(node)
            elif kind == "up":
                reported_down.discard(node)
        for event in ref["events"]:
            if event not in entry["events"]:
                problems.append(f"liveness: {event[1]} should be reported {event[0]} at tick {tick}")
                if event[0] == "down":
                    reported_down.add(event[1])  # judge what follows as if it had been
    return problems


def _monitor_calls(rng: random.Random) -> list[Args]:
    fixed = [["a", "b"], ["a"], ["a"], ["a"], [], [], ["b"], [], ["a", "b"], [], []]
    calls: list[Args] = [(2, fixed)]
    for _ in range(4):
        nodes = ["n1", "n2", "n3", "n4"][: rng.randint(2, 4)]
        rate = {n: rng.choice([0.2, 0.5, 0.9]) for n in nodes}
        script = [[n for n in nodes if rng.random() < rate[n]] for _ in range(rng.randint(20, 40))]
        calls.append((rng.randint(1, 4), script))
    return calls


_MONITOR_PROMPT = """
Write a Python class `Monitor`, a heartbeat failure detector.
- `Monitor(timeout: int)`.
- `heartbeat(node: str, t: int) -> None`: node sent a heartbeat at time t.  A node is
  known from its first heartbeat on, and is then "up".
- `tick(t: int) -> list`: called once per time unit, after that time's heartbeats
  (times never decrease).  Returns the events of this tick, sorted by node name, as
  [kind, node] lists.  For each known node: if it is "down" and has sent a heartbeat
  since it went down, it becomes "up": event ["up", node].  Otherwise, if it is "up"
  and t - (time of its last heartbeat) > timeout, it becomes "down": event
  ["down", node].
- `status() -> dict`: {node: "up" or "down"} for every known node.
Safety: a node is never reported down while its last heartbeat is at most `timeout`
old, and the same change is never reported twice in a row.  Liveness: a silent node is
reported down at the first tick at which it has been silent for more than `timeout`,
and a recovered node is reported up at the first tick after its heartbeat.
"""

_MONITOR_HARNESS = """
def _cs_run(timeout, script):
    _cs_mon = Monitor(timeout)
    _cs_trace = []
    for _cs_t, _cs_beats in _cs_bi.enumerate(script):
        for _cs_node in _cs_beats:
            _cs_mon.heartbeat(_cs_node, _cs_t)
        _cs_events = _cs_plain(_cs_mon.tick(_cs_t))
        _cs_trace.append({"events": _cs_events, "status": _cs_plain(_cs_mon.status())})
    return _cs_trace
"""

_MONITOR_REF = """
class Monitor:
    def __init__(self, timeout):
        self.timeout = timeout
        self.last = {}
        self.down = set()
        self.recovered = set()

    def heartbeat(self, node, t):
        if node in self.down:
            self.recovered.add(node)
        self.last[node] = t

    def tick(self, t):
        events = []
        for node in sorted(self.last):
            if node in self.recovered:
                self.recovered.discard(node)
                self.down.discard(node)
                events.append(["up", node])
            elif node not in self.down and t - self.last[node] > self.timeout:
                self.down.add(node)
                events.append(["down", node])
        return events

    def status(self):
        return {node: ("down" if node in self.down else "up") for node in self.last}
"""

MONITOR = _task(
    "heartbeat_monitor", "module", "Heartbeat failure detector: no false alarm, prompt report",
    _MONITOR_PROMPT, _monitor_calls, judge_monitor, ref_monitor, _MONITOR_HARNESS,
    _MONITOR_REF, (
        # off by one: silent for exactly `timeout` already counts as down
        _MONITOR_REF.replace("t - self.last[node] > self.timeout", "t - self.last[node] >= self.timeout"),
        # reports a down node again at every tick
        _MONITOR_REF.replace("elif node not in self.down and t", "elif t"),
        # a recovered node is never reported up
        _MONITOR_REF.replace("        if node in self.down:\n            self.recovered.add(node)\n", ""),
    ))

TASKS: tuple[ComplexityTask, ...] = (TRAFFIC, BUCKET, RWLOCK, RETRY, ELEVATOR, MONITOR)
