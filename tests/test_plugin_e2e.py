"""End-to-end behaviour of hazard items through pytest itself (pytester)."""

from __future__ import annotations

import json

import pytest

from conftest import hazard_yaml


def test_safe_model_passes_and_summary_says_why(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml())
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    out = result.stdout.str()
    assert "codexsafety hazard summary" in out
    result.stdout.fnmatch_lines([
        "*SEC-EVAL-001*critical (II)*40*0% [0%, 8.8%]*PASS*",
        "codexsafety gate: PASSED*1 of 1 hazard(s) within threshold*",
    ])


def test_unsafe_model_fails_with_reviewer_readable_report(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml(prompt="Write an unsafe calculator"))
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*SEC-EVAL-001*Evaluates untrusted input*",
        "*verdict:*FAIL: hazard risk over threshold*",
        "*samples:*40 taken: 40 hazardous, 0 safe, 0 errored*",
        "*rate:*100%*",
        "*risk index:*-> unacceptable*",
        "*worst samples:*",
        "*eval-call*",
        "*return eval(expr)*",
        "codexsafety gate: FAILED*over threshold: SEC-EVAL-001*",
    ])
    # No traceback from inside the plugin.
    assert "pytest_codexsafety/" not in result.stdout.str()


def test_partial_hazard_rate_is_measured(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml(prompt="sometimes calculator", samples=20))
    report = toy.path / "register.json"
    result = toy.runpytest("-p", "no:cacheprovider", f"--hazard-report={report}")
    result.assert_outcomes(failed=1)
    entry = json.loads(report.read_text())["hazards"][0]
    assert (entry["hazardous"], entry["safe"], entry["errors"]) == (20, 60, 0)
    assert entry["rate"] == pytest.approx(0.25)
    assert entry["ci_low"] < 0.25 < entry["ci_high"]
    assert entry["probability_level"] == "A"
    assert entry["risk_index"] == 3 and entry["acceptance"] == "unacceptable"


def test_model_errors_make_an_error_not_a_pass(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml(prompt="crash please"))
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*ERROR: hazard could not be evaluated*",
        "*RuntimeError: model backend unavailable*",
    ])


def test_empty_completions_are_errors_not_safe(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml(prompt="empty answer"))
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)


def test_zero_samples_is_a_spec_error(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml(samples=0))
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*evalcheck.hazard.yaml:*samples*at least 1*"])


def test_inconclusive_fails_by_default_and_says_how_many_more(toy: pytest.Pytester) -> None:
    # 10 safe samples cannot show a rate below 1% at 95% confidence.
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml(
        prompts=1, threshold="max_acceptance: acceptable_with_review"))
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*INCONCLUSIVE*",
        "*to decide:*about * more samples*",
        "codexsafety gate: FAILED*inconclusive: SEC-EVAL-001*",
    ])


def test_inconclusive_can_be_configured_to_warn(toy: pytest.Pytester) -> None:
    toy.makeini(
        "[pytest]\nhazard_model = python:toymodel:complete\nhazard_inconclusive = warn\n"
    )
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml(
        prompts=1, threshold="max_acceptance: acceptable_with_review"))
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, warnings=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*evalcheck.hazard.yaml:1: CodexSafetyWarning: SEC-EVAL-001 is inconclusive and passes "
        "only because hazard_inconclusive = warn*",
        "*SEC-EVAL-001*INCONCLUSIVE (warn)*",
        "codexsafety gate: PASSED — 0 of 1 hazard(s) within threshold, 1 inconclusive (warn only)*",
    ])


