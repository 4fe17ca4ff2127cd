"""Nondeterminism tasks: outputs that are not unique, or random by specification.

A check never compares with one answer.  It validates every output (a permutation, a
spanning tree, a topological order, a password meeting its constraints) and judges the
distribution with goodness-of-fit tests against the distribution the prompt specifies,
computed here in trusted code.  Harnesses draw many samples in one call and return only
tallies keyed by the outputs' text, which the check parses and validates itself.

False-alarm bound: every statistical test rejects at ``ALPHA = 1e-9`` and a check runs at
most a dozen tests, so a correct program fails a check with probability about 1e-8 by the
nominal tails.  Pearson's statistic is used only with every expected count >= 50 (the
sample sizes are chosen so); its chi-square approximation can be off in the far tail by
an order of magnitude or two, which still leaves the reference failing with probability
below 1e-6 per check.  Binomial tails are exact.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..cells import HumanBaseline
from .base import Args, Check, ComplexityTask

if TYPE_CHECKING:
    from ...sandbox import CallResult

__all__ = ["ALPHA", "TASKS", "chi2_sf", "chi_square_test"]

ALPHA = 1e-9
MIN_EXPECTED = 50.0
_ASSUMED: Literal["assumption"] = "assumption"


# ------------------------------------------------------------------ statistics (pure)

def _gamma_q(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x)."""
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for P(a, x)
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # continued fraction for Q(a, x) (modified Lentz)
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for n in range(1, 10_000):
        an = -n * (n - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return min(1.0, h * math.exp(log_front))


def chi2_sf(stat: float, df: int) -> float:
    """P(X >= stat) for a chi-square variable with ``df`` degrees of freedom."""
    return _gamma_q(df / 2, stat / 2) if df > 0 else 1.0


def chi_square_test(observed: Sequence[int], probs: Sequence[float]) -> tuple[float, float]:
    """Pearson goodness of fit: (statistic, p-value).  An outcome of probability 0 that
    was observed gives p-value 0."""
    n = sum(observed)
    stat = 0.0
    cells = 0
    for o, p in zip(observed, probs):
        if p <= 0:
            if o:
                return math.inf, 0.0
            continue
        cells += 1
        e = n * p
        stat += (o - e) ** 2 / e
    return stat, chi2_sf(stat, cells - 1)


def _fit(what: str, counts: dict[str, int], probs: dict[str, float]) -> list[str]:
    """Test tallied outcomes against the specified distribution; [] when it fits."""
    keys = sorted(probs)
    observed = [counts.get(k, 0) for k in keys]
    n = sum(observed)
    if n * min(p for p in probs.values() if p > 0) < MIN_EXPECTED:
        return [f"{what}: only {n} valid samples"]
    stat, p = chi_square_test(observed, [probs[k] for k in keys])
    if p < ALPHA:
        worst = max(keys, key=lambda k: abs(counts.get(k, 0) - n * probs[k]) / math.sqrt(n * probs[k]))
        return [f"{what}: distribution differs from the specified one (chi-square {stat:.0f}, "
                f"df {len(keys) - 1}, p={p:.1e}); e.g. {worst!r} seen {counts.get(worst, 0)} "
                f"times, expected {n * probs[worst]:.0f}"]
    return []


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
            for i, res in enumerate(results):
                if res.status != "returned":
                    err = f": {str(res.error)[:120]}" if res.error else ""
                    return Check(False, (f"call {i} {res.status}{err}",))
            reasons = judge(calls, [res.value for res in results])
        except _Bad as exc:
            reasons = [f"malformed observation: {exc}"[:200]]
        except Exception as exc:  # noqa: BLE001 - never raise on hostile shapes
            reasons = [f"malformed observation ({type(exc).__name__})"]
        return Check(not reasons, tuple(dict.fromkeys(reasons))[:6])

    return check


def _tally(value: Any, key: str = "tally") -> dict[str, int]:
    if not isinstance(value, dict) or not isinstance(value.get(key), dict):
        raise _Bad(f"missing {key!r}")
    out: dict[str, int] = {}
    for k, v in value[key].items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise _Bad("a count is not a non-negative int")
        out[k] = v
    return out


def _ints(key: str) -> list[int] | None:
    """The outcome key "3,0,2" as ints; None when it is not such a key."""
    try:
        out = [int(x) for x in key.split(",")] if key else []
    except ValueError:
        return None
    return out if all(str(x) == s for x, s in zip(out, key.split(","))) else None


def _split_invalid(counts: dict[str, int], valid: Callable[[str], bool],
                   what: str) -> tuple[dict[str, int], list[str]]:
    bad = {k: v for k, v in counts.items() if v and not valid(k)}
    if bad:
        k = max(bad, key=bad.__getitem__)
        return counts, [f"{what}: {sum(bad.values())} invalid outputs, e.g. {k[:60]!r}"]
    return counts, []


# Shared by the harnesses: a canonical text key for an output (the check re-validates it).
_KEY = '''
def _cs_key(v):
    if type(v) is list and all(type(x) is int for x in v):
        return ",".join(str(x) for x in v)
    return "?" + type(v).__name__
'''


# ------------------------------------------------------------------ function: shuffle

_SHUFFLE_PROMPT = """\
Write a Python function `shuffled(items)` that returns a new list holding the elements of
the list `items` in uniformly random order: each of the n! orders is equally likely. It
must not modify `items`. Use the `random` module. Reply with Python code only.
"""

_SHUFFLE_HARNESS = _KEY + '''
def _cs_drive_shuffle(items, draws):
    tally = {}
    mutated = 0
    for _ in range(draws):
        arg = list(items)
        out = shuffled(arg)
        mutated += arg != items
        k = _cs_key(out)
        tally[k] = tally.get(k, 0) + 1
    return {"tally": tally, "mutated": mutated}
'''


def _shuffle_calls(rng: random.Random) -> list[Args]:
    return [(rng.sample(range(100), 4), 12_000), (rng.sample(range(100), 3), 3_000)]


def _judge_shuffle(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        items = args[0]
        assert isinstance(items, list)
        counts = _tally(value)
        if value.get("mutated") != 0:
            reasons.append(f"call {i}: shuffled() modified its argument")
        perms = {",".join(map(str, p)) for p in itertools.permutations(items)}
        counts, bad = _split_invalid(counts, perms.__contains__, f"call {i}")
        reasons += bad or _fit(f"call {i} (n={len(items)})", counts,
                               {p: 1 / len(perms) for p in perms})
    return reasons


SHUFFLE = ComplexityTask(
    id="nondeterminism.shuffle",
    property="nondeterminism",
    level="function",
    title="Uniform random shuffle",
    prompt=_SHUFFLE_PROMPT,
    entry_point="_cs_drive_shuffle",
    make_calls=_shuffle_calls,
    check=_safe(_judge_shuffle),
    baseline=HumanBaseline(0.6, 0.98, _ASSUMED,
                           "Assumed: random.shuffle on a copy is one line, but hand-written "
                           "shuffles by novices are often the biased swap-with-any-index."),
    reference_solution="""\
import random

def shuffled(items):
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = random.randint(0, i)
        out[i], out[j] = out[j], out[i]
    return out
""",
    wrong_solutions=(
        # The naive shuffle: swap each position with any index (n^n paths, biased).
        """\
import random

def shuffled(items):
    out = list(items)
    for i in range(len(out)):
        j = random.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    return out
""",
        # Off by one (Sattolo's algorithm): only cyclic permutations come out.
        """\
import random

def shuffled(items):
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = random.randint(0, i - 1)
        out[i], out[j] = out[j], out[i]
    return out
""",
        # Shuffles in place and returns the argument.
        """\
import random

def shuffled(items):
    random.shuffle(items)
    return items
""",
    ),
    harness=_SHUFFLE_HARNESS,
)


# ------------------------------------------------------------------ function: weighted choice

_WEIGHTED_PROMPT = """\
Write a Python function `weighted_choice(items, weights)` that returns one element of the
list `items`, chosen at random so that `items[i]` is returned with probability
`weights[i] / sum(weights)`. `weights` are non-negative ints, the same length as `items`,
with a positive sum; an item of weight 0 is never returned. Do not use
`random.choices`. Reply with Python code only.
"""

_WEIGHTED_HARNESS = '''
def _cs_drive_weighted(items, weights, draws):
    tally = {}
    for _ in range(draws):
        out = weighted_choice(list(items), list(weights))
        k = out if type(out) is str else "?" + type(out).__name__
        tally[k] = tally.get(k, 0) + 1
    return {"tally": tally}
'''


def _weighted_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = []
    for zero_first in (True, False):
        n = rng.randint(4, 6)
        weights = [rng.randint(1, 9) for _ in range(n)]
        weights[0 if zero_first else rng.randrange(1, n)] = 0
        items = [f"item{j}" for j in rng.sample(range(100), n)]
        calls.append((items, weights, 10_000))
    return calls


def _judge_weighted(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        items, weights, _draws = args
        assert isinstance(items, list) and isinstance(weights, list)
        total = sum(int(w) for w in weights)
        probs = {str(it): int(w) / total for it, w in zip(items, weights)}
        counts = _tally(value)
        counts, bad = _split_invalid(counts, probs.__contains__, f"call {i}")
        zero = [k for k, p in probs.items() if p == 0 and counts.get(k)]
        if zero:
            bad.append(f"call {i}: returned {zero[0]!r}, whose weight is 0")
        reasons += bad or _fit(f"call {i}", counts, probs)
    return reasons


WEIGHTED = ComplexityTask(
    id="nondeterminism.weighted_choice",
    property="nondeterminism",
    level="function",
    title="Weighted random choice",
    prompt=_WEIGHTED_PROMPT,
    entry_point="_cs_drive_weighted",
    make_calls=_weighted_calls,
    check=_safe(_judge_weighted),
    baseline=HumanBaseline(0.55, 0.97, _ASSUMED,
                           "Assumed: cumulative weights are standard, but the boundary of the "
                           "random draw is a frequent off-by-one for novices."),
    reference_solution="""\
import random

def weighted_choice(items, weights):
    r = random.randrange(sum(weights))
    for item, w in zip(items, weights):
        if r < w:
            return item
        r -= w
    raise AssertionError("unreachable")
""",
    wrong_solutions=(
        # Ignores the weights.
        """\
import random

def weighted_choice(items, weights):
    return random.choice(items)
""",
        # Off by one: randint includes both ends, and <= lets a weight-0 item win.
        """\
import random

def weighted_choice(items, weights):
    r = random.randint(0, sum(weights))
    cumulative = 0
    for item, w in zip(items, weights):
        cumulative += w
        if r <= cumulative:
            return item
    return items[-1]
""",
    ),
    harness=_WEIGHTED_HARNESS,
)


# ------------------------------------------------------------------ multi-function: reservoir

_RESERVOIR_PROMPT = """\
Write a Python class `Reservoir` that keeps a uniform random sample of a stream whose
length is not known in advance, in O(k) memory (reservoir sampling).

- `Reservoir(k)`: k >= 1.
- `add(item)`: the stream's next item.
- `count()`: how many items have been added so far.
- `sample()`: a new list of min(k, count()) distinct items added so far. After any number
  of `add` calls, every subset of that size of the items added so far must be equally
  likely to be the sample (the list's order does not matter).

Use the `random` module. Reply with Python code only.
"""

_RESERVOIR_HARNESS = _KEY + '''
def _cs_drive_reservoir(n, k, mid, trials):
    tally, mids, counts = {}, {}, {}
    for _ in range(trials):
        r = Reservoir(k)
        for x in range(n):
            r.add(x)
            if x + 1 == mid:
                s = r.sample()
                key = _cs_key(sorted(s) if type(s) is list and all(type(v) is int for v in s) else s)
                mids[key] = mids.get(key, 0) + 1
        s = r.sample()
        key = _cs_key(sorted(s) if type(s) is list and all(type(v) is int for v in s) else s)
        tally[key] = tally.get(key, 0) + 1
        c = r.count()
        ck = str(c) if type(c) is int else "?"
        counts[ck] = counts.get(ck, 0) + 1
    return {"tally": tally, "mid": mids, "counts": counts}
'''


def _reservoir_calls(rng: random.Random) -> list[Args]:
    return [(6, 2, rng.choice((1, 3)), 6_000), (5, 3, 2, 4_000)]


def _judge_reservoir(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        n, k, mid, trials = (int(a) for a in args)
        if _tally(value, "counts") != {str(n): trials}:
            reasons.append(f"call {i}: count() did not report {n} after {n} adds")
        for what, seen, tally in ((f"call {i} after {mid} adds", mid, _tally(value, "mid")),
                                  (f"call {i} after {n} adds", n, _tally(value))):
            size = min(k, seen)
            subsets = {",".join(map(str, c)) for c in itertools.combinations(range(seen), size)}
            tally, bad = _split_invalid(tally, subsets.__contains__, what)
            reasons += bad or _fit(what, tally, {s: 1 / len(subsets) for s in subsets})
    return reasons


RESERVOIR = ComplexityTask(
    id="nondeterminism.reservoir",
    property="nondeterminism",
    level="multi_function",
    title="Reservoir sampling: a uniform sample of a stream at every point",
    prompt=_RESERVOIR_PROMPT,
    entry_point="_cs_drive_reservoir",
    make_calls=_reservoir_calls,
    check=_safe(_judge_reservoir),
    baseline=HumanBaseline(0.3, 0.9, _ASSUMED,
                           "Assumed: algorithm R is well known to experts; its replacement "
                           "probability k/count is easy to get off by one."),
    reference_solution="""\
import random

class Reservoir:
    def __init__(self, k):
        self.k = k
        self.n = 0
        self.items = []

    def add(self, item):
        self.n += 1
        if len(self.items) < self.k:
            self.items.append(item)
        else:
            j = random.randrange(self.n)
            if j < self.k:
                self.items[j] = item

    def count(self):
        return self.n

    def sample(self):
        return list(self.items)
""",
    wrong_solutions=(
        # Off by one: replaces with probability k/(n+1) instead of k/n.
        """\
import random

class Reservoir:
    def __init__(self, k):
        self.k = k
        self.n = 0
        self.items = []

    def add(self, item):
        self.n += 1
        if len(self.items) < self.k:
            self.items.append(item)
        else:
            j = random.randint(0, self.n)
            if j < self.k:
                self.items[j] = item

    def count(self):
        return self.n

    def sample(self):
        return list(self.items)
""",
        # Replaces a random slot with probability 1/2, whatever the count.
        """\
import random

class Reservoir:
    def __init__(self, k):
        self.k = k
        self.n = 0
        self.items = []

    def add(self, item):
        self.n += 1
        if len(self.items) < self.k:
            self.items.append(item)
        elif random.random() < 0.5:
            self.items[random.randrange(self.k)] = item

    def count(self):
        return self.n

    def sample(self):
        return list(self.items)
""",
        # Keeps the first k items: always a valid sample, never a random one.
        """\
class Reservoir:
    def __init__(self, k):
        self.k = k
        self.n = 0
        self.items = []

    def add(self, item):
        self.n += 1
        if len(self.items) < self.k:
            self.items.append(item)

    def count(self):
        return self.n

    def sample(self):
        return list(self.items)
""",
    ),
    harness=_RESERVOIR_HARNESS,
)


# ------------------------------------------------------------------ multi-function: topological order

_TOPO_PROMPT = """\
Write two Python functions about a directed graph with nodes 0..n-1, given as a list
`edges` of pairs `[u, v]` meaning "u must come before v".

- `ready_nodes(n, edges, done)`: the nodes not in the list `done` all of whose
  predecessors are in `done`, as a sorted list.
- `random_topological_order(n, edges)`: a list of all n nodes in which u comes before v
  for every edge. Build it step by step: at each step choose uniformly at random one of
  the nodes that are ready (as `ready_nodes` defines, given the nodes chosen so far) and
  append it. If the graph has a cycle, raise `ValueError`.

Use the `random` module. Reply with Python code only.
"""

_TOPO_HARNESS = _KEY + '''
def _cs_drive_topo(n, edges, dones, draws):
    ready = []
    for done in dones:
        r = ready_nodes(n, [list(e) for e in edges], list(done))
        ready.append(_cs_key(r))
    tally = {}
    for _ in range(draws):
        try:
            k = _cs_key(random_topological_order(n, [list(e) for e in edges]))
        except ValueError:
            k = "ValueError"
        tally[k] = tally.get(k, 0) + 1
    return {"ready": ready, "tally": tally}
'''


def _ready(n: int, edges: Sequence[Sequence[int]], done: Sequence[int]) -> list[int]:
    finished = set(done)
    return [v for v in range(n) if v not in finished
            and all(u in finished for u, w in edges if w == v)]


def _order_probs(n: int, edges: Sequence[Sequence[int]]) -> dict[str, float]:
    """Every topological order and its probability under the specified process."""
    out: dict[str, float] = {}

    def walk(prefix: list[int], prob: float) -> None:
        if len(prefix) == n:
            out[",".join(map(str, prefix))] = prob
            return
        ready = _ready(n, edges, prefix)
        for v in ready:
            walk(prefix + [v], prob / len(ready))

    walk([], 1.0)
    return out


def _topo_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = []
    while len(calls) < 2:
        n = rng.randint(5, 6)
        labels = rng.sample(range(n), n)
        edges = [[labels[a], labels[b]] for a in range(n) for b in range(a + 1, n)
                 if rng.random() < 0.35]
        probs = _order_probs(n, edges)
        if not 6 <= len(probs) <= 40 or min(probs.values()) < 1 / 150:
            continue
        order = [int(v) for v in rng.choice(sorted(probs)).split(",")]
        dones = [order[:j] for j in range(n + 1)] + [rng.sample(range(n), 2)]
        calls.append((n, edges, dones, 8_000))
    cyc = [[0, 1], [1, 2], [2, 0], [3, 0]]
    calls.append((4, cyc, [[], [3]], 50))
    return calls


def _judge_topo(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        n, edges, dones, _draws = args
        assert isinstance(n, int) and isinstance(edges, list) and isinstance(dones, list)
        ready = value.get("ready") if isinstance(value, dict) else None
        want = [",".join(map(str, _ready(n, edges, d))) for d in dones]
        if ready != want:
            reasons.append(f"call {i}: ready_nodes gave wrong results")
        counts = _tally(value)
        probs = _order_probs(n, edges)
        if not probs:  # a cycle
            if set(counts) != {"ValueError"}:
                reasons.append(f"call {i}: a cyclic graph did not raise ValueError")
            continue
        counts, bad = _split_invalid(counts, probs.__contains__, f"call {i}")
        reasons += bad or _fit(f"call {i}", counts, probs)
    return reasons


_TOPO_READY = """\
def ready_nodes(n, edges, done):
    done = set(done)
    return sorted(v for v in range(n)
                  if v not in done and all(u in done for u, w in edges if w == v))
"""

TOPO = ComplexityTask(
    id="nondeterminism.topological_order",
    property="nondeterminism",
    level="multi_function",
    title="Random topological order, uniform among ready nodes at each step",
    prompt=_TOPO_PROMPT,
    entry_point="_cs_drive_topo",
    make_calls=_topo_calls,
    check=_safe(_judge_topo),
    baseline=HumanBaseline(0.35, 0.9, _ASSUMED,
                           "Assumed: Kahn's algorithm is standard; randomising the choice "
                           "and detecting cycles are the steps novices miss."),
    reference_solution="""\
import random

""" + _TOPO_READY + """
def random_topological_order(n, edges):
    order = []
    while len(order) < n:
        ready = ready_nodes(n, edges, order)
        if not ready:
            raise ValueError("the graph has a cycle")
        order.append(random.choice(ready))
    return order
""",
    wrong_solutions=(
        # Kahn's algorithm, smallest ready node first: valid, but always the same order.
        _TOPO_READY + """
def random_topological_order(n, edges):
    order = []
    while len(order) < n:
        ready = ready_nodes(n, edges, order)
        if not ready:
            raise ValueError("the graph has a cycle")
        order.append(ready[0])
    return order
""",
        # Shuffles the start, then a FIFO queue: valid orders, wrong distribution.
        """\
import random
from collections import deque

""" + _TOPO_READY + """
def random_topological_order(n, edges):
    indegree = [0] * n
    for u, v in edges:
        indegree[v] += 1
    start = [v for v in range(n) if indegree[v] == 0]
    random.shuffle(start)
    queue = deque(start)
    order = []
    while queue:
        u = queue.popleft()
        order.append(u)
        for a, b in edges:
            if a == u:
                indegree[b] -= 1
                if indegree[b] == 0:
                    queue.append(b)
    if len(order) < n:
        raise ValueError("the graph has a cycle")
    return order
""",
    ),
    harness=_TOPO_HARNESS,
)


# ------------------------------------------------------------------ module: maze

_MAZE_PROMPT = """\
Write a Python module for perfect mazes on a grid of `width` x `height` cells; cell
(x, y) has 0 <= x < width, 0 <= y < height, and neighbours differ by 1 in x or in y.

- `generate_maze(width, height)`: a list of passages, each `[x1, y1, x2, y2]` joining two
  neighbouring cells, such that the passages form a spanning tree of the grid (every cell
  reachable from every other in exactly one way). The maze must be a *uniformly random*
  spanning tree: every possible perfect maze of that size equally likely (for example
  Wilson's or the Aldous-Broder algorithm).
- `solve(width, height, passages, start, goal)`: the path through the passages from
  cell `start` to cell `goal` (each `[x, y]`), as a list of `[x, y]` cells beginning with
  `start` and ending with `goal`.

Use the `random` module. Reply with Python code only.
"""

_MAZE_HARNESS = '''
def _cs_maze_key(passages):
    if type(passages) is not list:
        return "?" + type(passages).__name__
    parts = []
    for p in passages:
        if type(p) is not list or len(p) != 4 or not all(type(v) is int for v in p):
            return "?passage"
        a, b = (p[0], p[1]), (p[2], p[3])
        a, b = min(a, b), max(a, b)
        parts.append("%d.%d-%d.%d" % (a + b))
    return "|".join(sorted(parts))


def _cs_drive_maze(width, height, draws, big):
    tally = {}
    for _ in range(draws):
        k = _cs_maze_key(generate_maze(width, height))
        tally[k] = tally.get(k, 0) + 1
    bw, bh = big
    maze = generate_maze(bw, bh)
    key = _cs_maze_key(maze)
    path = None
    if not key.startswith("?"):
        p = solve(bw, bh, [list(q) for q in maze], [0, 0], [bw - 1, bh - 1])
        if type(p) is list and all(type(c) is list and all(type(v) is int for v in c) for c in p):
            path = [list(c) for c in p]
    return {"tally": tally, "big": key, "path": path}
'''


def _maze_edges(width: int, height: int) -> list[str]:
    out = []
    for x in range(width):
        for y in range(height):
            if x + 1 < width:
                out.append(f"{x}.{y}-{x + 1}.{y}")
            if y + 1 < height:
                out.append(f"{x}.{y}-{x}.{y + 1}")
    return out


def _tree_cells(width: int, height: int, key: str) -> dict[tuple[int, int], list[tuple[int, int]]] | None:
    """The adjacency of a valid perfect maze given by its key, else None."""
    if key.startswith("?"):
        return None
    parts = key.split("|") if key else []
    if len(set(parts)) != len(parts) or not set(parts) <= set(_maze_edges(width, height)):
        return None
    if len(parts) != width * height - 1:
        return None
    adj: dict[tuple[int, int], list[tuple[int, int]]] = {
        (x, y): [] for x in range(width) for y in range(height)}
    for part in parts:
        a, b = (tuple(int(v) for v in c.split(".")) for c in part.split("-"))
        adj[(a[0], a[1])].append((b[0], b[1]))
        adj[(b[0], b[1])].append((a[0], a[1]))
    seen, stack = {(0, 0)}, [(0, 0)]
    while stack:
        for nxt in adj[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return adj if len(seen) == width * height else None


def _all_trees(width: int, height: int) -> list[str]:
    edges = _maze_edges(width, height)
    cells = width * height
    return ["|".join(sorted(c)) for c in itertools.combinations(edges, cells - 1)
            if _tree_cells(width, height, "|".join(sorted(c))) is not None]


def _maze_calls(rng: random.Random) -> list[Args]:
    return [(3, 2, 6_000, [rng.randint(6, 9), rng.randint(4, 7)]), (2, 2, 2_000, [5, 5])]


def _judge_maze(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        width, height, _draws, big = args
        assert isinstance(width, int) and isinstance(height, int) and isinstance(big, list)
        trees = _all_trees(width, height)
        counts = _tally(value)
        counts, bad = _split_invalid(counts, set(trees).__contains__,
                                     f"call {i} ({width}x{height})")
        reasons += bad or _fit(f"call {i} ({width}x{height})", counts,
                               {t: 1 / len(trees) for t in trees})
        bw, bh = int(big[0]), int(big[1])
        adj = _tree_cells(bw, bh, str(value.get("big")))
        if adj is None:
            reasons.append(f"call {i}: a {bw}x{bh} maze was not a spanning tree of the grid")
            continue
        path = value.get("path")
        cells = [tuple(c) for c in path] if isinstance(path, list) else []
        ok = (len(cells) >= 1 and cells[0] == (0, 0) and cells[-1] == (bw - 1, bh - 1)
              and len(set(cells)) == len(cells)
              and all(b in adj.get(a, ()) for a, b in zip(cells, cells[1:])))
        if not ok:
            reasons.append(f"call {i}: solve() did not return the path through the maze")
    return reasons


_MAZE_SOLVE = """\
def solve(width, height, passages, start, goal):
    adj = {}
    for x1, y1, x2, y2 in passages:
        adj.setdefault((x1, y1), []).append((x2, y2))
        adj.setdefault((x2, y2), []).append((x1, y1))
    start, goal = tuple(start), tuple(goal)
    parent = {start: None}
    stack = [start]
    while stack:
        cell = stack.pop()
        for nxt in adj.get(cell, []):
            if nxt not in parent:
                parent[nxt] = cell
                stack.append(nxt)
    path = []
    cell = goal
    while cell is not None:
        path.append(list(cell))
        cell = parent[cell]
    return path[::-1]
"""

MAZE = ComplexityTask(
    id="nondeterminism.maze",
    property="nondeterminism",
    level="module",
    title="Uniformly random perfect maze (spanning tree) and its solver",
    prompt=_MAZE_PROMPT,
    entry_point="_cs_drive_maze",
    make_calls=_maze_calls,
    check=_safe(_judge_maze),
    baseline=HumanBaseline(0.1, 0.7, _ASSUMED,
                           "Assumed: a valid maze is routine, but a uniform spanning tree "
                           "needs a specific algorithm that mostly experts know."),
    reference_solution="""\
import random

def generate_maze(width, height):
    # Aldous-Broder: a random walk; the edge of each first visit joins the tree.
    cell = (random.randrange(width), random.randrange(height))
    visited = {cell}
    passages = []
    while len(visited) < width * height:
        x, y = cell
        options = [(x + dx, y + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                   if 0 <= x + dx < width and 0 <= y + dy < height]
        nxt = random.choice(options)
        if nxt not in visited:
            visited.add(nxt)
            passages.append([x, y, nxt[0], nxt[1]])
        cell = nxt
    return passages

""" + _MAZE_SOLVE,
    wrong_solutions=(
        # Randomised depth-first backtracker: a valid maze, but not a uniform one.
        """\
import random

def generate_maze(width, height):
    start = (0, 0)
    visited = {start}
    stack = [start]
    passages = []
    while stack:
        x, y = stack[-1]
        options = [(x + dx, y + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                   if 0 <= x + dx < width and 0 <= y + dy < height
                   and (x + dx, y + dy) not in visited]
        if not options:
            stack.pop()
            continue
        nxt = random.choice(options)
        visited.add(nxt)
        passages.append([x, y, nxt[0], nxt[1]])
        stack.append(nxt)
    return passages

""" + _MAZE_SOLVE,
        # Binary-tree maze: each cell opens north or east at random. Valid, heavily biased.
        """\
import random

def generate_maze(width, height):
    passages = []
    for x in range(width):
        for y in range(height):
            options = []
            if x + 1 < width:
                options.append([x, y, x + 1, y])
            if y + 1 < height:
                options.append([x, y, x, y + 1])
            if options:
                passages.append(random.choice(options))
    return passages

""" + _MAZE_SOLVE,
    ),
    harness=_MAZE_HARNESS,
)


# ------------------------------------------------------------------ module: password generator

_CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "!@#$%^&*")

_PASSWORD_PROMPT = """\
Write a Python module for random passwords over four character classes, defined at module
level as `CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
"0123456789", "!@#$%^&*")`.

- `is_valid(password)`: True when `password` is a str of length >= 4 whose characters all
  come from the classes and that contains at least one character of every class.
- `generate_password(length)`: for `length >= 4`, a password of exactly that length,
  uniformly random among ALL valid passwords of that length (every valid string equally
  likely). Use the `secrets` or `random` module.

Reply with Python code only.
"""

_PASSWORD_HARNESS = '''
def _cs_drive_password(length, draws, probes):
    tally = {}
    for _ in range(draws):
        p = generate_password(length)
        k = p if type(p) is str else "?" + type(p).__name__
        tally[k] = tally.get(k, 0) + 1
    verdicts = []
    for s in probes:
        v = is_valid(s)
        verdicts.append(v if type(v) is bool else None)
    return {"tally": tally, "verdicts": verdicts}
'''


def _class_of(ch: str) -> int:
    return next((j for j, c in enumerate(_CLASSES) if ch in c), -1)


def _is_valid(s: str) -> bool:
    classes = [_class_of(ch) for ch in s]
    return len(s) >= 4 and -1 not in classes and set(classes) == {0, 1, 2, 3}


def _compositions(length: int) -> dict[str, float]:
    """P(number of characters of each class) for a uniform valid password."""
    sizes = [len(c) for c in _CLASSES]
    weights: dict[str, float] = {}
    for counts in itertools.product(range(1, length + 1), repeat=4):
        if sum(counts) == length:
            ways = math.factorial(length)
            for k, s in zip(counts, sizes):
                ways = ways // math.factorial(k) * s ** k
            weights[",".join(map(str, counts))] = float(ways)
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def _password_calls(rng: random.Random) -> list[Args]:
    probes = ["aB3!", "aB3!" * 3, "ab3!", "AB3!", "aBc!", "aB3d", "aB3 ", "aB3", "", "Zz9*x",
              "".join(rng.choice(_CLASSES[j % 4]) for j in range(rng.randint(4, 12)))]
    return [(6, 8_000, probes), (5, 2_000, probes[::-1])]


def _judge_password(calls: Sequence[Args], values: list[Any]) -> list[str]:
    reasons: list[str] = []
    for i, (args, value) in enumerate(zip(calls, values)):
        length, _draws, probes = args
        assert isinstance(length, int) and isinstance(probes, list)
        if value.get("verdicts") != [_is_valid(str(p)) for p in probes]:
            reasons.append(f"call {i}: is_valid() misjudged some strings")
        counts = _tally(value)
        ok = lambda s: len(s) == length and _is_valid(s)  # noqa: E731
        counts, bad = _split_invalid(counts, ok, f"call {i}")
        if bad:
            reasons += bad
            continue
        comps: Counter[str] = Counter()
        first: Counter[str] = Counter()
        chars: list[Counter[str]] = [Counter() for _ in _CLASSES]
        for pw, c in counts.items():
            cls = [_class_of(ch) for ch in pw]
            comps[",".join(str(cls.count(j)) for j in range(4))] += c
            first[str(cls[0])] += c
            for ch, j in zip(pw, cls):
                chars[j][ch] += c
        comp_probs = _compositions(length)
        first_probs = {str(j): sum(p * int(k.split(",")[j]) / length
                                   for k, p in comp_probs.items()) for j in range(4)}
        reasons += _fit(f"call {i}: class counts", dict(comps), comp_probs)
        reasons += _fit(f"call {i}: class of the first character", dict(first), first_probs)
        for j, cls_chars in enumerate(_CLASSES):
            reasons += _fit(f"call {i}: characters of class {j}", dict(chars[j]),
                            {ch: 1 / len(cls_chars) for ch in cls_chars})
    return reasons


PASSWORD = ComplexityTask(
    id="nondeterminism.password",
    property="nondeterminism",
    level="module",
    title="Password generator uniform over all strings meeting the constraints",
    prompt=_PASSWORD_PROMPT,
    entry_point="_cs_drive_password",
    make_calls=_password_calls,
    check=_safe(_judge_password),
    baseline=HumanBaseline(0.2, 0.8, _ASSUMED,
                           "Assumed: most programmers force one character per class, which "
                           "is valid but not uniform; rejection sampling is the expert step."),
    reference_solution="""\
import random

CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
           "0123456789", "!@#$%^&*")
ALPHABET = "".join(CLASSES)


def is_valid(password):
    return (isinstance(password, str) and len(password) >= 4
            and all(ch in ALPHABET for ch in password)
            and all(any(ch in cls for ch in password) for cls in CLASSES))

def generate_password(length):
    while True:  # rejection sampling keeps every valid string equally likely
        candidate = "".join(random.choices(ALPHABET, k=length))
        if is_valid(candidate):
            return candidate
""",
    wrong_solutions=(
        # One character of each class, then the rest, then shuffled: valid, not uniform.
        """\
import random

CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
           "0123456789", "!@#$%^&*")
ALPHABET = "".join(CLASSES)

def is_valid(password):
    return (isinstance(password, str) and len(password) >= 4
            and all(ch in ALPHABET for ch in password)
            and all(any(ch in cls for ch in password) for cls in CLASSES))

def generate_password(length):
    chars = [random.choice(cls) for cls in CLASSES]
    chars += [random.choice(ALPHABET) for _ in range(length - 4)]
    random.shuffle(chars)
    return "".join(chars)
""",
        # The same without the shuffle: the first character is always a lowercase letter.
        """\
import random

CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
           "0123456789", "!@#$%^&*")
ALPHABET = "".join(CLASSES)

def is_valid(password):
    return (isinstance(password, str) and len(password) >= 4
            and all(ch in ALPHABET for ch in password)
            and all(any(ch in cls for ch in password) for cls in CLASSES))

def generate_password(length):
    chars = [random.choice(cls) for cls in CLASSES]
    chars += [random.choice(ALPHABET) for _ in range(length - 4)]
    return "".join(chars)
""",
        # Random characters without enforcing the classes; is_valid forgets the length.
        """\
import random
import string

CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
           "0123456789", "!@#$%^&*")

def is_valid(password):
    return all(any(ch in cls for ch in password) for cls in CLASSES)

def generate_password(length):
    return "".join(random.choice(string.ascii_letters + string.digits + "!@#$%^&*")
                   for _ in range(length))
""",
    ),
    harness=_PASSWORD_HARNESS,
)

TASKS: tuple[ComplexityTask, ...] = (SHUFFLE, WEIGHTED, RESERVOIR, TOPO, MAZE, PASSWORD)
