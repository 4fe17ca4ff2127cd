"""The hazard risk model: probability levels, risk index matrix, acceptance bands.

Pure (no pytest).  Defaults are DESIGN.md section 3, in the MIL-STD-882C style; every
table can be overridden from configuration through :func:`risk_model_from_settings`.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from .errors import RiskConfigError
from .vocab import Acceptance, Severity

LEVELS_SETTING = "hazard_probability_levels"
MATRIX_SETTING = "hazard_risk_matrix"
BANDS_SETTING = "hazard_acceptance_bands"


def format_rate(rate: float) -> str:
    """A rate as a short percentage (0.01 -> '1%', 0.001 -> '0.1%')."""
    return f"{rate * 100:.4g}%"


@dataclass(frozen=True)
class ProbabilityLevel:
    """A probability level: rates >= ``min_rate`` (and below the next more frequent level)."""

    code: str
    name: str
    min_rate: float


@dataclass(frozen=True)
class RiskAssessment:
    rate: float
    level: ProbabilityLevel
    severity: Severity
    risk_index: int
    acceptance: Acceptance

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "probability_level": self.level.code,
            "probability_level_name": self.level.name,
            "severity": self.severity.value,
            "severity_category": self.severity.roman,
            "risk_index": self.risk_index,
            "acceptance": self.acceptance.value,
        }


@dataclass(frozen=True)
class RiskModel:
    """Levels (most frequent first), the (level code, severity) -> index matrix, and the
    inclusive index bands (low, high, acceptance).  Validated on construction."""

    levels: tuple[ProbabilityLevel, ...]
    matrix: Mapping[tuple[str, Severity], int]
    bands: tuple[tuple[int, int, Acceptance], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        object.__setattr__(self, "bands", tuple(self.bands))
        # A read-only copy, so a caller's dict cannot change a validated model.
        object.__setattr__(self, "matrix", MappingProxyType(dict(self.matrix)))
        self._check_levels()
        self._check_matrix()
        self._check_bands()
        self._check_monotone()

    def _check_levels(self) -> None:
        if not self.levels:
            raise RiskConfigError("risk model: at least one probability level is needed")
        codes = [lv.code for lv in self.levels]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise RiskConfigError(f"risk model: duplicate probability level code(s) {', '.join(dupes)}")
        for lv in self.levels:
            if not lv.code or not isinstance(lv.min_rate, (int, float)) or not 0.0 <= lv.min_rate <= 1.0:
                raise RiskConfigError(
                    f"risk model: level {lv.code!r} needs a non-empty code and a min_rate in [0, 1], "
                    f"got {lv.min_rate!r}"
                )
        for prev, cur in zip(self.levels, self.levels[1:]):
            if not cur.min_rate < prev.min_rate:
                raise RiskConfigError(
                    f"risk model: probability levels must be listed most frequent first with strictly "
                    f"decreasing min_rate, but {cur.code} ({cur.min_rate}) follows {prev.code} ({prev.min_rate})"
                )
        if self.levels[-1].min_rate != 0.0:
            raise RiskConfigError(
                f"risk model: the last probability level ({self.levels[-1].code}) must have min_rate 0 "
                "so that every rate falls in some level"
            )

    def _check_matrix(self) -> None:
        codes = {lv.code for lv in self.levels}
        missing = [f"{lv.code}/{sev.roman}" for lv in self.levels for sev in Severity
                   if (lv.code, sev) not in self.matrix]
        if missing:
            raise RiskConfigError(
                f"risk model: the risk matrix has no index for {', '.join(missing)}; it needs one "
                "for every probability level and every severity I..IV"
            )
        for (code, sev), index in self.matrix.items():
            if code not in codes or not isinstance(sev, Severity):
                raise RiskConfigError(f"risk model: risk matrix entry for unknown level/severity {code!r}/{sev!r}")
            if isinstance(index, bool) or not isinstance(index, int):
                raise RiskConfigError(f"risk model: risk index for {code}/{sev.roman} must be an integer, got {index!r}")

    def _check_bands(self) -> None:
        ordered = sorted(self.bands, key=lambda b: b[0])
        for low, high, acc in ordered:
            if not isinstance(acc, Acceptance) or not isinstance(low, int) or not isinstance(high, int) or low > high:
                raise RiskConfigError(f"risk model: bad acceptance band {low!r}-{high!r} {acc!r}")
        for (lo1, hi1, a1), (lo2, hi2, a2) in zip(ordered, ordered[1:]):
            if lo2 <= hi1:
                raise RiskConfigError(
                    f"risk model: acceptance bands overlap: {a1.value} {lo1}-{hi1} and {a2.value} {lo2}-{hi2}"
                )
        uncovered = sorted({i for i in self.matrix.values() if self._band_of(i) is None})
        if uncovered:
            raise RiskConfigError(
                f"risk model: risk index(es) {', '.join(map(str, uncovered))} used in the matrix fall in "
                "no acceptance band"
            )

    def _check_monotone(self) -> None:
        # rate_limit assumes the qualifying levels are the least frequent ones.
        for sev in Severity:
            for prev, cur in zip(self.levels, self.levels[1:]):
                a_prev = self.acceptance_for(self.risk_index(prev.code, sev))
                a_cur = self.acceptance_for(self.risk_index(cur.code, sev))
                if a_prev.rank > a_cur.rank:
                    raise RiskConfigError(
                        f"risk model: for severity {sev.value} ({sev.roman}) the more frequent level "
                        f"{prev.code} is {a_prev.value} but the rarer level {cur.code} only {a_cur.value}; "
                        "a more frequent hazard must never be more acceptable"
                    )

    def _band_of(self, index: int) -> Acceptance | None:
        for low, high, acc in self.bands:
            if low <= index <= high:
                return acc
        return None

    def level_for(self, rate: float) -> ProbabilityLevel:
        """The level whose rule matches ``rate``; boundaries are inclusive below (>=)."""
        if not isinstance(rate, (int, float)) or math.isnan(rate) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate!r}")
        for lv in self.levels:
            if rate >= lv.min_rate:
                return lv
        return self.levels[-1]  # unreachable: the last min_rate is 0

    def upper_rate(self, code: str) -> float | None:
        """The exclusive upper bound of a level's rates (None for the most frequent level)."""
        codes = [lv.code for lv in self.levels]
        i = codes.index(code)
        return None if i == 0 else self.levels[i - 1].min_rate

    def risk_index(self, level_code: str, severity: Severity) -> int:
        try:
            return self.matrix[(level_code, severity)]
        except KeyError:
            raise RiskConfigError(f"risk model has no index for level {level_code!r}, severity {severity!r}") from None

    def acceptance_for(self, index: int) -> Acceptance:
        acc = self._band_of(index)
        if acc is None:
            raise RiskConfigError(f"risk index {index} falls in no acceptance band")
        return acc

    def assess(self, rate: float, severity: Severity) -> RiskAssessment:
        level = self.level_for(rate)
        index = self.risk_index(level.code, severity)
        return RiskAssessment(rate, level, severity, index, self.acceptance_for(index))

    def rate_limit(self, severity: Severity, max_acceptance: Acceptance) -> float | None:
        """Exclusive rate bound below which the acceptance is at least ``max_acceptance``.

        None when even the most frequent level qualifies (no limit).  RiskConfigError when
        no level qualifies: the threshold could never be met for this severity.
        """
        qualifying = [lv for lv in self.levels
                      if self.acceptance_for(self.risk_index(lv.code, severity)).rank >= max_acceptance.rank]
        if not qualifying:
            rarest = self.levels[-1]
            index = self.risk_index(rarest.code, severity)
            best = self.acceptance_for(index)
            raise RiskConfigError(
                f"threshold max_acceptance {max_acceptance.value} can never be met by a hazard of severity "
                f"{severity.value} ({severity.roman}): even the rarest probability level {rarest.code} "
                f"({rarest.name}) gives risk index {index}, which is {best.value}. Declare max_acceptance: "
                f"{best.value} (or worse) for this severity, or gate on max_rate alone."
            )
        # Monotonicity (checked on construction) makes the qualifying levels a suffix.
        return self.upper_rate(qualifying[0].code)


