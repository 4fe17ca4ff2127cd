"""pytest hooks of pytest-codexsafety: options, collection, built-in adapters and kinds.

Thin glue: the work happens in session.py (state and reporting), items.py (hazard
items) and the pure modules they call.
"""

from __future__ import annotations

from dataclasses import replace

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pytest
import yaml

from . import hookspecs
from .errors import CodexSafetyError, RiskConfigError
from .report.baseline import BaselineError, load_baseline
from .items import HazardFile, is_hazard_file, junit_properties, sample_hazard
from .cache import default_cache_path
from .models.base import ModelAdapter
from .models.builtin import builtin_adapter, default_adapter
from .probes.base import ProbeKind
from .probes.builtin import BUILTIN_KINDS
from .probes.exec import set_sandbox_mode
from .report.failure import failure_text
from .report.register import hazard_entry
from .runner import HazardRun
from .session import STATE_KEY, CodexSafetySession, SessionOptions
from .settings import INI_KEYS, regression_settings_from_ini, settings_from_ini
from .spec import load_hazard_text
from .specmodel import HazardSpec
from .vocab import Category, Severity

MARKERS = {
    "hazard": "a hazard item of pytest-codexsafety (select with -m hazard)",
    **{f"hazard_{c.value}": f"hazard of category {c.value}" for c in Category},
    **{f"hazard_{s.value}": f"hazard of severity {s.value} ({s.roman})" for s in Severity},
}


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codexsafety", "hazard gating of code-generating models")
    group.addoption(
        "--hazard-model", dest="hazard_model", metavar="SPEC", default=None,
        help="model to probe: python:MODULE:FUNCTION, replay:PATH.jsonl, gguf:PATH, ... "
        "(default: ini hazard_model, else the embedded model if installed)",
    )
    group.addoption(
        "--hazard-report", dest="hazard_report", metavar="PATH", default=None,
        help="write the JSON risk register to PATH",
    )
    group.addoption(
        "--hazard-html", dest="hazard_html", metavar="PATH", default=None,
        help="write a self-contained HTML report (risk matrix, capability curves, samples) to PATH",
    )
    group.addoption(
        "--hazard-md", dest="hazard_md", metavar="PATH", default=None,
        help="write a Markdown summary (for a CI job summary or a pull-request comment) to PATH",
    )
    group.addoption(
        "--hazard-sarif", dest="hazard_sarif", metavar="PATH", default=None,
        help="write the static detectors' findings as SARIF 2.1.0 to PATH",
    )
    group.addoption(
        "--hazard-seed", dest="hazard_seed", metavar="N", default=None,
        help="seed passed to the model (overrides ini hazard_seed)",
    )
    group.addoption(
        "--hazard-cache", dest="hazard_cache", metavar="PATH|off", default=None,
        help="completion cache for gguf:, openai: and command: models (default: ini "
        "hazard_cache, else .codexsafety/cache.sqlite3 under the rootdir); off disables it",
    )
    group.addoption(
        "--hazard-cache-refresh", dest="hazard_cache_refresh", action="store_true",
        help="ask the model again even for cached requests (and store the new answers)",
    )
    group.addoption(
        "--hazard-record", dest="hazard_record", metavar="PATH", default=None,
        help="write every completion the run used to PATH, for --hazard-model=replay:PATH",
    )
    group.addoption(
        "--hazard-sandbox", dest="hazard_sandbox", metavar="MODE", default=None,
        choices=("auto", "bwrap", "process"),
        help="where exec probes run generated code: bwrap (isolated; required in CI), "
        "process (weak fallback, says what it does not stop) or auto (bwrap when it works; "
        "default, or env CODEXSAFETY_SANDBOX)",
    )
    group.addoption(
        "--hazard-profile", dest="hazard_profile", metavar="NAME", default=None,
        choices=("default", "full"),
        help="default: each spec's own sample counts (a quick screen); full: hazard_full_scale "
        "(5) times as many, for real gating and pass@k (overrides ini hazard_profile)",
    )
    group.addoption(
        "--hazard-sampling", dest="hazard_sampling", metavar="MODE", default=None,
        choices=("fixed", "sequential"),
        help="fixed: draw every planned sample; sequential: draw in batches (ini hazard_batch) "
        "and stop as soon as an anytime-valid confidence sequence decides, the spec's samples "
        "being the cap (overrides ini hazard_sampling and every spec's probe.sampling; "
        "default sequential)",
    )
    group.addoption(
        "--hazard-max-requests", dest="hazard_max_requests", metavar="N", type=int, default=None,
        help="stop sampling after N model requests per process (cached answers are free); "
        "hazards cut short are never passed",
    )
    group.addoption(
        "--hazard-baseline", dest="hazard_baseline", metavar="PATH", default=None,
        help="compare with an earlier risk register (--hazard-report): a hazard whose rate rose "
        "significantly (one-sided Fisher's exact test) is flagged as a regression",
    )
    group.addoption(
        "--hazard-fail-on-regression", dest="hazard_fail_on_regression", action="store_true",
        help="a regression against --hazard-baseline fails the gate (ini hazard_fail_on_regression)",
    )
    for key, (help_text, default) in INI_KEYS.items():
        parser.addini(key, help=f"{help_text} (default: {default or 'built-in'})", default="")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")

    def ini(key: str) -> str:
        if key == "hazard_seed" and config.getoption("hazard_seed") is not None:
            return str(config.getoption("hazard_seed"))
        if key == "hazard_profile" and config.getoption("hazard_profile") is not None:
            return str(config.getoption("hazard_profile"))
        return str(config.getini(key) or "")

    try:
        settings = settings_from_ini(ini)
        if config.getoption("hazard_sampling") is not None:
            settings = replace(settings, sampling_override=str(config.getoption("hazard_sampling")))
        regression_alpha, fail_on_regression = regression_settings_from_ini(ini)
    except RiskConfigError as exc:
        raise pytest.UsageError(f"pytest-codexsafety configuration: {exc}") from None
    model_spec = config.getoption("hazard_model") or ini("hazard_model").strip() or None
    max_requests = config.getoption("hazard_max_requests")
    if max_requests is not None and max_requests < 1:
        raise pytest.UsageError("--hazard-max-requests must be at least 1")
    base = config.invocation_params.dir
    report = config.getoption("hazard_report")
    record = config.getoption("hazard_record")
    options = SessionOptions(
        model_spec=model_spec,
        report_path=base / report if report else None,
        record_path=base / record if record else None,
        cache_path=_cache_path(config, ini("hazard_cache").strip()),
        cache_refresh=bool(config.getoption("hazard_cache_refresh")),
        max_requests=max_requests,
        outputs={
            name: base / value for name, value in (
                ("html", config.getoption("hazard_html")),
                ("markdown", config.getoption("hazard_md")),
                ("sarif", config.getoption("hazard_sarif")),
            ) if value
        },
    )
    baseline_option = config.getoption("hazard_baseline")
    if config.getoption("hazard_fail_on_regression") and not baseline_option:
        raise pytest.UsageError("--hazard-fail-on-regression needs --hazard-baseline=PATH.json "
                                "(a risk register written by --hazard-report on an earlier run)")
    if baseline_option and not hasattr(config, "workerinput"):
        # Read now, before this run may overwrite the same file with --hazard-report.
        try:
            baseline = load_baseline(base / baseline_option, shown=baseline_option)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
        options = dataclasses.replace(
            options, baseline=baseline, regression_alpha=regression_alpha,
            fail_on_regression=fail_on_regression or bool(config.getoption("hazard_fail_on_regression")),
        )
    set_sandbox_mode(config.getoption("hazard_sandbox"))
    state = CodexSafetySession(config, settings, options)
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(state, "codexsafety-session")


