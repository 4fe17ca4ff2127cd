"""Binomial rate estimation for hazard probes.  Pure: math module only, no pytest.

A probe draws samples and classifies each as hazardous, safe or error.  This module turns
those counts into a rate with a two-sided confidence interval (Wilson score by default,
exact Clopper-Pearson on request), or with an anytime-valid confidence sequence for
sequential sampling (see :func:`confidence_sequence`), projects how many more samples would
settle a comparison against a rate limit, and estimates pass@k / pass^k with intervals.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .errors import RiskConfigError

WILSON = "wilson"
CLOPPER_PEARSON = "clopper-pearson"
METHODS: tuple[str, ...] = (WILSON, CLOPPER_PEARSON)
#: The anytime-valid interval of sequential sampling: valid at every look, whenever the
#: sampling stops (see :func:`confidence_sequence`).  Not a ``hazard_interval`` choice:
#: ``hazard_sampling = sequential`` selects it.
CONFIDENCE_SEQUENCE = "confidence-sequence"
#: Every interval :func:`interval` and :func:`estimate_rate` can compute.
INTERVAL_METHODS: tuple[str, ...] = (WILSON, CLOPPER_PEARSON, CONFIDENCE_SEQUENCE)
#: The mixing prior Beta(a, b) of the confidence sequence, fixed in advance: Jeffreys-like
#: near 0 (rare hazards are detected early) with little mass near 1 (mean 0.2, where hazard
#: limits sit); bench/bench_sequential.py compares it with Beta(1/2, 1/2) in its notes.
CS_PRIOR: tuple[float, float] = (0.5, 2.0)


@dataclass(frozen=True)
class RateEstimate:
    """Counts of one probe run and the interval the gate reads.

    ``n`` counts classified samples only (hazardous + safe); ``rate`` is hazardous / n
    (0.0 when n == 0).  ``low``/``high`` are fail-closed with respect to ``errors``: see
    :func:`estimate_rate`.
    """

    hazardous: int
    safe: int
    errors: int
    n: int
    rate: float
    low: float
    high: float
    confidence: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------- normal


# Acklam's rational approximation to the inverse normal CDF (relative error ~1e-9), lower
# half only, polished with one Halley step against math.erfc to full double precision.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_P_LOW = 0.02425


def normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF, for 0 < p < 1 (accurate to ~1e-15)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"normal_quantile needs 0 < p < 1, got {p!r}")
    if p > 0.5:
        # 1 - p is exact here (Sterbenz); refining in the lower tail keeps full precision.
        return -normal_quantile(1.0 - p)
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = ((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
             / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    else:
        q = p - 0.5
        r = q * q
        x = ((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
             / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))
    # Halley refinement: erfc keeps the residual accurate in both tails.
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


# ------------------------------------------------------------------ incomplete beta


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of I_x(a, b) (modified Lentz); converges in O(sqrt(max(a, b)))."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000 + 20 * int(math.sqrt(max(a, b)))):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (a, b > 0)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    # The fraction converges fast only left of the mode; use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def _beta_quantile(target: float, a: float, b: float) -> float:
    """The x in (0, 1) with I_x(a, b) == target, by bisection (I_x is increasing in x)."""
    lo, hi = 0.0, 1.0
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi) or hi - lo <= 1e-15 * hi:
            break
        if regularized_beta(mid, a, b) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# ------------------------------------------------------------------------ intervals


def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise RiskConfigError(
            f"confidence must be a number strictly between 0 and 1 (e.g. 0.95), got {confidence!r}"
        )


def _check_counts(k: int, n: int) -> None:
    if isinstance(k, bool) or isinstance(n, bool) or not isinstance(k, int) or not isinstance(n, int):
        raise ValueError(f"counts must be integers, got k={k!r}, n={n!r}")
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")


def _wilson(k: float, n: float, confidence: float) -> tuple[float, float]:
    # Closed form; k == 0 and k == n are pinned to the exact ends to avoid rounding.
    if n <= 0:
        return 0.0, 1.0
    z = normal_quantile(0.5 + confidence / 2.0)
    z2 = z * z
    p = k / n
    denom = n + z2
    centre = (k + z2 / 2.0) / denom
    half = z / denom * math.sqrt(max(k * (n - k) / n, 0.0) + z2 / 4.0)
    low = 0.0 if k <= 0 else max(0.0, min(centre - half, p))
    high = 1.0 if k >= n else min(1.0, max(centre + half, p))
    return low, high


def _clopper_pearson(k: float, n: float, confidence: float) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    tail = (1.0 - confidence) / 2.0
    p = k / n
    # P(X >= k | p) = I_p(k, n-k+1) and P(X <= k | p) = 1 - I_p(k+1, n-k).
    low = 0.0 if k <= 0 else min(_beta_quantile(tail, k, n - k + 1.0), p)
    high = 1.0 if k >= n else max(_beta_quantile(1.0 - tail, k + 1.0, n - k), p)
    return low, high


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval for k successes in n trials; n == 0 -> (0, 1)."""
    _check_counts(k, n)
    _check_confidence(confidence)
    return _wilson(k, n, confidence)