_DEFAULT_NAMES = {"A": "frequent", "B": "probable", "C": "occasional", "D": "remote", "E": "improbable"}
_DEFAULT_LEVELS = tuple(
    ProbabilityLevel(code, _DEFAULT_NAMES[code], rate)
    for code, rate in (("A", 0.20), ("B", 0.05), ("C", 0.01), ("D", 0.001), ("E", 0.0))
)
_DEFAULT_ROWS = {
    "A": (1, 3, 7, 13),
    "B": (2, 5, 9, 16),
    "C": (4, 6, 11, 18),
    "D": (8, 10, 14, 19),
    "E": (12, 15, 17, 20),
}
_DEFAULT_BANDS = (
    (1, 5, Acceptance.UNACCEPTABLE),
    (6, 9, Acceptance.UNDESIRABLE),
    (10, 17, Acceptance.ACCEPTABLE_WITH_REVIEW),
    (18, 20, Acceptance.ACCEPTABLE),
)


def _matrix_from_rows(rows: Mapping[str, tuple[int, ...]]) -> dict[tuple[str, Severity], int]:
    return {(code, sev): row[i] for code, row in rows.items() for i, sev in enumerate(Severity)}


DEFAULT_RISK_MODEL = RiskModel(_DEFAULT_LEVELS, _matrix_from_rows(_DEFAULT_ROWS), _DEFAULT_BANDS)