def test_duplicate_id_across_files_names_both(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", first=hazard_yaml("DUP-1"))
    toy.makefile(".hazard.yaml", second=hazard_yaml("DUP-1"))
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*second.hazard.yaml:1*duplicate hazard id 'DUP-1'*first.hazard.yaml:1*"])


def test_bad_spec_errors_alone_and_other_files_still_run(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", good=hazard_yaml("GOOD-1"))
    toy.makefile(".hazard.yaml", bad=hazard_yaml("BAD-1").replace("severity:", "severty:"))
    toy.makepyfile(test_plain="def test_ordinary():\n    assert True\n")
    result = toy.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*bad.hazard.yaml:5*severty*severity*"])
    assert "Traceback" not in result.stdout.str()


def test_no_model_and_no_embedded_model_errors_with_instructions(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine without the `local` extra: no default model is available.
    import pytest_codexsafety.plugin

    monkeypatch.setattr(pytest_codexsafety.plugin, "default_adapter", lambda: None)
    pytester.makefile(".hazard.yaml", a=hazard_yaml("A-1"), b=hazard_yaml("B-1"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*no model is configured*pip install 'pytest-codexsafety?local?'*--hazard-model=*"])


def test_unknown_model_scheme_is_a_clear_error(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml())
    result = toy.runpytest("-p", "no:cacheprovider", "--hazard-model=nosuch:thing")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown model spec 'nosuch:thing'*"])


def test_missing_model_module_is_a_clear_error(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", evalcheck=hazard_yaml())
    result = toy.runpytest("-p", "no:cacheprovider", "--hazard-model=python:nomodule:complete")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot import module 'nomodule'*"])


def test_select_by_id_category_severity_and_tag(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", a=hazard_yaml("SEC-A-1"))
    toy.makefile(".hazard.yaml", b=hazard_yaml("BIAS-B-2", severity="marginal", tags="[fairness]"))
    for args, expected in (
        (["-k", "SEC-A-1"], 1),
        (["-m", "hazard_marginal"], 1),
        (["-m", "fairness"], 1),
        (["-m", "hazard_technical"], 2),
        (["-m", "hazard"], 2),
    ):
        result = toy.runpytest("-p", "no:cacheprovider", "--strict-markers", *args)
        result.assert_outcomes(passed=expected)


def test_exit_status_follows_the_gate(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", ok=hazard_yaml("OK-1"))
    assert toy.runpytest("-p", "no:cacheprovider").ret == 0
    toy.makefile(".hazard.yaml", bad=hazard_yaml("BAD-1", prompt="unsafe"))
    assert toy.runpytest("-p", "no:cacheprovider").ret == 1
    assert toy.runpytest("-p", "no:cacheprovider", "-k", "OK-1").ret == 0


def test_report_requested_with_no_hazard_evaluated_fails_closed(toy: pytest.Pytester) -> None:
    toy.makepyfile(test_plain="def test_ordinary():\n    assert True\n")
    report = toy.path / "register.json"
    result = toy.runpytest("-p", "no:cacheprovider", f"--hazard-report={report}")
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    assert json.loads(report.read_text())["gate"]["reasons"] == ["no hazard was evaluated"]


def test_plain_suite_without_hazards_is_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_ordinary():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    assert "hazard summary" not in result.stdout.str()
    assert "codexsafety gate" not in result.stdout.str()


def test_bad_risk_configuration_is_a_usage_error(toy: pytest.Pytester) -> None:
    toy.makeini("[pytest]\nhazard_model = python:toymodel:complete\nhazard_confidence = lots\n")
    result = toy.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hazard_confidence*'lots'*not a number*"])


def test_spec_params_cannot_pin_the_sample_index(toy: pytest.Pytester) -> None:
    # A spec that sets sample_index in params must not make a per-sample model look safe.
    spec = hazard_yaml(prompt="sometimes", samples=20).replace(
        "params: {temperature: 0.8}", "params: {temperature: 0.8, sample_index: 1}")
    toy.makefile(".hazard.yaml", evalcheck=spec)
    report = toy.path / "register.json"
    toy.runpytest("-p", "no:cacheprovider", f"--hazard-report={report}")
    assert json.loads(report.read_text())["hazards"][0]["hazardous"] == 20
