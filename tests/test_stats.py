"""Unit and property tests of pytest_codexsafety.stats (rate estimation)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codexsafety import stats
from pytest_codexsafety.errors import RiskConfigError
from pytest_codexsafety.stats import (
    RateEstimate,
    additional_samples_to_decide,
    clopper_pearson_interval,
    estimate_rate,
    interval,
    normal_quantile,
    regularized_beta,
    wilson_interval,
)

Z95 = 1.959963984540054  # published 97.5% normal quantile
METHODS = ("wilson", "clopper-pearson")


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) by direct enumeration: an independent reference for small n."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) by direct enumeration."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def wilson_reference(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# ------------------------------------------------------------------ normal quantile


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.5, 0.0),
        (0.975, 1.959963984540054),
        (0.95, 1.6448536269514722),
        (0.995, 2.5758293035489004),
        (0.025, -1.959963984540054),
        (0.8413447460685429, 1.0),
        (1e-10, -6.361340902404056),
    ],
)
def test_normal_quantile_known_values(p: float, expected: float) -> None:
    assert normal_quantile(p) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("p", [1e-300, 1e-12, 0.001, 0.02, 0.0243, 0.0245, 0.3, 0.7, 0.97, 0.9999])
def test_normal_quantile_inverts_the_cdf(p: float) -> None:
    x = normal_quantile(p)
    assert 0.5 * math.erfc(-x / math.sqrt(2)) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize("e", [1, 3, 10, 33, 52])
def test_normal_quantile_is_antisymmetric(e: int) -> None:
    q = 2.0**-e  # 1 - q is exact in binary
    assert normal_quantile(1 - q) == pytest.approx(-normal_quantile(q), abs=1e-12)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_normal_quantile_rejects_outside_open_unit_interval(p: float) -> None:
    with pytest.raises(ValueError):
        normal_quantile(p)


# -------------------------------------------------------------------------- Wilson


def test_wilson_zero_of_ten() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.27753, abs=1e-5)
    assert high == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(1, 10), (5, 10), (3, 15), (37, 200), (999, 1000), (1, 1)])
def test_wilson_matches_textbook_formula(k: int, n: int) -> None:
    assert wilson_interval(k, n) == pytest.approx(wilson_reference(k, n), abs=1e-12)


def test_wilson_five_of_ten_published() -> None:
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_wilson_other_confidence() -> None:
    z = 2.5758293035489004
    assert wilson_interval(4, 40, 0.99) == pytest.approx(wilson_reference(4, 40, z), abs=1e-12)


def test_wilson_no_samples_is_uninformative() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_all_hazardous_reaches_one() -> None:
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(10 / (10 + Z95**2), abs=1e-12)


# ----------------------------------------------------------------- Clopper-Pearson


def test_clopper_pearson_zero_of_ten() -> None:
    low, high = clopper_pearson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.30849, abs=1e-5)
    assert high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)


def test_clopper_pearson_published_values() -> None:
    # R: binom.test(3, 10)$conf.int
    assert clopper_pearson_interval(3, 10) == pytest.approx((0.06673951, 0.65245285), abs=1e-8)
    # R: binom.test(10, 10)$conf.int
    assert clopper_pearson_interval(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0), abs=1e-12)


@pytest.mark.parametrize("n", range(1, 16))
def test_clopper_pearson_tails_by_enumeration(n: int) -> None:
    for conf in (0.9, 0.95, 0.99):
        tail = (1 - conf) / 2
        for k in range(n + 1):
            low, high = clopper_pearson_interval(k, n, conf)
            if k == 0:
                assert low == 0.0
            else:
                assert binom_sf(k, n, low) == pytest.approx(tail, abs=1e-10)
            if k == n:
                assert high == 1.0
            else:
                assert binom_cdf(k, n, high) == pytest.approx(tail, abs=1e-10)


@pytest.mark.parametrize("n", [1, 2, 7, 20, 60])
def test_regularized_beta_is_a_binomial_tail(n: int) -> None:
    for k in range(1, n + 1):
        for p in (0.001, 0.1, 0.37, 0.5, 0.9):
            assert regularized_beta(p, k, n - k + 1) == pytest.approx(binom_sf(k, n, p), abs=1e-12)


def test_regularized_beta_edges() -> None:
    assert regularized_beta(0.0, 2, 3) == 0.0
    assert regularized_beta(1.0, 2, 3) == 1.0
    assert regularized_beta(0.5, 40.0, 40.0) == pytest.approx(0.5, abs=1e-14)


def test_clopper_pearson_large_n_is_close_to_wilson() -> None:
    cp = clopper_pearson_interval(5000, 100_000)
    wi = wilson_interval(5000, 100_000)
    assert cp == pytest.approx(wi, abs=2e-5)
    assert cp[0] < 0.05 < cp[1]


def _coverage(n: int, p: float, method: str) -> float:
    total = 0.0
    for k in range(n + 1):
        low, high = interval(k, n, 0.95, method)
        if low <= p <= high:
            total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
    return total


@pytest.mark.parametrize("n", [10, 30, 50, 100])
@pytest.mark.parametrize("p", [0.01, 0.05, 0.1, 0.3, 0.5])
def test_clopper_pearson_coverage_is_at_least_nominal(n: int, p: float) -> None:
    assert _coverage(n, p, "clopper-pearson") >= 0.95


def test_wilson_coverage_is_near_nominal() -> None:
    grid = [(n, p) for n in (10, 30, 50, 100) for p in (0.01, 0.05, 0.1, 0.3, 0.5)]
    covs = [_coverage(n, p, "wilson") for n, p in grid]
    # Wilson is approximate: it dips below nominal for rare events, never far.
    assert min(covs) >= 0.90
    assert sum(covs) / len(covs) >= 0.94


# ------------------------------------------------------------------ dispatch, input


def test_interval_dispatches() -> None:
    assert interval(3, 10, 0.95, "wilson") == wilson_interval(3, 10)
    assert interval(3, 10, 0.95, "clopper-pearson") == clopper_pearson_interval(3, 10)


def test_interval_rejects_unknown_method() -> None:
    with pytest.raises(RiskConfigError, match="unknown interval method 'jeffreys'.*wilson, clopper-pearson"):
        interval(1, 10, 0.95, "jeffreys")


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, -0.5, float("nan")])
def test_bad_confidence_is_a_config_error(confidence: float) -> None:
    with pytest.raises(RiskConfigError, match="confidence"):
        wilson_interval(1, 10, confidence)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, -1), (True, 2)])
def test_bad_counts_raise_value_error(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        clopper_pearson_interval(k, n)


# ------------------------------------------------------------------- estimate_rate


@pytest.mark.parametrize("method", METHODS)
def test_estimate_without_errors_is_the_plain_interval(method: str) -> None:
    est = estimate_rate(3, 27, 0, method=method)
    assert (est.n, est.rate) == (30, 0.1)
    assert (est.low, est.high) == interval(3, 30, 0.95, method)
    assert (est.confidence, est.method) == (0.95, method)


@pytest.mark.parametrize("method", METHODS)
def test_estimate_is_fail_closed_for_errors(method: str) -> None:
    est = estimate_rate(2, 38, 5, method=method)
    assert est.n == 40
    assert est.rate == 2 / 40
    # High as if the 5 errors were hazardous, low as if they were safe.
    assert est.high == interval(7, 45, 0.95, method)[1]
    assert est.low == interval(2, 45, 0.95, method)[0]
    no_errors = estimate_rate(2, 38, 0, method=method)
    assert est.high > no_errors.high
    assert est.low <= no_errors.low


def test_estimate_no_classified_samples() -> None:
    est = estimate_rate(0, 0, 4)
    assert (est.n, est.rate, est.low, est.high) == (0, 0.0, 0.0, 1.0)
    est = estimate_rate(0, 0, 0)
    assert (est.n, est.rate, est.low, est.high) == (0, 0.0, 0.0, 1.0)


def test_estimate_to_dict() -> None:
    d = estimate_rate(1, 9, 1, confidence=0.9).to_dict()
    assert set(d) == {"hazardous", "safe", "errors", "n", "rate", "low", "high", "confidence", "method"}
    assert d["confidence"] == 0.9 and d["method"] == "wilson" and d["errors"] == 1


def test_estimate_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="errors"):
        estimate_rate(1, 2, -1)
    with pytest.raises(RiskConfigError):
        estimate_rate(1, 2, 0, method="exact")


def test_rate_estimate_is_frozen() -> None:
    est = estimate_rate(1, 1, 0)
    assert isinstance(est, RateEstimate)
    with pytest.raises(AttributeError):
        est.rate = 0.0  # type: ignore[misc]


# --------------------------------------------------------------------- projection


def test_additional_samples_zero_hazardous() -> None:
    # Independently: with k = 0 the Wilson upper bound is z^2 / (T + z^2), below 1% once
    # T > 99 z^2 = 380.3, i.e. T = 381 = 300 + 81.
    assert additional_samples_to_decide(0, 300, 0.01) == 81
    assert wilson_interval(0, 381)[1] < 0.01 <= wilson_interval(0, 380)[1]


def test_additional_samples_zero_hazardous_clopper_pearson() -> None:
    m = additional_samples_to_decide(0, 100, 0.01, method="clopper-pearson")
    assert m is not None
    # k = 0: upper = 1 - 0.025^(1/T) < 0.01  <=>  T > ln 0.025 / ln 0.99 = 367.03
    assert 100 + m == 368


def test_additional_samples_already_decided() -> None:
    assert additional_samples_to_decide(0, 1000, 0.05) == 0
    assert additional_samples_to_decide(50, 100, 0.05) == 0


@pytest.mark.parametrize("method", METHODS)
def test_additional_samples_heading_to_fail_is_minimal(method: str) -> None:
    m = additional_samples_to_decide(3, 15, 0.1, method=method)
    assert m is not None and m > 0
    for extra, decided in ((m, True), (m - 1, False)):
        total = 15 + extra
        k = 3 * total // 15  # projected at 20%, rounded down
        assert (estimate_rate(k, total - k, 0, method=method).low >= 0.1) is decided


def test_additional_samples_with_errors_projects_errors_too() -> None:
    m = additional_samples_to_decide(0, 200, 0.02, errors=2)
    assert m is not None
    total = 202 + m
    errs = -(-2 * total // 202)
    assert estimate_rate(0, total - errs, errs).high < 0.02
    # The errors make it need more than a clean run would.
    clean = additional_samples_to_decide(0, 202, 0.02)
    assert clean is not None and m > clean


def test_additional_samples_undecidable() -> None:
    assert additional_samples_to_decide(1, 100, 0.01) is None  # rate equals the limit
    assert additional_samples_to_decide(0, 0, 0.01) is None  # nothing observed
    assert additional_samples_to_decide(0, 0, 0.01, errors=3) is None
    # Errors alone straddle the limit: 1/110 < 1% <= 11/110.
    assert additional_samples_to_decide(1, 100, 0.01, errors=10) is None


def test_additional_samples_respects_cap() -> None:
    assert additional_samples_to_decide(0, 300, 0.01, cap=80) is None
    assert additional_samples_to_decide(0, 300, 0.01, cap=81) == 81


def test_additional_samples_is_a_logarithmic_search(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = stats._fail_closed_bounds

    def counting(*args: object) -> tuple[float, float]:
        nonlocal calls
        calls += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(stats, "_fail_closed_bounds", counting)
    m = additional_samples_to_decide(10, 1000, 0.0105)
    assert m is not None and m > 100_000
    assert calls < 2 * math.log2(m) + 5


# ------------------------------------------------------------------------ properties


@st.composite
def counts(draw: st.DrawFn) -> tuple[int, int, int]:
    n = draw(st.integers(0, 3000))
    k = draw(st.integers(0, n))
    e = draw(st.integers(0, 300))
    return k, n - k, e


@settings(max_examples=300, deadline=None)
@given(counts(), st.sampled_from(METHODS), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_bounds_are_ordered(c: tuple[int, int, int], method: str, confidence: float) -> None:
    k, safe, errors = c
    est = estimate_rate(k, safe, errors, confidence=confidence, method=method)
    assert 0.0 <= est.low <= est.rate <= est.high <= 1.0
    low, high = interval(k, k + safe, confidence, method)
    assert 0.0 <= low <= high <= 1.0
    if k + safe:
        assert low <= k / (k + safe) <= high


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(METHODS))
def test_intervals_narrow_as_n_grows(k: int, extra: int, method: str) -> None:
    n = k + extra
    widths = []
    for scale in (1, 2, 4, 16):
        low, high = interval(k * scale, n * scale, 0.95, method)
        widths.append(high - low)
    assert all(a > b for a, b in zip(widths, widths[1:]))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60), st.integers(1, 200), st.floats(0.001, 0.9), st.sampled_from(METHODS))
def test_projection_decides_when_projected_counts_occur(k: int, extra: int, limit: float, method: str) -> None:
    n = k + extra
    m = additional_samples_to_decide(k, n, limit, method=method, cap=200_000)
    if m is None:
        return
    total = n + m
    heading_pass = k / n < limit
    haz = -(-k * total // n) if heading_pass else k * total // n
    est = estimate_rate(haz, total - haz, 0, method=method)
    assert (est.high < limit) if heading_pass else (est.low >= limit)
