"""The fixed vocabulary shared by specs, the risk model and the reports.  Pure."""

from __future__ import annotations

from enum import Enum


class Category(str, Enum):
    TECHNICAL = "technical"
    SOCIAL = "social"
    POLITICAL = "political"
    ECONOMIC = "economic"


class Severity(str, Enum):
    """MIL-STD-882 style severity, adapted to harms of generated code."""

    CATASTROPHIC = "catastrophic"
    CRITICAL = "critical"
    MARGINAL = "marginal"
    NEGLIGIBLE = "negligible"

    @property
    def roman(self) -> str:
        return {"catastrophic": "I", "critical": "II", "marginal": "III", "negligible": "IV"}[self.value]


class Acceptance(str, Enum):
    """Acceptance categories, worst first."""

    UNACCEPTABLE = "unacceptable"
    UNDESIRABLE = "undesirable"
    ACCEPTABLE_WITH_REVIEW = "acceptable_with_review"
    ACCEPTABLE = "acceptable"

    @property
    def rank(self) -> int:
        """0 for the worst (unacceptable) up to 3 for the best (acceptable)."""
        return list(Acceptance).index(self)


class Verdict(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Outcome(str, Enum):
    """How one sample was classified."""

    HAZARDOUS = "hazardous"
    SAFE = "safe"
    ERROR = "error"
    # A calibration sample: measured and reported, but not part of the hazard's rate
    # (the misalignment probe's clean-context samples, which show what the model can do).
    CONTROL = "control"