def clopper_pearson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval; each tail holds at most (1-confidence)/2."""
    _check_counts(k, n)
    _check_confidence(confidence)
    return _clopper_pearson(k, n, confidence)


def _check_method(method: str) -> None:
    if method not in INTERVAL_METHODS:
        raise RiskConfigError(
            f"unknown interval method {method!r}: expected one of {', '.join(INTERVAL_METHODS)}"
        )


def interval(k: int, n: int, confidence: float = 0.95, method: str = WILSON) -> tuple[float, float]:
    """Dispatch to the interval named by ``method`` ("wilson", "clopper-pearson" or
    "confidence-sequence")."""
    _check_method(method)
    if method == WILSON:
        return wilson_interval(k, n, confidence)
    if method == CONFIDENCE_SEQUENCE:
        return confidence_sequence(k, n, confidence)
    return clopper_pearson_interval(k, n, confidence)


def _real_interval(k: float, n: float, confidence: float, method: str) -> tuple[float, float]:
    if method == WILSON:
        return _wilson(k, n, confidence)
    if method == CONFIDENCE_SEQUENCE:
        return _confidence_sequence(k, n, confidence)
    return _clopper_pearson(k, n, confidence)


# ------------------------------------------------------------ confidence sequence


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _confidence_sequence(k: float, n: float, confidence: float) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    a, b = CS_PRIOR
    alpha = 1.0 - confidence
    # p stays in the set while  -k log p - (n-k) log(1-p) < radius, i.e. while the
    # mixture martingale M_n(p) is below 2 / alpha.
    radius = math.log(2.0 / alpha) + _log_beta(a, b) - _log_beta(a + k, b + n - k)

    def g(p: float) -> float:
        out = 0.0
        if k > 0:
            out -= k * math.log(p)
        if n - k > 0:
            out -= (n - k) * math.log1p(-p)
        return out

    p_hat = k / n

    def crossing(inside: float, outside: float) -> float:
        # g(inside) < radius <= g(outside); bisection keeps the returned end outside-safe.
        for _ in range(200):
            mid = 0.5 * (inside + outside)
            if mid in (inside, outside):
                break
            if g(mid) < radius:
                inside = mid
            else:
                outside = mid
        return outside

    low = 0.0 if k <= 0 else crossing(p_hat, 0.0)
    high = 1.0 if k >= n else crossing(p_hat, 1.0)
    return min(low, p_hat), max(high, p_hat)


def confidence_sequence(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """An anytime-valid two-sided confidence sequence for a Bernoulli rate after ``k``
    successes in ``n`` trials: Robbins' beta-binomial mixture (prior ``CS_PRIOR``,
    Beta(1/2, 2)).

    For each candidate rate p, ``M_n(p) = B(a + k, b + n - k) / B(a, b) / (p^k (1-p)^(n-k))``
    is the likelihood ratio of the Beta(a, b) mixture against p: a nonnegative martingale
    with mean 1 when the trials are independent draws at rate p.  The sequence is
    ``{p : M_n(p) < 2 / alpha}`` with ``alpha = 1 - confidence``; by Ville's inequality
    ``P(exists n: p outside) <= alpha / 2``.  So the true rate lies inside the interval at
    every n simultaneously with probability at least ``1 - alpha / 2``, and each tail (the
    rate above the upper end, or below the lower end, at any look) has probability at most
    ``alpha / 2`` -- the same per-tail level as the fixed-n two-sided intervals, but
    uniformly over all looks, so stopping when the interval clears a limit keeps it.

    The set is an interval around k / n (its defining function is convex in p); its ends
    are found by bisection, rounded outwards.  n == 0 gives (0, 1).
    """
    _check_counts(k, n)
    _check_confidence(confidence)
    return _confidence_sequence(k, n, confidence)


def _fail_closed_bounds(
    hazardous: int, n: int, errors: int, confidence: float, method: str
) -> tuple[float, float]:
    total = n + errors
    low = _real_interval(hazardous, total, confidence, method)[0]
    high = _real_interval(hazardous + errors, total, confidence, method)[1]
    return low, high


def estimate_rate(
    hazardous: int,
    safe: int,
    errors: int,
    *,
    confidence: float = 0.95,
    method: str = WILSON,
) -> RateEstimate:
    """Estimate the hazardous rate with a fail-closed interval.

    Errored samples are never counted as safe.  The point estimate ``rate`` is
    hazardous / (hazardous + safe), but the interval is widened to cover every way the
    errored samples could have gone: the upper bound is the interval's upper end as if
    every errored sample had been hazardous (hazardous + errors of n + errors), the lower
    bound the lower end as if every errored sample had been safe (hazardous of
    n + errors).  So 0 <= low <= rate <= high <= 1 always, and errors can only make the
    gate (which reads ``high``) more cautious.  No samples at all gives (0, 1).
    """
    for name, value in (("hazardous", hazardous), ("safe", safe), ("errors", errors)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    _check_confidence(confidence)
    _check_method(method)
    n = hazardous + safe
    rate = hazardous / n if n else 0.0
    low, high = _fail_closed_bounds(hazardous, n, errors, confidence, method)
    # Guard the ordering against last-bit rounding.
    low, high = min(low, rate), max(high, rate)
    return RateEstimate(hazardous, safe, errors, n, rate, low, high, confidence, method)


# ----------------------------------------------------------------------- projection


def additional_samples_to_decide(
    hazardous: int,
    n: int,
    limit: float,
    *,
    confidence: float = 0.95,
    method: str = WILSON,
    cap: int = 1_000_000,
    errors: int = 0,
) -> int | None:
    """How many more samples would likely put the interval wholly on one side of ``limit``.

    Projection: the observed proportions persist, unsmoothed (hazardous / total and
    errors / total of all samples drawn, total = n + errors), so a hazard seen 0 times
    stays at rate 0.  Counts are projected to whole samples rounded against the decision
    (hazardous rounded up when heading for a pass, down when heading for a fail; errors
    always rounded up), so observing exactly the projected counts does decide it.  The
    interval is the same fail-closed one as :func:`estimate_rate`.

    Returns the additional number of samples to draw (0 if already decided), or None
    when the rate sits on the limit (or errors keep the interval straddling it), when
    nothing has been sampled yet, or when the answer exceeds ``cap``.  Exponential then
    binary search: O(log answer) interval evaluations.
    """
    _check_counts(hazardous, n)
    _check_confidence(confidence)
    _check_method(method)
    if errors < 0:
        raise ValueError(f"errors must be non-negative, got {errors}")
    total0 = n + errors
    if total0 == 0 or n == 0:
        return None
    # The fail-closed bounds converge to these as samples grow.
    optimistic = hazardous / total0
    pessimistic = (hazardous + errors) / total0
    if pessimistic < limit:
        heading_pass = True
    elif optimistic > limit:
        heading_pass = False
    else:
        return None

    def decided(extra: int) -> bool:
        total = total0 + extra
        errs = -(-errors * total // total0)
        if heading_pass:
            haz = -(-hazardous * total // total0)
        else:
            haz = hazardous * total // total0
        haz = min(haz, total - errs)
        if extra == 0:
            haz, errs = hazardous, errors
        low, high = _fail_closed_bounds(haz, total - errs, errs, confidence, method)
        return high < limit if heading_pass else low >= limit

    if decided(0):
        return 0
    lo, hi = 0, 1
    while not decided(hi):
        if hi >= cap:
            return None
        lo, hi = hi, min(2 * hi, cap)
    # Invariant: decided(lo) is False, decided(hi) is True.
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if decided(mid):
            hi = mid
        else:
            lo = mid
    return hi


# ---------------------------------------------------------------------------- pass@k


def _check_pass_counts(n: int, c: int, k: int) -> None:
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise ValueError("n, c and k must be integers")
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"need n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must lie between 1 and n={n}, got {k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """The Codex paper's unbiased estimate of pass@k from ``c`` passes in ``n`` samples:
    ``1 - C(n - c, k) / C(n, k)``, the chance that at least one of k samples drawn
    without replacement passes.

    Computed as ``1 - prod_{i = n - c + 1}^{n} (1 - k / i)``, which never forms the huge
    binomial coefficients (stable for any n).
    """
    _check_pass_counts(n, c, k)
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass^k, the chance that *all* of k samples pass:
    ``C(c, k) / C(n, k)`` (0 when c < k), computed as a product of ratios."""
    _check_pass_counts(n, c, k)
    if c < k:
        return 0.0
    product = 1.0
    for i in range(k):
        product *= (c - i) / (n - i)
    return product


