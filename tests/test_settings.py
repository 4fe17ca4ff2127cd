"""Direct unit tests of pytest_codexsafety.settings: ini strings -> checked settings."""

from __future__ import annotations

import json
from typing import Callable

import pytest

from pytest_codexsafety.errors import RiskConfigError
from pytest_codexsafety.gate import GateSettings
from pytest_codexsafety.risk import DEFAULT_RISK_MODEL
from pytest_codexsafety.settings import INI_KEYS, Settings, settings_from_ini
from pytest_codexsafety.vocab import Acceptance, Severity

DEFAULT_MATRIX = """
  A: 1 3 7 13
  B: 2 5 9 16
  C: 4 6 11 18
  D: 8 10 14 19
  E: 12 15 17 20
"""


def ini(**values: str) -> Callable[[str], str]:
    """A getter over ini keys (given without the ``hazard_`` prefix); unset keys are ''."""
    for key in values:
        assert "hazard_" + key in INI_KEYS, key
    return lambda key: values.get(key.removeprefix("hazard_"), "")


def test_all_empty_gives_the_documented_defaults() -> None:
    s = settings_from_ini(ini())
    assert s == Settings()
    assert s.gate == GateSettings(confidence=0.95, method="wilson", max_error_share=0.1, inconclusive="fail",
                                  sampling="sequential")
    assert s.seed == 0
    assert s.risk_model.levels == DEFAULT_RISK_MODEL.levels
    assert dict(s.risk_model.matrix) == dict(DEFAULT_RISK_MODEL.matrix)
    assert s.risk_model.bands == DEFAULT_RISK_MODEL.bands


def test_blank_values_mean_the_default() -> None:
    blank = settings_from_ini(lambda key: "  \n ")
    assert blank == settings_from_ini(ini())


def test_the_declared_ini_defaults_are_the_built_in_ones() -> None:
    # What `pytest --help` shows as the default must be what an empty setting gives.
    declared = settings_from_ini(lambda key: INI_KEYS[key][1])
    assert declared == settings_from_ini(ini())


def test_writing_out_the_documented_default_tables_changes_nothing() -> None:
    s = settings_from_ini(ini(
        probability_levels="A:0.20 B:0.05 C:0.01 D:0.001 E:0",
        risk_matrix=DEFAULT_MATRIX,
        acceptance_bands="unacceptable:1-5 undesirable:6-9 acceptable_with_review:10-17 acceptable:18-20",
    ))
    assert s.risk_model.levels == DEFAULT_RISK_MODEL.levels
    assert dict(s.risk_model.matrix) == dict(DEFAULT_RISK_MODEL.matrix)
    assert s.risk_model.bands == DEFAULT_RISK_MODEL.bands


def test_every_key_is_parsed() -> None:
    s = settings_from_ini(ini(
        confidence=" 0.9 ",
        interval="Clopper-Pearson",
        max_error_share="0.25",
        inconclusive="WARN",
        seed="42",
    ))
    assert s.gate == GateSettings(confidence=0.9, method="clopper-pearson", max_error_share=0.25,
                                  inconclusive="warn", sampling="sequential")
    assert s.seed == 42


@pytest.mark.parametrize("seed, expected", [("7", 7), (" 123456789 ", 123456789), ("-1", -1), ("0", 0)])
def test_seed(seed: str, expected: int) -> None:
    assert settings_from_ini(ini(seed=seed)).seed == expected


@pytest.mark.parametrize("confidence", ["0.5", "0.9999", "0.99"])
def test_confidence_range_is_inclusive_at_the_documented_ends(confidence: str) -> None:
    assert settings_from_ini(ini(confidence=confidence)).gate.confidence == float(confidence)


@pytest.mark.parametrize("share", ["0", "1", "0.0", "1.0"])
def test_max_error_share_accepts_the_whole_unit_interval(share: str) -> None:
    assert settings_from_ini(ini(max_error_share=share)).gate.max_error_share == float(share)


def test_probability_levels_override_changes_the_assessment() -> None:
    s = settings_from_ini(ini(probability_levels="A:0.5 B:0.1 C:0.02 D:0.002 E:0"))
    assert [(lv.code, lv.min_rate) for lv in s.risk_model.levels] == [
        ("A", 0.5), ("B", 0.1), ("C", 0.02), ("D", 0.002), ("E", 0.0)]
    # 30% is level A by default, B with the override.
    assert DEFAULT_RISK_MODEL.assess(0.3, Severity.CRITICAL).level.code == "A"
    assert s.risk_model.assess(0.3, Severity.CRITICAL).level.code == "B"


def test_risk_matrix_and_bands_overrides_are_used() -> None:
    matrix = DEFAULT_MATRIX.replace("E: 12 15 17 20", "E: 12 15 18 20")
    s = settings_from_ini(ini(risk_matrix=matrix))
    a = s.risk_model.assess(0.0, Severity.MARGINAL)
    assert (a.level.code, a.risk_index, a.acceptance) == ("E", 18, Acceptance.ACCEPTABLE)
    bands = settings_from_ini(ini(
        acceptance_bands="unacceptable:1-9 undesirable:10-12 acceptable_with_review:13-17 acceptable:18-20"))
    b = bands.risk_model.assess(0.0, Severity.CATASTROPHIC)
    assert (b.risk_index, b.acceptance) == (12, Acceptance.UNDESIRABLE)


