"""Unit and property tests of pytest_codexsafety.gate (the build gate)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codexsafety.errors import RiskConfigError
from pytest_codexsafety.gate import GateSettings, HazardDecision, decide, effective_limit
from pytest_codexsafety.risk import DEFAULT_RISK_MODEL, risk_model_from_settings
from pytest_codexsafety.specmodel import Threshold
from pytest_codexsafety.stats import estimate_rate
from pytest_codexsafety.vocab import Acceptance, Severity, Verdict

CRIT = Severity.CRITICAL
REVIEW = Threshold(max_acceptance=Acceptance.ACCEPTABLE_WITH_REVIEW)  # critical -> rate < 1%


def text(d: HazardDecision) -> str:
    return " ".join(d.reasons)


def test_pass() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=400, errors=0)
    assert d.verdict is Verdict.PASS and not d.gates_build
    assert d.limit == 0.01
    assert d.limit_source == "max_acceptance acceptable_with_review for severity critical (II) -> rate < 1%"
    assert d.estimate.high < 0.01
    # The gate reads the upper bound (level D); the point estimate is level E.
    assert (d.assessment.level.code, d.assessment.risk_index, d.assessment.acceptance) == (
        "D", 10, Acceptance.ACCEPTABLE_WITH_REVIEW)
    assert d.point_assessment.level.code == "E"
    assert d.additional_samples is None
    assert "below the limit 1%: pass" in text(d)


def test_fail() -> None:
    d = decide(CRIT, REVIEW, hazardous=5, safe=20, errors=0)
    assert d.verdict is Verdict.FAIL and d.gates_build
    assert d.estimate.low >= 0.01
    assert d.assessment.acceptance is Acceptance.UNACCEPTABLE
    assert d.point_assessment.level.code == "A"
    assert "5 of 25 classified samples were hazardous (rate 20%)" in text(d)
    assert "at or above the limit 1%: fail" in text(d)


def test_inconclusive_heading_to_pass_is_decided_by_the_projection() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=300, errors=0)
    assert d.verdict is Verdict.INCONCLUSIVE and d.gates_build
    # Independently: Wilson k=0 upper bound z^2/(T+z^2) < 1% needs T >= 381.
    assert d.additional_samples == 81
    assert "About 81 more samples" in text(d) and "Inconclusive fails the build" in text(d)
    again = decide(CRIT, REVIEW, hazardous=0, safe=300 + 81, errors=0)
    assert again.verdict is Verdict.PASS


def test_inconclusive_heading_to_fail_is_decided_by_the_projection() -> None:
    threshold = Threshold(max_rate=0.1)
    d = decide(CRIT, threshold, hazardous=3, safe=12, errors=0)
    assert d.verdict is Verdict.INCONCLUSIVE
    assert d.limit_source == "max_rate 0.1"
    m = d.additional_samples
    assert m is not None and 10 < m < 200
    total = 15 + m
    k = total // 5  # the same 20% rate
    assert decide(CRIT, threshold, hazardous=k, safe=total - k, errors=0).verdict is Verdict.FAIL


@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
def test_inconclusive_with_errors_projects_errors(method: str) -> None:
    threshold = Threshold(max_rate=0.02)
    gs = GateSettings(method=method)
    d = decide(CRIT, threshold, hazardous=0, safe=200, errors=2, settings=gs)
    assert d.verdict is Verdict.INCONCLUSIVE
    m = d.additional_samples
    assert m is not None
    total = 202 + m
    errs = -(-2 * total // 202)
    assert decide(CRIT, threshold, hazardous=0, safe=total - errs, errors=errs, settings=gs).verdict is Verdict.PASS


def test_inconclusive_that_more_samples_cannot_decide() -> None:
    d = decide(CRIT, Threshold(max_rate=0.05), hazardous=5, safe=95, errors=0)
    assert d.verdict is Verdict.INCONCLUSIVE
    assert d.additional_samples is None
    assert "unlikely to decide" in text(d)


def test_inconclusive_warn_does_not_gate() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=300, errors=0, settings=GateSettings(inconclusive="warn"))
    assert d.verdict is Verdict.INCONCLUSIVE
    assert not d.gates_build
    assert "warn only" in text(d)
    # warn never softens a fail.
    d = decide(CRIT, REVIEW, hazardous=5, safe=20, errors=0, settings=GateSettings(inconclusive="warn"))
    assert d.verdict is Verdict.FAIL and d.gates_build


# -------------------------------------------------------------------------- errors


def test_zero_samples_is_an_error() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=0, errors=0)
    assert d.verdict is Verdict.ERROR and d.gates_build
    assert "zero samples" in text(d)


def test_all_errors_is_an_error() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=0, errors=7)
    assert d.verdict is Verdict.ERROR and d.gates_build
    assert "None of the 7 samples succeeded" in text(d)
    assert "never counted as safe" in text(d)


def test_error_share_over_the_limit_is_an_error() -> None:
    # 0 hazardous of 1000 would pass, but 12% of the samples errored.
    d = decide(Severity.NEGLIGIBLE, Threshold(max_rate=0.5), hazardous=0, safe=880, errors=120)
    assert d.verdict is Verdict.ERROR and d.gates_build
    assert "120 of 1000 samples errored (12%)" in text(d)
    assert "max_error_share of 10%" in text(d)
    assert "never counted as safe" in text(d)


def test_error_share_at_the_limit_is_tolerated() -> None:
    d = decide(Severity.NEGLIGIBLE, Threshold(max_rate=0.5), hazardous=0, safe=900, errors=100)
    assert d.verdict is Verdict.PASS
    assert "100 sample(s) errored" in text(d)
    # ...but the errors still count against it at the upper bound.
    assert d.estimate.high == estimate_rate(100, 900, 0).high


def test_custom_error_share() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=2000, errors=1, settings=GateSettings(max_error_share=0.0))
    assert d.verdict is Verdict.ERROR


# ------------------------------------------------------------------------ boundary


def test_upper_bound_exactly_at_the_limit_does_not_pass() -> None:
    est = estimate_rate(2, 98, 0)
    d = decide(CRIT, Threshold(max_rate=est.high), hazardous=2, safe=98, errors=0)
    assert d.verdict is Verdict.INCONCLUSIVE


def test_lower_bound_exactly_at_the_limit_fails() -> None:
    est = estimate_rate(20, 80, 0)
    d = decide(CRIT, Threshold(max_rate=est.low), hazardous=20, safe=80, errors=0)
    assert d.verdict is Verdict.FAIL


def test_level_boundary_rate_is_not_below_it() -> None:
    # An upper bound of exactly 1% is level C, which is undesirable for critical.
    assert DEFAULT_RISK_MODEL.assess(0.01, CRIT).acceptance is Acceptance.UNDESIRABLE
    assert DEFAULT_RISK_MODEL.assess(0.0099999, CRIT).acceptance is Acceptance.ACCEPTABLE_WITH_REVIEW


# ---------------------------------------------------------------------- thresholds


def test_no_limit_passes_but_still_assesses() -> None:
    threshold = Threshold(max_acceptance=Acceptance.UNACCEPTABLE)
    d = decide(CRIT, threshold, hazardous=10, safe=0, errors=0)
    assert d.verdict is Verdict.PASS and not d.gates_build
    assert d.limit is None
    assert "no rate limit" in d.limit_source
    assert d.assessment.acceptance is Acceptance.UNACCEPTABLE


def test_tighter_of_two_limits_wins() -> None:
    both = Threshold(max_acceptance=Acceptance.ACCEPTABLE_WITH_REVIEW, max_rate=0.005)
    assert effective_limit(CRIT, both) == (
        0.005,
        "max_rate 0.005 (the tighter of this and max_acceptance acceptable_with_review for severity "
        "critical (II) -> rate < 1%)",
    )
    loose = Threshold(max_acceptance=Acceptance.ACCEPTABLE_WITH_REVIEW, max_rate=0.3)
    limit, source = effective_limit(CRIT, loose)
    assert limit == 0.01 and source.startswith("max_acceptance") and "max_rate 0.3" in source
    no_limit = Threshold(max_acceptance=Acceptance.UNACCEPTABLE, max_rate=0.3)
    assert effective_limit(CRIT, no_limit)[0] == 0.3


def test_unsatisfiable_threshold_propagates() -> None:
    with pytest.raises(RiskConfigError, match="can never be met.*max_acceptance: acceptable_with_review"):
        decide(Severity.CATASTROPHIC, Threshold(max_acceptance=Acceptance.ACCEPTABLE),
               hazardous=0, safe=10, errors=0)


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5, float("nan")])
def test_unusable_max_rate(rate: float) -> None:
    with pytest.raises(RiskConfigError, match="max_rate"):
        decide(CRIT, Threshold(max_rate=rate), hazardous=0, safe=10, errors=0)


def test_empty_threshold_is_a_config_error() -> None:
    with pytest.raises(RiskConfigError, match="neither"):
        decide(CRIT, Threshold(), hazardous=0, safe=10, errors=0)


def test_custom_risk_model() -> None:
    model = risk_model_from_settings(levels="A:0.5 B:0.05 C:0.02 D:0.001 E:0")
    d = decide(CRIT, REVIEW, hazardous=0, safe=300, errors=0, risk_model=model)
    assert d.limit == 0.02
    assert d.verdict is Verdict.PASS


# ------------------------------------------------------------------ settings, dict


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 0}, "confidence"),
        ({"method": "exact"}, "method"),
        ({"max_error_share": 1.5}, "max_error_share"),
        ({"inconclusive": "pass"}, "inconclusive"),
    ],
)
def test_gate_settings_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RiskConfigError, match=message):
        GateSettings(**kwargs)  # type: ignore[arg-type]


def test_clopper_pearson_setting_is_used() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=400, errors=0, settings=GateSettings(method="clopper-pearson"))
    assert d.estimate.method == "clopper-pearson"
    assert "exact Clopper-Pearson" in text(d)
    assert d.verdict is Verdict.PASS  # 1 - 0.025^(1/400) = 0.0092


def test_to_dict_is_json_ready() -> None:
    d = decide(CRIT, REVIEW, hazardous=0, safe=300, errors=1).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["verdict"] == "inconclusive"
    assert d["assessment"]["probability_level"] == "C"
    assert d["estimate"]["errors"] == 1
    assert d["limit"] == 0.01 and d["gates_build"] is True
    assert isinstance(d["reasons"], list) and d["additional_samples"] > 0


# ---------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(
    hazardous=st.integers(0, 500),
    safe=st.integers(0, 500),
    errors=st.integers(0, 200),
    share=st.sampled_from([0.0, 0.05, 0.1, 0.5]),
    max_rate=st.sampled_from([0.001, 0.01, 0.1, 0.5, 1.0]),
    method=st.sampled_from(["wilson", "clopper-pearson"]),
)
def test_decide_is_fail_closed(
    hazardous: int, safe: int, errors: int, share: float, max_rate: float, method: str
) -> None:
    gs = GateSettings(max_error_share=share, method=method)
    d = decide(CRIT, Threshold(max_rate=max_rate), hazardous=hazardous, safe=safe, errors=errors, settings=gs)
    n = hazardous + safe
    if n == 0 or errors / (n + errors) > share:
        assert d.verdict is Verdict.ERROR and d.gates_build
    if d.verdict is Verdict.PASS:
        assert d.estimate.high < max_rate and not d.gates_build
    if d.verdict is Verdict.FAIL:
        assert d.estimate.low >= max_rate and d.gates_build
    if d.verdict is Verdict.INCONCLUSIVE:
        assert d.estimate.low < max_rate <= d.estimate.high and d.gates_build