_LEVELS_FORMAT = "'A:0.20 B:0.05 C:0.01 D:0.001 E:0' (CODE:MIN_RATE, most frequent first, last 0)"
_MATRIX_FORMAT = "one row per level, 'A: 1 3 7 13' (level code, then the indices for severities I II III IV)"
_BANDS_FORMAT = "'unacceptable:1-5 undesirable:6-9 acceptable_with_review:10-17 acceptable:18-20'"
_SEP = re.compile(r"[\s,;]+")
_CODE = re.compile(r"[A-Za-z0-9_]+\Z")


def _bad(setting: str, token: str, problem: str, expected: str) -> RiskConfigError:
    return RiskConfigError(f"{setting}: {problem} in {token!r}; expected {expected}")


def _bare(exc: RiskConfigError) -> str:
    return str(exc).removeprefix("risk model: ")


def _tokens(text: str) -> list[str]:
    return [t for t in _SEP.split(text.strip()) if t]


def _parse_levels(text: str) -> tuple[ProbabilityLevel, ...]:
    levels = []
    for token in _tokens(text):
        code, sep, value = token.partition(":")
        if not sep or not _CODE.match(code):
            raise _bad(LEVELS_SETTING, token, "not CODE:MIN_RATE", _LEVELS_FORMAT)
        try:
            rate = float(value)
        except ValueError:
            raise _bad(LEVELS_SETTING, token, "min_rate is not a number", _LEVELS_FORMAT) from None
        if not 0.0 <= rate <= 1.0:
            raise _bad(LEVELS_SETTING, token, "min_rate is not a fraction between 0 and 1", _LEVELS_FORMAT)
        levels.append(ProbabilityLevel(code, _DEFAULT_NAMES.get(code, code), rate))
    if not levels:
        raise RiskConfigError(f"{LEVELS_SETTING}: empty; expected {_LEVELS_FORMAT}")
    try:
        # Validate ordering here so the message names the setting.
        RiskModel(tuple(levels), {(lv.code, s): 1 for lv in levels for s in Severity}, ((1, 1, Acceptance.ACCEPTABLE),))
    except RiskConfigError as exc:
        raise RiskConfigError(f"{LEVELS_SETTING}: {_bare(exc)}; expected {_LEVELS_FORMAT}") from None
    return tuple(levels)


def _parse_matrix(text: str, codes: tuple[str, ...]) -> dict[tuple[str, Severity], int]:
    rows: dict[str, list[int]] = {}
    current: list[int] | None = None
    for token in _tokens(text):
        head, sep, rest = token.partition(":")
        if sep:
            if not _CODE.match(head):
                raise _bad(MATRIX_SETTING, token, "bad level code", _MATRIX_FORMAT)
            if head not in codes:
                raise _bad(MATRIX_SETTING, token, f"unknown level code {head!r} (levels are {' '.join(codes)})",
                           _MATRIX_FORMAT)
            if head in rows:
                raise _bad(MATRIX_SETTING, token, f"second row for level {head}", _MATRIX_FORMAT)
            current = rows[head] = []
            if not rest:
                continue
            token = rest
        if current is None:
            raise _bad(MATRIX_SETTING, token, "index before any level code", _MATRIX_FORMAT)
        try:
            current.append(int(token))
        except ValueError:
            raise _bad(MATRIX_SETTING, token, "risk index is not an integer", _MATRIX_FORMAT) from None
    for code in codes:
        row = rows.get(code)
        if row is None:
            raise RiskConfigError(f"{MATRIX_SETTING}: no row for level {code}; expected {_MATRIX_FORMAT}")
        if len(row) != len(Severity):
            raise RiskConfigError(
                f"{MATRIX_SETTING}: row {code} has {len(row)} indices, needs {len(Severity)}; "
                f"expected {_MATRIX_FORMAT}"
            )
    return _matrix_from_rows({c: tuple(r) for c, r in rows.items()})


