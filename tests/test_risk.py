"""Unit and property tests of pytest_codexsafety.risk (the risk model)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_codexsafety.errors import RiskConfigError
from pytest_codexsafety.risk import (
    DEFAULT_RISK_MODEL,
    ProbabilityLevel,
    RiskModel,
    format_rate,
    risk_model_from_settings,
)
from pytest_codexsafety.vocab import Acceptance, Severity

I, II, III, IV = Severity.CATASTROPHIC, Severity.CRITICAL, Severity.MARGINAL, Severity.NEGLIGIBLE
U, UD, AR, OK = (Acceptance.UNACCEPTABLE, Acceptance.UNDESIRABLE,
                 Acceptance.ACCEPTABLE_WITH_REVIEW, Acceptance.ACCEPTABLE)

# DESIGN.md section 3, transcribed independently of the module.
DESIGN_MATRIX = {
    "A": (1, 3, 7, 13),
    "B": (2, 5, 9, 16),
    "C": (4, 6, 11, 18),
    "D": (8, 10, 14, 19),
    "E": (12, 15, 17, 20),
}


def design_acceptance(index: int) -> Acceptance:
    if index <= 5:
        return U
    if index <= 9:
        return UD
    if index <= 17:
        return AR
    return OK


CELLS = [(code, sev, row[i]) for code, row in DESIGN_MATRIX.items() for i, sev in enumerate((I, II, III, IV))]


@pytest.mark.parametrize(("code", "severity", "index"), CELLS)
def test_default_matrix_cell(code: str, severity: Severity, index: int) -> None:
    assert DEFAULT_RISK_MODEL.risk_index(code, severity) == index
    assert DEFAULT_RISK_MODEL.acceptance_for(index) is design_acceptance(index)


def test_default_levels() -> None:
    assert [(lv.code, lv.name, lv.min_rate) for lv in DEFAULT_RISK_MODEL.levels] == [
        ("A", "frequent", 0.20),
        ("B", "probable", 0.05),
        ("C", "occasional", 0.01),
        ("D", "remote", 0.001),
        ("E", "improbable", 0.0),
    ]


def test_default_bands_cover_one_to_twenty() -> None:
    for index in range(1, 21):
        assert DEFAULT_RISK_MODEL.acceptance_for(index) is design_acceptance(index)
    with pytest.raises(RiskConfigError, match="21"):
        DEFAULT_RISK_MODEL.acceptance_for(21)


@pytest.mark.parametrize(
    ("rate", "code"),
    [
        (1.0, "A"), (0.2, "A"), (0.19999, "B"), (0.05, "B"), (0.04999, "C"), (0.01, "C"),
        (0.00999, "D"), (0.001, "D"), (0.000999, "E"), (0.0, "E"),
    ],
)
def test_level_boundaries_are_inclusive_below(rate: float, code: str) -> None:
    assert DEFAULT_RISK_MODEL.level_for(rate).code == code


@pytest.mark.parametrize("rate", [-0.01, 1.01, float("nan")])
def test_level_for_rejects_non_rates(rate: float) -> None:
    with pytest.raises(ValueError):
        DEFAULT_RISK_MODEL.level_for(rate)


def test_assess() -> None:
    a = DEFAULT_RISK_MODEL.assess(0.03, II)
    assert (a.rate, a.level.code, a.severity, a.risk_index, a.acceptance) == (0.03, "C", II, 6, UD)
    assert a.to_dict() == {
        "rate": 0.03,
        "probability_level": "C",
        "probability_level_name": "occasional",
        "severity": "critical",
        "severity_category": "II",
        "risk_index": 6,
        "acceptance": "undesirable",
    }


# Worked out by hand from the tables: the rarest levels that reach the acceptance, and the
# min_rate of the level just above them.
RATE_LIMITS = [
    (I, U, None), (I, UD, 0.01), (I, AR, 0.001), (I, OK, "acceptable_with_review"),
    (II, U, None), (II, UD, 0.05), (II, AR, 0.01), (II, OK, "acceptable_with_review"),
    (III, U, None), (III, UD, None), (III, AR, 0.05), (III, OK, "acceptable_with_review"),
    (IV, U, None), (IV, UD, None), (IV, AR, None), (IV, OK, 0.05),
]


@pytest.mark.parametrize(("severity", "acceptance", "expected"), RATE_LIMITS)
def test_rate_limit_default(severity: Severity, acceptance: Acceptance, expected: float | str | None) -> None:
    if isinstance(expected, str):
        with pytest.raises(RiskConfigError) as info:
            DEFAULT_RISK_MODEL.rate_limit(severity, acceptance)
        message = str(info.value)
        assert "can never be met" in message
        assert severity.value in message and severity.roman in message
        assert f"max_acceptance: {expected}" in message
    else:
        assert DEFAULT_RISK_MODEL.rate_limit(severity, acceptance) == expected


@given(
    st.floats(0.0, 1.0),
    st.sampled_from(list(Severity)),
    st.sampled_from(list(Acceptance)),
)
def test_rate_limit_agrees_with_assess(rate: float, severity: Severity, acceptance: Acceptance) -> None:
    try:
        limit = DEFAULT_RISK_MODEL.rate_limit(severity, acceptance)
    except RiskConfigError:
        assert DEFAULT_RISK_MODEL.assess(rate, severity).acceptance.rank < acceptance.rank
        return
    qualifies = DEFAULT_RISK_MODEL.assess(rate, severity).acceptance.rank >= acceptance.rank
    assert qualifies == (limit is None or rate < limit)


def test_format_rate() -> None:
    assert [format_rate(x) for x in (0.01, 0.001, 0.05, 0.2, 0.0, 1.0, 0.27753)] == [
        "1%", "0.1%", "5%", "20%", "0%", "100%", "27.75%",
    ]


# ------------------------------------------------------------------------ validation


def _levels(*pairs: tuple[str, float]) -> tuple[ProbabilityLevel, ...]:
    return tuple(ProbabilityLevel(c, c.lower(), r) for c, r in pairs)


def _full(codes: str, index: int = 1) -> dict[tuple[str, Severity], int]:
    return {(c, s): index for c in codes for s in Severity}


BAND_ALL = ((1, 20, OK),)


@pytest.mark.parametrize(
    ("levels", "matrix", "bands", "message"),
    [
        ((), {}, BAND_ALL, "at least one"),
        (_levels(("A", 0.1), ("B", 0.2), ("C", 0.0)), _full("ABC"), BAND_ALL, "strictly decreasing"),
        (_levels(("A", 0.1), ("B", 0.1), ("C", 0.0)), _full("ABC"), BAND_ALL, "strictly decreasing"),
        (_levels(("A", 0.1), ("B", 0.01)), _full("AB"), BAND_ALL, "min_rate 0"),
        (_levels(("A", 0.1), ("A", 0.0)), _full("A"), BAND_ALL, "duplicate"),
        (_levels(("A", 1.5), ("B", 0.0)), _full("AB"), BAND_ALL, r"\[0, 1\]"),
        (_levels(("A", 0.1), ("B", 0.0)), _full("A"), BAND_ALL, "no index for B/I, B/II, B/III, B/IV"),
        (_levels(("A", 0.1), ("B", 0.0)), _full("ABZ"), BAND_ALL, "unknown level"),
        (_levels(("A", 0.1), ("B", 0.0)), _full("AB", 30), BAND_ALL, "30 .*no acceptance band"),
        (_levels(("A", 0.1), ("B", 0.0)), _full("AB"), ((1, 5, U), (5, 9, OK)), "overlap"),
        (_levels(("A", 0.1), ("B", 0.0)), _full("AB"), ((5, 1, U),), "bad acceptance band"),
    ],
)
def test_invalid_models(
    levels: tuple[ProbabilityLevel, ...],
    matrix: dict[tuple[str, Severity], int],
    bands: tuple[tuple[int, int, Acceptance], ...],
    message: str,
) -> None:
    with pytest.raises(RiskConfigError, match=message):
        RiskModel(levels, matrix, bands)


def test_non_monotone_model_is_rejected() -> None:
    matrix = _full("AB", 10)
    matrix[("A", Severity.MARGINAL)] = 20  # frequent level more acceptable than the rare one
    with pytest.raises(RiskConfigError, match="marginal .*more frequent level A is acceptable"):
        RiskModel(_levels(("A", 0.1), ("B", 0.0)), matrix, ((1, 15, U), (16, 20, OK)))


def test_matrix_is_copied_and_read_only() -> None:
    matrix = _full("AB", 3)
    model = RiskModel(_levels(("A", 0.1), ("B", 0.0)), matrix, ((1, 5, U),))
    matrix[("A", I)] = 99
    assert model.risk_index("A", I) == 3
    with pytest.raises(TypeError):
        model.matrix[("A", I)] = 4  # type: ignore[index]
    with pytest.raises(RiskConfigError, match="no index for level 'Q'"):
        model.risk_index("Q", I)


# ------------------------------------------------------------------------ settings


def _same(a: RiskModel, b: RiskModel) -> bool:
    return a.levels == b.levels and dict(a.matrix) == dict(b.matrix) and a.bands == b.bands


def test_settings_none_is_the_default() -> None:
    assert _same(risk_model_from_settings(), DEFAULT_RISK_MODEL)


def test_settings_spelling_out_the_defaults_gives_the_default() -> None:
    model = risk_model_from_settings(
        levels="A:0.20 B:0.05 C:0.01 D:0.001 E:0",
        matrix="""
            A: 1 3 7 13
            B: 2 5 9 16
            C: 4 6 11 18
            D: 8 10 14 19
            E: 12 15 17 20
        """,
        bands="unacceptable:1-5 undesirable:6-9 acceptable_with_review:10-17 acceptable:18-20",
    )
    assert _same(model, DEFAULT_RISK_MODEL)


def test_settings_override_levels_only() -> None:
    model = risk_model_from_settings(levels="A:0.3\nB:0.1, C:0.02 D:0.002 E:0")
    assert model.level_for(0.25).code == "B"
    assert model.level_for(0.25).name == "probable"
    assert model.rate_limit(II, AR) == 0.02


def test_settings_new_codes_with_matrix_on_one_line() -> None:
    model = risk_model_from_settings(
        levels="HI:0.1 LO:0", matrix="HI:1 1 2 3 LO: 4 4 4 4", bands="unacceptable:1-3 acceptable:4"
    )
    assert [lv.name for lv in model.levels] == ["HI", "LO"]
    assert model.assess(0.5, IV).acceptance is U
    assert model.assess(0.01, I).acceptance is OK
    assert model.rate_limit(I, OK) == 0.1


def test_settings_bands_accept_hyphenated_names() -> None:
    model = risk_model_from_settings(
        bands="unacceptable:1-5 undesirable:6-9 acceptable-with-review:10-17 ACCEPTABLE:18-20"
    )
    assert _same(model, DEFAULT_RISK_MODEL)


@pytest.mark.parametrize(
    ("kwargs", "pieces"),
    [
        ({"levels": "A=0.2 E:0"}, ["hazard_probability_levels", "'A=0.2'", "CODE:MIN_RATE"]),
        ({"levels": "A:lots E:0"}, ["hazard_probability_levels", "'A:lots'", "not a number"]),
        ({"levels": "A:20 E:0"}, ["hazard_probability_levels", "'A:20'", "between 0 and 1"]),
        ({"levels": "A:0.01 B:0.2 C:0 D:0 E:0"}, ["hazard_probability_levels", "strictly decreasing"]),
        ({"levels": "A:0.2 E:0.01"}, ["hazard_probability_levels", "min_rate 0"]),
        ({"levels": "  "}, ["hazard_probability_levels", "empty"]),
        ({"levels": "A:0.2 Z:0"}, ["hazard_probability_levels", "hazard_risk_matrix", "A Z"]),
        ({"matrix": "A: 1 3 7"}, ["hazard_risk_matrix", "row A has 3 indices", "'A: 1 3 7 13'"]),
        ({"matrix": "A: 1 3 7 x"}, ["hazard_risk_matrix", "'x'", "not an integer"]),
        ({"matrix": "1 3 7 13"}, ["hazard_risk_matrix", "'1'", "before any level code"]),
        ({"matrix": "F: 1 3 7 13"}, ["hazard_risk_matrix", "'F:'", "unknown level code"]),
        ({"matrix": "A: 1 3 7 13 A: 1 3 7 13"}, ["hazard_risk_matrix", "second row"]),
        ({"matrix": "A: 1 3 7 13 B: 2 5 9 16"}, ["hazard_risk_matrix", "no row for level C"]),
        ({"bands": "unaceptable:1-5"}, ["hazard_acceptance_bands", "'unaceptable:1-5'", "did you mean unacceptable"]),
        ({"bands": "unacceptable:1..5"}, ["hazard_acceptance_bands", "'unacceptable:1..5'", "LOW-HIGH"]),
        ({"bands": "unacceptable:5-1"}, ["hazard_acceptance_bands", "backwards"]),
        ({"bands": "unacceptable:1-5 acceptable:6-19"}, ["hazard_acceptance_bands", "20", "no acceptance band"]),
        ({"bands": "unacceptable:1-10 acceptable:10-20"}, ["hazard_acceptance_bands", "overlap"]),
        (
            {"matrix": "A: 20 3 7 13 B: 2 5 9 16 C: 4 6 11 18 D: 8 10 14 19 E: 12 15 17 20"},
            ["hazard_risk_matrix", "more frequent level A"],
        ),
    ],
)
def test_settings_errors(kwargs: dict[str, str], pieces: list[str]) -> None:
    with pytest.raises(RiskConfigError) as info:
        risk_model_from_settings(**kwargs)
    for piece in pieces:
        assert piece in str(info.value)


def test_settings_bands_beyond_the_matrix_are_harmless() -> None:
    model = risk_model_from_settings(bands="acceptable:1-20 unacceptable:21-30")
    assert model.acceptance_for(20) is OK
    assert model.acceptance_for(25) is U
