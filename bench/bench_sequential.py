"""Sequential sampling against the fixed-n design: samples used and error rates.

Pure Python, fixed seed, about half a minute.  Run from the repository root:

    python bench/bench_sequential.py [--runs 10000] [--seed 20240601]

The setting: a hazard with ``max_rate: 0.2`` (exclusive limit L = 0.2), 95% confidence,
one prompt (the samples are independent draws at the true rate p).  Both designs have the
same error targets: a false pass (pass although p >= L) and a false fail (fail although
p < L) each at most (1 - 0.95) / 2 = 2.5%.

* **fixed**: n = N samples, then the gate's Wilson interval decides once.  N is the
  smallest multiple of the batch for which the fixed design reaches the right verdict
  with probability >= 80% at p = 0.15 and at p = 0.25 (a quarter off the limit),
  computed exactly (binomial enumeration).  That is what a user would configure to tell
  such rates apart.
* **sequential**: the same N as the cap, looks after every batch of 8 samples, the gate's
  anytime-valid confidence sequence (``hazard_sampling = sequential``); stops at the first
  pass or fail, else inconclusive at the cap.

Every verdict comes from :func:`pytest_codexsafety.gate.decide` itself: the benchmark
tabulates, for every look, the largest hazardous count that passes and the smallest that
fails (both verdicts are monotone in the count), then simulates.  The sequential rule's
operating characteristics are also computed exactly (dynamic programming over the
count at each look), as a check on the simulation, and so are the fixed design's.

Notes: the sequential rule pays near the limit (at p = 0.15 or 0.25 it decides far less
often within the same cap: the anytime-valid interval is wider than a fixed-n one) and
gains everywhere else.  With the Jeffreys prior Beta(1/2, 1/2) instead of the default
Beta(1/2, 2) the mean at p = 0.1 is about 173 samples (3.0x fewer) instead of about 148.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_codexsafety.gate import GateSettings, decide  # noqa: E402
from pytest_codexsafety.specmodel import Threshold  # noqa: E402
from pytest_codexsafety.vocab import Severity, Verdict  # noqa: E402

LIMIT = 0.2
CONFIDENCE = 0.95
BATCH = 8
POWER_AT = (0.15, 0.25)
POWER = 0.80
RATES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.6)
THRESHOLD = Threshold(max_rate=LIMIT)
FIXED = GateSettings(confidence=CONFIDENCE)
SEQUENTIAL = GateSettings(confidence=CONFIDENCE, sampling="sequential", batch=BATCH)


def _verdict(k: int, n: int, settings: GateSettings) -> Verdict:
    return decide(Severity.CRITICAL, THRESHOLD, hazardous=k, safe=n - k, errors=0, settings=settings).verdict


def boundaries(n: int, settings: GateSettings) -> tuple[int, int]:
    """(largest k that passes or -1, smallest k that fails or n + 1) at n samples."""
    lo, hi = -1, n + 1  # pass for k <= lo; search the last passing k
    a, b = -1, n
    while a < b:  # largest k in [-1, n] with pass (pass is monotone: k small)
        mid = (a + b + 1) // 2
        if _verdict(mid, n, settings) is Verdict.PASS:
            a = mid
        else:
            b = mid - 1
    lo = a
    a, b = 0, n + 1
    while a < b:  # smallest k in [0, n + 1] with fail
        mid = (a + b) // 2
        if _verdict(mid, n, settings) is Verdict.FAIL:
            b = mid
        else:
            a = mid + 1
    hi = a
    return lo, hi


def binom_pmf(n: int, p: float) -> list[float]:
    if p <= 0.0 or p >= 1.0:
        return [1.0 if (k == 0 if p <= 0 else k == n) else 0.0 for k in range(n + 1)]
    lp, lq = math.log(p), math.log1p(-p)
    return [math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq)
            for k in range(n + 1)]


def fixed_characteristics(n: int, p: float, bounds: tuple[int, int]) -> tuple[float, float]:
    pmf = binom_pmf(n, p)
    lo, hi = bounds
    return sum(pmf[: lo + 1]), sum(pmf[hi:])


def choose_fixed_n() -> tuple[int, tuple[int, int]]:
    n = BATCH
    while True:
        bounds = boundaries(n, FIXED)
        p_pass = fixed_characteristics(n, POWER_AT[0], bounds)[0]
        p_fail = fixed_characteristics(n, POWER_AT[1], bounds)[1]
        if p_pass >= POWER and p_fail >= POWER:
            return n, bounds
        n += BATCH


def sequential_exact(p: float, looks: list[tuple[int, int, int]]) -> tuple[float, float, float, float]:
    """Exact P(pass), P(fail), P(inconclusive) and mean samples of the sequential rule."""
    step = binom_pmf(BATCH, p)
    alive = {0: 1.0}
    p_pass = p_fail = mean = 0.0
    drawn_before = 0
    for n, lo, hi in looks:
        nxt: dict[int, float] = {}
        for k, w in alive.items():
            for j, q in enumerate(step):
                if q:
                    nxt[k + j] = nxt.get(k + j, 0.0) + w * q
        alive = {}
        for k, w in nxt.items():
            if k <= lo:
                p_pass += w
                mean += w * n
            elif k >= hi:
                p_fail += w
                mean += w * n
            else:
                alive[k] = w
        drawn_before = n
    rest = sum(alive.values())
    mean += rest * drawn_before
    return p_pass, p_fail, rest, mean


def simulate(p: float, runs: int, rng: random.Random, looks: list[tuple[int, int, int]],
             fixed_n: int, fixed_bounds: tuple[int, int]) -> dict[str, float]:
    seq = {"pass": 0, "fail": 0, "inconclusive": 0}
    fixed = {"pass": 0, "fail": 0, "inconclusive": 0}
    used = 0
    draw = rng.random
    for _ in range(runs):
        k = 0
        verdict = "inconclusive"
        n_used = fixed_n
        stopped = False
        drawn = 0
        for n, lo, hi in looks:
            k += sum(1 for _ in range(n - drawn) if draw() < p)
            drawn = n
            if not stopped:
                if k <= lo:
                    verdict, n_used, stopped = "pass", n, True
                elif k >= hi:
                    verdict, n_used, stopped = "fail", n, True
            if stopped:
                break
        seq[verdict] += 1
        used += n_used
        # The fixed design sees its own N draws: continue this path to N (same samples
        # up to the stop, fresh ones after: still N independent draws).
        k += sum(1 for _ in range(fixed_n - drawn) if draw() < p)
        lo_f, hi_f = fixed_bounds
        fixed["pass" if k <= lo_f else "fail" if k >= hi_f else "inconclusive"] += 1
    out = {f"seq_{v}": c / runs for v, c in seq.items()}
    out.update({f"fixed_{v}": c / runs for v, c in fixed.items()})
    out["seq_mean"] = used / runs
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10000, help="simulated runs per true rate")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    started = time.perf_counter()
    fixed_n, fixed_bounds = choose_fixed_n()
    looks = [(n, *boundaries(n, SEQUENTIAL)) for n in range(BATCH, fixed_n + 1, BATCH)]
    rng = random.Random(args.seed)
    target = (1.0 - CONFIDENCE) / 2.0
    print(f"limit {LIMIT:g} (exclusive), confidence {CONFIDENCE:g}: error target per direction "
          f"{target:.1%}; fixed n = {fixed_n} (power >= {POWER:.0%} at {POWER_AT[0]:g} and "
          f"{POWER_AT[1]:g}); sequential: cap {fixed_n}, batches of {BATCH}; {args.runs} runs "
          f"per rate, seed {args.seed}")
    print("fixed design decides at n: pass if hazardous <= "
          f"{fixed_bounds[0]}, fail if >= {fixed_bounds[1]}")
    first_pass = next(n for n, lo, _ in looks if lo >= 0)
    first_fail = next(n for n, _, hi in looks if hi <= n)
    print(f"sequential: earliest pass at n = {first_pass} (0 hazardous), earliest fail at n = {first_fail}")
    header = (f"{'p':>5} | {'fixed n':>7} {'pass':>6} {'fail':>6} {'inc':>6} | {'seq mean n':>10} "
              f"{'fewer':>6} {'pass':>6} {'fail':>6} {'inc':>6} | {'false verdict: seq sim':>22} "
              f"{'seq exact':>9} {'fixed sim':>9} {'fixed exact':>11}")
    print(header)
    print("-" * len(header))
    worst_seq = 0.0
    for p in RATES:
        sim = simulate(p, args.runs, rng, looks, fixed_n, fixed_bounds)
        e_pass, e_fail, e_inc, e_mean = sequential_exact(p, looks)
        wrong = "pass" if p >= LIMIT else "fail"
        seq_false = sim[f"seq_{wrong}"]
        exact_false = e_pass if wrong == "pass" else e_fail
        worst_seq = max(worst_seq, exact_false)
        f_pass, f_fail = fixed_characteristics(fixed_n, p, fixed_bounds)
        fixed_exact = f_pass if wrong == "pass" else f_fail
        print(f"{p:>5.2f} | {fixed_n:>7d} {sim['fixed_pass']:>6.1%} {sim['fixed_fail']:>6.1%} "
              f"{sim['fixed_inconclusive']:>6.1%} | {sim['seq_mean']:>10.1f} {fixed_n / sim['seq_mean']:>5.1f}x "
              f"{sim['seq_pass']:>6.1%} {sim['seq_fail']:>6.1%} {sim['seq_inconclusive']:>6.1%} | "
              f"{('false ' + wrong + ' ' + format(seq_false, '.2%')):>22} {exact_false:>9.3%} "
              f"{sim['fixed_' + wrong]:>9.2%} {fixed_exact:>11.3%}")
    print(f"worst exact false-verdict rate of the sequential rule: {worst_seq:.3%} (target <= {target:.1%})")
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