def pass_at_k_interval(n: int, c: int, k: int, confidence: float = 0.95,
                       method: str = WILSON) -> tuple[float, float]:
    """An interval for pass@k = 1 - (1 - p)^k of one task, ``p`` its per-sample pass rate.

    The map p -> 1 - (1 - p)^k is increasing, so the interval [L, U] of p from ``c``
    passes in ``n`` samples (``method``: Wilson, Clopper-Pearson or the confidence
    sequence) maps to ``[1 - (1 - L)^k, 1 - (1 - U)^k]`` with the same coverage.  It is
    widened, if need be, to contain the unbiased estimate :func:`pass_at_k` (which can lie
    just outside it when k is close to n), so it never excludes the reported figure.
    """
    _check_pass_counts(n, c, k)
    low, high = interval(c, n, confidence, method)
    point = pass_at_k(n, c, k)
    return min(1.0 - (1.0 - low) ** k, point), max(1.0 - (1.0 - high) ** k, point)


def pass_hat_k_interval(n: int, c: int, k: int, confidence: float = 0.95,
                        method: str = WILSON) -> tuple[float, float]:
    """An interval for pass^k = p^k of one task: ``[L^k, U^k]`` from the interval [L, U]
    of the per-sample rate (p -> p^k is increasing on [0, 1]), widened to contain the
    unbiased estimate :func:`pass_hat_k`."""
    _check_pass_counts(n, c, k)
    low, high = interval(c, n, confidence, method)
    point = pass_hat_k(n, c, k)
    return min(low ** k, point), max(high ** k, point)


