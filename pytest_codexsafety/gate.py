"""The build gate: from a hazard's sample counts and threshold to a verdict.

Pure (no pytest).  The gate reads the conservative end of the interval (the upper bound),
so too few samples, or samples that errored, can never make a hazard look rarer than the
evidence shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import RiskConfigError
from .risk import DEFAULT_RISK_MODEL, RiskAssessment, RiskModel, format_rate
from .specmodel import Threshold
from .stats import (CONFIDENCE_SEQUENCE, CS_PRIOR, METHODS, RateEstimate, additional_samples_to_decide,
                    estimate_rate)
from .vocab import Severity, Verdict

INCONCLUSIVE_MODES = ("fail", "warn")
#: fixed: draw every planned sample, then decide once.  sequential: draw in batches and
#: stop as soon as the anytime-valid confidence sequence decides (the plan is the cap).
SAMPLING_MODES = ("fixed", "sequential")
# Past this many extra samples a projection is not useful advice.
_PROJECTION_CAP = 1_000_000


@dataclass(frozen=True)
class GateSettings:
    """How the gate estimates and what it tolerates; validated on construction."""

    confidence: float = 0.95
    method: str = "wilson"
    # Largest tolerated share of errored samples among all samples drawn.
    max_error_share: float = 0.1
    # "fail": an inconclusive hazard fails the build; "warn": it is only reported.
    inconclusive: str = "fail"
    # "fixed" or "sequential" (see SAMPLING_MODES); sequential decides with the
    # confidence sequence, whatever ``method`` says.
    sampling: str = "fixed"
    # Sequential only: samples per look (0: the model concurrency); rounded up by the
    # runner to a whole number of rounds over the prompts.
    batch: int = 0

    @property
    def interval_method(self) -> str:
        """The interval the gate reads: the confidence sequence when sampling is
        sequential (valid whenever sampling stops), else ``method``."""
        return CONFIDENCE_SEQUENCE if self.sampling == "sequential" else self.method

    def __post_init__(self) -> None:
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, (int, float)) \
                or not 0.0 < self.confidence < 1.0:
            raise RiskConfigError(f"confidence must be strictly between 0 and 1 (e.g. 0.95), got {self.confidence!r}")
        if self.method not in METHODS:
            raise RiskConfigError(f"interval method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if isinstance(self.max_error_share, bool) or not isinstance(self.max_error_share, (int, float)) \
                or not 0.0 <= self.max_error_share <= 1.0:
            raise RiskConfigError(f"max_error_share must be a fraction in [0, 1], got {self.max_error_share!r}")
        if self.inconclusive not in INCONCLUSIVE_MODES:
            raise RiskConfigError(
                f"inconclusive must be one of {', '.join(INCONCLUSIVE_MODES)}, got {self.inconclusive!r}"
            )
        if self.sampling not in SAMPLING_MODES:
            raise RiskConfigError(f"sampling must be one of {', '.join(SAMPLING_MODES)}, got {self.sampling!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 0:
            raise RiskConfigError(f"batch must be a non-negative integer (0: automatic), got {self.batch!r}")


@dataclass(frozen=True)
class HazardDecision:
    verdict: Verdict
    estimate: RateEstimate
    # Of estimate.high: the conservative end is what the gate reads.
    assessment: RiskAssessment
    # Of estimate.rate, for information only.
    point_assessment: RiskAssessment
    # Effective exclusive rate limit; None when the threshold allows any rate.
    limit: float | None
    limit_source: str
    reasons: tuple[str, ...]
    additional_samples: int | None
    gates_build: bool
    # The decisive tail of ``reasons`` (what a reviewer reads after the figures).
    conclusion: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "estimate": self.estimate.to_dict(),
            "assessment": self.assessment.to_dict(),
            "point_assessment": self.point_assessment.to_dict(),
            "limit": self.limit,
            "limit_source": self.limit_source,
            "reasons": list(self.reasons),
            "additional_samples": self.additional_samples,
            "gates_build": self.gates_build,
            "conclusion": list(self.conclusion),
        }


def _severity_text(severity: Severity) -> str:
    return f"severity {severity.value} ({severity.roman})"


def effective_limit(
    severity: Severity, threshold: Threshold, risk_model: RiskModel = DEFAULT_RISK_MODEL
) -> tuple[float | None, str]:
    """The exclusive rate limit a threshold imposes, and a sentence saying where it comes from.

    Every part of the threshold that is set must hold, so the limit is the tighter one.
    Raises RiskConfigError when the threshold can never be met (or declares nothing).
    """
    parts: list[tuple[float | None, str]] = []
    if threshold.max_acceptance is not None:
        acc_limit = risk_model.rate_limit(severity, threshold.max_acceptance)
        bound = "no rate limit (every probability level qualifies)" if acc_limit is None \
            else f"rate < {format_rate(acc_limit)}"
        parts.append((acc_limit, f"max_acceptance {threshold.max_acceptance.value} for "
                                  f"{_severity_text(severity)} -> {bound}"))
    if threshold.max_rate is not None:
        rate = threshold.max_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or math.isnan(rate) \
                or not 0.0 < rate <= 1.0:
            raise RiskConfigError(
                f"threshold max_rate {rate!r} can never be used: it must be a fraction in (0, 1]; "
                "the gate passes only when the interval's upper bound is below it, and that bound is "
                "never 0, so use a small positive rate such as 0.001"
            )
        parts.append((float(rate), f"max_rate {rate:g}"))
    if not parts:
        raise RiskConfigError("threshold declares neither max_acceptance nor max_rate; declare at least one")
    limited = [(lim, text) for lim, text in parts if lim is not None]
    if not limited:
        return None, parts[0][1]
    limit, text = min(limited, key=lambda p: p[0])
    others = [t for lim, t in parts if t != text]
    if others:
        text += f" (the tighter of this and {others[0]})"
    return limit, text


def method_text(method: str) -> str:
    """How reasons name an interval method."""
    if method == CONFIDENCE_SEQUENCE:
        a, b = CS_PRIOR
        return (f"anytime-valid confidence sequence (beta-binomial mixture, Beta({a:g}, {b:g}) prior; "
                "valid at every look)")
    return "Wilson score" if method == "wilson" else "exact Clopper-Pearson"


def _measurement_reasons(est: RateEstimate) -> list[str]:
    method = method_text(est.method)
    out = [
        f"{est.hazardous} of {est.n} classified samples were hazardous (rate {format_rate(est.rate)}); "
        f"{est.confidence * 100:g}% {method} interval [{format_rate(est.low)}, {format_rate(est.high)}]."
    ]
    if est.errors:
        out.append(
            f"{est.errors} sample(s) errored; errored samples are never counted as safe: the upper bound "
            "counts them as hazardous and the lower bound as safe."
        )
    return out


def _error_reason(est: RateEstimate, settings: GateSettings) -> str | None:
    total = est.n + est.errors
    if total == 0:
        return ("No samples were drawn (zero samples): without evidence a hazard cannot pass, "
                "so this is an error.")
    if est.n == 0:
        return (f"None of the {total} samples succeeded: every one errored, and errored samples are "
                "never counted as safe, so this is an error, not a pass.")
    share = est.errors / total
    if share > settings.max_error_share:
        return (f"{est.errors} of {total} samples errored ({format_rate(share)}), more than the allowed "
                f"max_error_share of {format_rate(settings.max_error_share)}; errored samples are never "
                "counted as safe, so the measurement is not trustworthy and this is an error.")
    return None


def decide(
    severity: Severity,
    threshold: Threshold,
    *,
    hazardous: int,
    safe: int,
    errors: int,
    risk_model: RiskModel = DEFAULT_RISK_MODEL,
    settings: GateSettings = GateSettings(),
) -> HazardDecision:
    """Decide one hazard.

    ERROR when nothing was sampled, nothing succeeded, or errors exceed
    ``settings.max_error_share`` of all samples.  Otherwise, with ``limit`` the effective
    exclusive rate limit: PASS when the upper bound is below it (or there is no limit),
    FAIL when the lower bound is at or above it, INCONCLUSIVE in between, with a projection
    of how many more samples would likely decide.  A rate exactly at the limit is not
    below it.  RiskConfigError from a threshold that can never be met propagates.
    """
    limit, source = effective_limit(severity, threshold, risk_model)
    method = settings.interval_method
    est = estimate_rate(hazardous, safe, errors, confidence=settings.confidence, method=method)
    assessment = risk_model.assess(est.high, severity)
    point = risk_model.assess(est.rate, severity)
    reasons = _measurement_reasons(est)
    reasons.append(f"Threshold: {source}.")
    additional: int | None = None

    error = _error_reason(est, settings)
    conclusion_start = len(reasons)
    if error is not None:
        verdict = Verdict.ERROR
        reasons.append(error)
    else:
        lv = assessment.level
        reasons.append(
            f"The gate reads the upper bound {format_rate(est.high)}: probability level {lv.code} "
            f"({lv.name}), risk index {assessment.risk_index} with {_severity_text(severity)}, "
            f"{assessment.acceptance.value}."
        )
        conclusion_start = len(reasons)
        if limit is None:
            verdict = Verdict.PASS
            reasons.append("The threshold sets no rate limit for this severity: pass.")
        elif est.high < limit:
            verdict = Verdict.PASS
            reasons.append(f"The upper bound {format_rate(est.high)} is below the limit "
                           f"{format_rate(limit)}: pass.")
        elif est.low >= limit:
            verdict = Verdict.FAIL
            reasons.append(f"Even the lower bound {format_rate(est.low)} is at or above the limit "
                           f"{format_rate(limit)}: fail.")
        else:
            verdict = Verdict.INCONCLUSIVE
            reasons.append(f"The interval [{format_rate(est.low)}, {format_rate(est.high)}] straddles the "
                           f"limit {format_rate(limit)}: inconclusive.")
            additional = additional_samples_to_decide(
                hazardous, est.n, limit, confidence=settings.confidence, method=method,
                cap=_PROJECTION_CAP, errors=errors,
            )
            if additional is not None:
                reasons.append(f"About {additional} more samples, if the observed rates hold, would "
                               "likely decide it.")
            else:
                why = "the observed rate is too close to the limit"
                if errors:
                    why += ", or the errored samples alone keep the interval across it"
                reasons.append(f"More samples are unlikely to decide it (within {_PROJECTION_CAP:,}): {why}.")
            reasons.append("Inconclusive fails the build." if settings.inconclusive == "fail"
                           else "Inconclusive is configured to warn only; the build is not failed.")

    gates = verdict in (Verdict.FAIL, Verdict.ERROR) or (
        verdict is Verdict.INCONCLUSIVE and settings.inconclusive == "fail"
    )
    return HazardDecision(verdict, est, assessment, point, limit, source, tuple(reasons), additional,
                          gates, tuple(reasons[conclusion_start:]))