def _parse_bands(text: str) -> tuple[tuple[int, int, Acceptance], ...]:
    names = [a.value for a in Acceptance]
    bands = []
    for token in _tokens(text):
        name, sep, span = token.partition(":")
        key = name.strip().lower().replace("-", "_")
        if not sep:
            raise _bad(BANDS_SETTING, token, "not ACCEPTANCE:LOW-HIGH", _BANDS_FORMAT)
        if key not in names:
            guess = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {guess[0]}?)" if guess else f" (one of {', '.join(names)})"
            raise _bad(BANDS_SETTING, token, f"unknown acceptance {name!r}{hint}", _BANDS_FORMAT)
        low_s, dash, high_s = span.partition("-")
        try:
            low = int(low_s)
            high = int(high_s) if dash else low
        except ValueError:
            raise _bad(BANDS_SETTING, token, "range is not LOW-HIGH integers", _BANDS_FORMAT) from None
        if low > high:
            raise _bad(BANDS_SETTING, token, "range runs backwards", _BANDS_FORMAT)
        bands.append((low, high, Acceptance(key)))
    if not bands:
        raise RiskConfigError(f"{BANDS_SETTING}: empty; expected {_BANDS_FORMAT}")
    return tuple(bands)


def risk_model_from_settings(
    levels: str | None = None, matrix: str | None = None, bands: str | None = None
) -> RiskModel:
    """Build a risk model from configuration strings; each None keeps the default table.

    Formats (tokens are separated by whitespace or newlines; commas and semicolons are
    accepted as separators too):

    ``hazard_probability_levels``
        ``A:0.20 B:0.05 C:0.01 D:0.001 E:0`` -- CODE:MIN_RATE pairs, most frequent first,
        min_rate a fraction in [0, 1], strictly decreasing, the last exactly 0.  A level
        holds the rates >= its min_rate and below the previous level's.  Codes A-E keep
        their default names (frequent, probable, occasional, remote, improbable); other
        codes are named by their code.  Changing the set of codes requires a matching
        ``hazard_risk_matrix``.
    ``hazard_risk_matrix``
        one row per level, ``A: 1 3 7 13``, giving the risk index for severities
        I II III IV (catastrophic, critical, marginal, negligible); lower is worse.
    ``hazard_acceptance_bands``
        ``unacceptable:1-5 undesirable:6-9 acceptable_with_review:10-17 acceptable:18-20``
        -- ACCEPTANCE:LOW-HIGH inclusive ranges (ACCEPTANCE:N for a single index); every
        index in the matrix must fall in exactly one band.

    The whole model must also be monotone: for each severity a more frequent level is
    never more acceptable than a rarer one.  Any problem raises RiskConfigError naming
    the setting, the offending token and the expected format.
    """
    lv = _parse_levels(levels) if levels is not None else DEFAULT_RISK_MODEL.levels
    codes = tuple(x.code for x in lv)
    if matrix is not None:
        mx: Mapping[tuple[str, Severity], int] = _parse_matrix(matrix, codes)
    elif set(codes) != set(_DEFAULT_ROWS):
        raise RiskConfigError(
            f"{LEVELS_SETTING} defines levels {' '.join(codes)}, which differ from the default A-E, "
            f"so {MATRIX_SETTING} must give a row for each of them ({_MATRIX_FORMAT})"
        )
    else:
        mx = DEFAULT_RISK_MODEL.matrix
    bd = _parse_bands(bands) if bands is not None else DEFAULT_RISK_MODEL.bands
    try:
        return RiskModel(lv, mx, bd)
    except RiskConfigError as exc:
        given = [s for s, v in ((LEVELS_SETTING, levels), (MATRIX_SETTING, matrix), (BANDS_SETTING, bands))
                 if v is not None]
        raise RiskConfigError(f"{' / '.join(given) or 'risk model'}: {_bare(exc)}") from None