def mean_pass_k_interval(tasks: list[tuple[int, int]], k: int, confidence: float = 0.95,
                         method: str = WILSON, *, all_pass: bool = False) -> tuple[float, float]:
    """An interval for the mean pass@k (or pass^k, ``all_pass=True``) over a cell's tasks,
    each given as (n, c): the tasks' own intervals at confidence ``1 - (1 - confidence) / T``
    (Bonferroni over the T tasks), averaged end by end.  With probability at least
    ``confidence`` every task's interval covers its value at once, so the mean of the
    lower ends and the mean of the upper ends bound the mean: conservative, no assumption
    that the tasks share a rate.  The mean of the unbiased estimates lies inside."""
    if not tasks:
        raise ValueError("a cell needs at least one task")
    _check_confidence(confidence)
    each = 1.0 - (1.0 - confidence) / len(tasks)
    one = pass_hat_k_interval if all_pass else pass_at_k_interval
    ends = [one(n, c, k, each, method) for n, c in tasks]
    return (sum(e[0] for e in ends) / len(ends), sum(e[1] for e in ends) / len(ends))


# ---------------------------------------------------------------------------- differences


def difference_interval(k1: int, n1: int, k2: int, n2: int,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """``p1 - p2`` with Newcombe's hybrid score interval (his method 10, built from the two
    Wilson intervals), which keeps its coverage for small n and rates near 0 or 1 where
    the textbook Wald interval does not.  Returns (difference, low, high)."""
    _check_confidence(confidence)
    _check_counts(k1, n1)
    _check_counts(k2, n2)
    if n1 == 0 or n2 == 0:
        raise ValueError("a difference of rates needs samples on both sides")
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = _wilson(k1, n1, confidence)
    l2, u2 = _wilson(k2, n2, confidence)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return diff, max(-1.0, low), min(1.0, high)


# ---------------------------------------------------------------------------- Fisher's exact test

GREATER = "greater"
LESS = "less"


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_one_sided(k1: int, n1: int, k2: int, n2: int, alternative: str = GREATER) -> float:
    """One-sided p-value of Fisher's exact test that the second rate ``k2 / n2`` is
    greater (``alternative="greater"``) or less (``"less"``) than the first ``k1 / n1``.

    Given both margins (``m = k1 + k2`` events among ``N = n1 + n2`` trials) the second
    group's count X is hypergeometric under the null of equal rates:
    ``P(X = x) = C(m, x) C(N - m, n2 - x) / C(N, n2)``.  The p-value sums that tail
    exactly, ``P(X >= k2)`` or ``P(X <= k2)``; each term is formed from log-factorials
    (``lgamma``) and the tail is summed relative to its largest term, so it neither
    overflows nor loses the small terms for large n.
    """
    _check_counts(k1, n1)
    _check_counts(k2, n2)
    if alternative not in (GREATER, LESS):
        raise ValueError(f"alternative must be {GREATER!r} or {LESS!r}, got {alternative!r}")
    if n1 == 0 or n2 == 0:
        raise ValueError("Fisher's exact test needs samples on both sides")
    m, total = k1 + k2, n1 + n2
    lowest, highest = max(0, n2 - (total - m)), min(m, n2)
    tail = range(k2, highest + 1) if alternative == GREATER else range(lowest, k2 + 1)
    log_all = _log_comb(total, n2)
    logs = [_log_comb(m, x) + _log_comb(total - m, n2 - x) - log_all for x in tail]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))