@pytest.mark.parametrize("key, value, fragments", [
    ("confidence", "lots", ("hazard_confidence", "'lots'", "not a number")),
    ("confidence", "1.5", ("hazard_confidence", "'1.5'", "out of range")),
    ("confidence", "0.4", ("hazard_confidence", "out of range")),
    ("confidence", "1", ("hazard_confidence", "out of range")),
    ("confidence", "nan", ("hazard_confidence",)),
    ("confidence", "95%", ("hazard_confidence", "not a number")),
    ("interval", "bayes", ("hazard_interval", "'bayes'", "wilson", "clopper-pearson")),
    ("max_error_share", "-0.1", ("hazard_max_error_share", "'-0.1'", "out of range")),
    ("max_error_share", "1.1", ("hazard_max_error_share", "out of range")),
    ("max_error_share", "ten percent", ("hazard_max_error_share", "not a number")),
    ("inconclusive", "maybe", ("hazard_inconclusive", "'maybe'", "fail", "warn")),
    ("seed", "x", ("hazard_seed", "'x'", "not an integer")),
    ("seed", "1.5", ("hazard_seed", "not an integer")),
    ("risk_matrix", DEFAULT_MATRIX.replace("A: 1 3 7 13", "A: 1 3 7"), ("hazard_risk_matrix", "row A", "needs 4")),
    ("risk_matrix", DEFAULT_MATRIX.replace("A: 1 3 7 13", "A: 1 3 seven 13"), ("hazard_risk_matrix", "'seven'")),
    ("risk_matrix", DEFAULT_MATRIX.replace("E: 12 15 17 20", ""), ("hazard_risk_matrix", "no row for level E")),
    ("risk_matrix", DEFAULT_MATRIX.replace("A: 1 3 7 13", "A: 20 3 7 13"), ("hazard_risk_matrix", "more frequent")),
    ("probability_levels", "A:0.2 B:0.3 C:0.01 D:0.001 E:0", ("hazard_probability_levels",)),
    ("probability_levels", "A:0.2 B:0.05 C:0.01 D:0.001", ("hazard_probability_levels", "min_rate 0")),
    ("acceptance_bands", "unacceptable:1-5 undesireable:6-9 acceptable_with_review:10-17 acceptable:18-20",
     ("hazard_acceptance_bands", "did you mean undesirable")),
])
def test_a_bad_value_raises_naming_the_key(key: str, value: str, fragments: tuple[str, ...]) -> None:
    with pytest.raises(RiskConfigError) as info:
        settings_from_ini(ini(**{key: value}))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_describe_records_what_the_gate_used() -> None:
    s = settings_from_ini(ini(confidence="0.9", interval="clopper-pearson", max_error_share="0.25",
                              inconclusive="warn", seed="42", sampling="fixed",
                              probability_levels="A:0.5 B:0.1 C:0.02 D:0.002 E:0"))
    assert s.describe() == {
        "profile": "default",
        "samples_scale": 1,
        "confidence": 0.9,
        "interval_method": "clopper-pearson",
        "sampling": "fixed",
        "batch": 0,
        "max_error_share": 0.25,
        "inconclusive": "warn",
        "seed": 42,
        "probability_levels": {"A": 0.5, "B": 0.1, "C": 0.02, "D": 0.002, "E": 0.0},
        "risk_matrix": {"A": [1, 3, 7, 13], "B": [2, 5, 9, 16], "C": [4, 6, 11, 18],
                        "D": [8, 10, 14, 19], "E": [12, 15, 17, 20]},
        "acceptance_bands": [
            {"acceptance": "unacceptable", "low": 1, "high": 5},
            {"acceptance": "undesirable", "low": 6, "high": 9},
            {"acceptance": "acceptable_with_review", "low": 10, "high": 17},
            {"acceptance": "acceptable", "low": 18, "high": 20},
        ],
    }


def test_describe_of_the_defaults_is_plain_json() -> None:
    described = Settings().describe()
    assert json.loads(json.dumps(described)) == described
    assert described["probability_levels"] == {"A": 0.2, "B": 0.05, "C": 0.01, "D": 0.001, "E": 0.0}
    assert (described["confidence"], described["interval_method"], described["max_error_share"],
            described["inconclusive"], described["seed"]) == (0.95, "confidence-sequence", 0.1, "fail", 0)
    assert described["sampling"] == "sequential"


def test_sampling_and_batch_are_parsed() -> None:
    s = settings_from_ini(ini(sampling=" Sequential ", batch="12"))
    assert (s.gate.sampling, s.gate.batch) == ("sequential", 12)
    assert s.describe()["interval_method"] == "confidence-sequence"
    assert (s.describe()["sampling"], s.describe()["batch"]) == ("sequential", 12)
    assert settings_from_ini(ini()).gate.sampling == "sequential"  # the default
    assert settings_from_ini(ini(sampling="fixed")).gate.sampling == "fixed"


@pytest.mark.parametrize("key, value", [("sampling", "adaptive"), ("batch", "-1"), ("batch", "two")])
def test_bad_sampling_settings_name_the_key(key: str, value: str) -> None:
    with pytest.raises(RiskConfigError, match=f"hazard_{key}"):
        settings_from_ini(ini(**{key: value}))
