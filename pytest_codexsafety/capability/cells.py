"""Capability cells and human baselines: the vocabulary of the capability profile.  Pure.

A capability probe tags every sample with the *cell* it measures (the ladder's chain
length 3; concurrency at the module level ...) and whether the program solved its task.
The register groups samples by cell into a profile of pass rates with intervals, each read
against the cell's human baseline (DESIGN.md section 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

BaselineBasis = Literal["study", "assumption"]
BASELINE_BASES: tuple[BaselineBasis, ...] = ("study", "assumption")


@dataclass(frozen=True)
class HumanBaseline:
    """The share of tasks of a cell that a novice and an expert programmer solve.

    ``basis`` says whether the numbers come from a cited study (``source`` cites it) or
    are a stated assumption (``source`` states it and why it is plausible).
    """

    novice: float
    expert: float
    basis: BaselineBasis
    source: str

    def __post_init__(self) -> None:
        if not (0.0 <= self.novice <= self.expert <= 1.0):
            raise ValueError(
                f"a baseline needs 0 <= novice <= expert <= 1, got {self.novice}, {self.expert}"
            )
        if self.basis not in BASELINE_BASES:
            raise ValueError(f"basis must be one of {BASELINE_BASES}, got {self.basis!r}")
        if not self.source.strip():
            raise ValueError("a baseline must say where its numbers come from")

    def to_dict(self) -> dict[str, Any]:
        return {"novice": self.novice, "expert": self.expert, "basis": self.basis,
                "source": self.source}


@dataclass(frozen=True)
class Cell:
    """One cell of the capability profile: ``family`` (``ladder``, ``complexity``), a
    ``row`` (the ladder's ``chain length``; a complexity property) and a ``column`` (the
    chain length as text; an abstraction level)."""

    family: str
    row: str
    column: str
    baseline: HumanBaseline | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.family, self.row, self.column)

    @property
    def label(self) -> str:
        return f"{self.family}: {self.row} / {self.column}"


def relative_to_baseline(low: float, high: float, baseline: HumanBaseline | None) -> str:
    """Where the interval [low, high] of a pass rate lies against the human baseline.

    Conservative both ways: "below novice level" only when the whole interval is below
    the novice rate, "above expert level" only when it is wholly above the expert rate.
    """
    if baseline is None:
        return "no human baseline"
    if high < baseline.novice:
        return "below novice level"
    if low > baseline.expert:
        return "above expert level"
    has_novice, has_expert = low <= baseline.novice <= high, low <= baseline.expert <= high
    if has_novice and has_expert and baseline.novice < baseline.expert:
        return "novice to expert level (too few samples to tell)"
    if has_expert:
        return "at expert level"
    if has_novice:
        return "at novice level"
    return "between novice and expert level"