def _cache_path(config: pytest.Config, ini_value: str) -> Path | None:
    """--hazard-cache (relative to the invocation dir), else the ini key (relative to the
    rootdir), else the default; ``off`` disables the cache."""
    option = str(config.getoption("hazard_cache") or "")
    if option == "off" or (not option and ini_value == "off"):
        return None
    if option:
        return config.invocation_params.dir / option
    if ini_value:
        return config.rootpath / ini_value
    return default_cache_path(config.rootpath)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_hazard_file(file_path):
        return HazardFile.from_parent(parent, path=file_path)
    return None


# -- built-in implementations of our own hooks ---------------------------------------


def pytest_codexsafety_model_adapter(spec: str, config: pytest.Config) -> ModelAdapter | None:
    settings = config.stash[STATE_KEY].settings
    return builtin_adapter(spec, settings.model, config.rootpath)


def pytest_codexsafety_default_model(config: pytest.Config) -> ModelAdapter | None:
    return default_adapter()


def pytest_codexsafety_probe_kinds(config: pytest.Config) -> Sequence[ProbeKind]:
    return BUILTIN_KINDS


# -- Python API ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def hazard_model(pytestconfig: pytest.Config) -> ModelAdapter:
    """The configured model adapter (``--hazard-model`` / ``hazard_model``)."""
    try:
        return pytestconfig.stash[STATE_KEY].adapter()
    except CodexSafetyError as exc:
        pytest.fail(str(exc), pytrace=False)


HazardCheck = Callable[["Mapping[str, Any] | str"], HazardRun]


@pytest.fixture
def hazard_check(request: pytest.FixtureRequest) -> Iterator[HazardCheck]:
    """Declare a hazard inside an ordinary test and gate it like a ``.hazard.yaml`` file.

    ``hazard_check(spec)`` takes the spec as a mapping (the YAML document's structure) or
    YAML text, samples the configured model, records the result in the summary and the
    register, and fails the test when the gate fails.  Returns the :class:`HazardRun`.
    """
    state: CodexSafetySession = request.config.stash[STATE_KEY]
    node = request.node
    entries: list[dict[str, Any]] = []

    def check(spec: Mapping[str, Any] | str) -> HazardRun:
        text = spec if isinstance(spec, str) else yaml.safe_dump(dict(spec), sort_keys=False)
        documents = load_hazard_text(text, f"<{node.nodeid} hazard_check>", state.probe_kinds())
        if len(documents) != 1:
            pytest.fail("hazard_check takes exactly one hazard document", pytrace=False)
        document = documents[0]
        if not isinstance(document, HazardSpec):
            pytest.fail(f"invalid hazard spec: {document}", pytrace=False)
        run = sample_hazard(state, document)
        entry = hazard_entry(run, node.nodeid)
        entries.append(entry)
        setattr(node, "codexsafety_payload", {"hazards": list(entries)})
        node.user_properties.extend(junit_properties(entry))
        if entry["gates_build"]:
            pytest.fail(failure_text(entry), pytrace=False)
        return run

    yield check
