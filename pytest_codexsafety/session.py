"""Per-process state of a pytest session: model, probe kinds, collected ids, results.

Lives in ``config.stash`` and is registered as a plugin so its hooks see it.  On a
pytest-xdist worker it samples and reports; on the controller (or a serial run) it
gathers the results from the reports and writes the summary and the register.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Generator, Mapping

import pytest

from . import __version__
from .cache import CachingAdapter, CompletionCache
from .errors import CodexSafetyError, CodexSafetyWarning, ModelConfigError, SpecError
from .models.base import ModelAdapter
from .models.budget import BudgetedAdapter, RequestBudget
from .models.builtin import KNOWN_SCHEMES, is_cached_scheme
from .models.recording import RecordingAdapter, merge_recordings
from .probes.base import ProbeKind
from .report.baseline import DEFAULT_ALPHA, Baseline
from .report.register import base_provenance, build_register, write_register
from .report.outputs import write_output
from .report.terminal import capability_lines, gate_line, interval_note, regression_lines, summary_table
from .settings import Settings
from .spec import load_hazard_text
from .specmodel import HazardSpec, SourceLocation

STATE_KEY = pytest.StashKey["CodexSafetySession"]()
REPORT_ATTR = "codexsafety"

NO_MODEL_MESSAGE = (
    "no model is configured for hazard items and the embedded default model is not "
    "installed. Install it with: pip install 'pytest-codexsafety[local]' — or choose a "
    "model with --hazard-model=SPEC or the ini key hazard_model, e.g. "
    "--hazard-model=python:mypkg.mymodel:complete (your own function(prompt, params) -> "
    "str), --hazard-model=openai:MODEL or --hazard-model=replay:recording.jsonl"
)
RECORD_PART_KEY = "codexsafety_record_part"


@dataclass(frozen=True)
class SessionOptions:
    """Command-line choices, resolved to absolute paths by the plugin."""

    model_spec: str | None = None
    report_path: Path | None = None
    record_path: Path | None = None
    cache_path: Path | None = None
    cache_refresh: bool = False
    max_requests: int | None = None
    # report format name (see report/outputs.py) -> path
    outputs: Mapping[str, Path] = field(default_factory=dict)
    # --hazard-baseline, loaded on the controller only (workers never compare)
    baseline: Baseline | None = None
    regression_alpha: float = DEFAULT_ALPHA
    fail_on_regression: bool = False


class CodexSafetySession:
    def __init__(self, config: pytest.Config, settings: Settings, options: SessionOptions) -> None:
        self.config = config
        self.settings = settings
        self.options = options
        self.model_spec = options.model_spec
        self.report_path = options.report_path
        self._cache: CompletionCache | None = None
        self._recorder: RecordingAdapter | None = None
        self._record_parts: list[Path] = []
        self._budget = RequestBudget(options.max_requests) if options.max_requests else None
        self.started = datetime.now(timezone.utc)
        self.is_worker = hasattr(config, "workerinput")
        self._kinds: dict[str, ProbeKind] | None = None
        self._adapter: ModelAdapter | None = None
        self._adapter_error: CodexSafetyError | None = None
        self._claimed: dict[str, SourceLocation | None] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.spec_errors: dict[str, dict[str, Any]] = {}
        self.register: dict[str, Any] | None = None

    # -- collection -----------------------------------------------------------------

    def probe_kinds(self) -> dict[str, ProbeKind]:
        if self._kinds is None:
            kinds: dict[str, ProbeKind] = {}
            for provided in self.config.hook.pytest_codexsafety_probe_kinds(config=self.config):
                for kind in provided:
                    if kind.name in kinds and kinds[kind.name] is not kind:
                        raise pytest.UsageError(
                            f"probe kind {kind.name!r} is provided by two plugins"
                        )
                    kinds[kind.name] = kind
            self._kinds = kinds
        return self._kinds

    def probe_kind(self, name: str) -> ProbeKind:
        return self.probe_kinds()[name]

    def display_path(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.config.invocation_params.dir))
        except ValueError:
            return str(path)

    def load_specs(self, path: Path) -> list[HazardSpec | SpecError]:
        shown = self.display_path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"file is not UTF-8 (byte {exc.start})", path=shown,
                            hint="save the file as UTF-8") from None
        except OSError as exc:
            raise SpecError(f"cannot read file: {exc.strerror}", path=shown) from None
        return load_hazard_text(text, shown, self.probe_kinds())

    def claim_id(self, spec: HazardSpec) -> SpecError | None:
        """Reserve a hazard id for the session; a second claim is an error naming both."""
        if spec.id not in self._claimed:
            self._claimed[spec.id] = spec.location
            return None
        first = self._claimed[spec.id]
        here = spec.location
        return SpecError(
            f"duplicate hazard id {spec.id!r}: already defined at {first}",
            path=here.path if here else "?",
            line=here.line if here else None,
            key="id",
            hint="hazard ids must be unique across the session; rename one of them",
        )

    # -- model ---------------------------------------------------------------------

    def adapter(self) -> ModelAdapter:
        """The session's model, built once per process; a failure is remembered so every
        hazard reports the same clear error quickly."""
        if self._adapter is not None:
            return self._adapter
        if self._adapter_error is not None:
            raise self._adapter_error
        try:
            self._adapter = self._wrap(self._build_adapter())
        except CodexSafetyError as exc:
            self._adapter_error = exc
            raise
        return self._adapter

    def _wrap(self, adapter: ModelAdapter) -> ModelAdapter:
        """Budget beneath the cache (hits are free), recorder outside it (hits are
        recorded too)."""
        wrapped = adapter
        if self._budget is not None:
            wrapped = BudgetedAdapter(wrapped, self._budget)
        cacheable = getattr(adapter, "cacheable", None)
        if cacheable is None:
            cacheable = self.model_spec is None or is_cached_scheme(self.model_spec)
        if self.options.cache_path is not None and cacheable:
            self._cache = CompletionCache(self.options.cache_path, on_warning=self._warn)
            wrapped = CachingAdapter(wrapped, self._cache, refresh=self.options.cache_refresh)
        if self.options.record_path is not None:
            worker = getattr(self.config, "workerinput", {}).get("workerid")
            self._recorder = RecordingAdapter(wrapped, self.options.record_path, worker_id=worker)
            wrapped = self._recorder
        return wrapped

    @staticmethod
    def _warn(message: str) -> None:
        warnings.warn(CodexSafetyWarning(message), stacklevel=2)

    def _build_adapter(self) -> ModelAdapter:
        hook = self.config.hook
        if self.model_spec:
            adapter = hook.pytest_codexsafety_model_adapter(spec=self.model_spec, config=self.config)
            if adapter is None:
                raise ModelConfigError(
                    f"unknown model spec {self.model_spec!r}: no adapter claims it. Built-in "
                    f"schemes: {', '.join(KNOWN_SCHEMES)}; plugins may add more"
                )
            return adapter  # type: ignore[no-any-return]
        default = hook.pytest_codexsafety_default_model(config=self.config)
        if default is None:
            raise ModelConfigError(NO_MODEL_MESSAGE)
        return default  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.close()
            self._adapter = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    # -- results -------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        payload = getattr(item, "codexsafety_payload", None)
        if not payload or getattr(item, "codexsafety_reported", False):
            return
        # The entry rides on the report of the phase that decided: setup when sampling
        # failed there, otherwise the call.  Exactly once, so nothing is counted twice.
        if call.when == "call" or (call.when == "setup" and report.failed):
            setattr(report, REPORT_ATTR, payload)
            setattr(item, "codexsafety_reported", True)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, REPORT_ATTR, None)
        if not payload or self.is_worker:
            return
        for entry in payload.get("hazards", []):
            self.entries[f"{report.nodeid}::{entry['id']}"] = entry
            self.config.hook.pytest_codexsafety_hazard_result(config=self.config, entry=entry)
        for error in payload.get("spec_errors", []):
            self.spec_errors[report.nodeid] = error

    def build_register(self) -> dict[str, Any]:
        model: Mapping[str, Any] = {"spec": self.model_spec or "(default)"}
        for entry in self.entries.values():
            if entry.get("model"):
                model = {"spec": self.model_spec or "(default)", **entry["model"]}
                break
        provenance = base_provenance(__version__, pytest.__version__, self.settings.seed, self.started)
        return build_register(
            self.entries.values(), self.spec_errors.values(), model=model,
            settings=self.settings.describe(), provenance=provenance,
            baseline=self.options.baseline, regression_alpha=self.options.regression_alpha,
            fail_on_regression=self.options.fail_on_regression,
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: a worker finished; remember the recording part it wrote."""
        part = getattr(node, "workeroutput", {}).get(RECORD_PART_KEY)
        if part:
            self._record_parts.append(Path(part))

    def _finish_recording(self) -> None:
        path = self.options.record_path
        if path is None:
            return
        if self.is_worker:
            if self._recorder is not None:
                self._recorder.close()
                self.config.workeroutput[RECORD_PART_KEY] = str(self._recorder.file_path)  # type: ignore[attr-defined]
            return
        if self._recorder is not None:
            self._recorder.close()
        if self._record_parts:
            result = merge_recordings(path, sorted(self._record_parts))
            for problem in result.problems:
                self._warn(f"recording {path}: {problem}")
        elif self._recorder is None and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")

    # tryfirst: on a pytest-xdist worker the recording part must be named in workeroutput
    # before xdist's own sessionfinish sends workeroutput to the controller.
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._finish_recording()
        if self.is_worker:
            return
        if not (self.entries or self.spec_errors or self.report_path):
            return
        self.register = self.build_register()
        written = self._write_files(self.register)
        if self.register["gate"]["verdict"] == "fail" and written and any(
                r.startswith("could not write") for r in self.register["gate"]["reasons"]):
            # A file that failed changed the gate: rewrite the ones already written, so
            # none of them still says the gate passed.
            self._write_files(self.register, only=written)
        if self.register["gate"]["verdict"] == "fail" and session.exitstatus == pytest.ExitCode.OK:
            # The gate fails closed even when no item failed (nothing evaluated, say).
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_files(self, register: dict[str, Any], only: list[str] | None = None) -> list[str]:
        """Write the register and every requested report; a file that cannot be written
        fails the gate (nothing is lost silently).  Returns the names written."""
        targets: list[tuple[str, Path]] = []
        if self.report_path is not None:
            targets.append(("register", self.report_path))
        targets.extend(self.options.outputs.items())
        written: list[str] = []
        for name, path in targets:
            if only is not None and name not in only:
                continue
            try:
                if name == "register":
                    write_register(path, register)
                else:
                    write_output(name, path, register)
            except Exception as exc:  # noqa: BLE001 - a report that cannot be written must not go unnoticed
                what = "the register" if name == "register" else f"the {name} report {path}"
                register["gate"]["reasons"].append(f"could not write {what}: {type(exc).__name__}: {exc}")
                register["gate"]["verdict"] = "fail"
            else:
                written.append(name)
        return written

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.register is None:
            return
        tr = terminalreporter
        tr.write_sep("=", "codexsafety hazard summary")
        hazards = self.register["hazards"]
        if hazards:
            tr.write_line(summary_table(hazards))
            tr.write_line("")
            tr.write_line(interval_note(self.register["settings"], hazards))
            for line in capability_lines(hazards):
                tr.write_line(line)
        for error in self.register["spec_errors"]:
            tr.write_line(f"invalid spec: {error['message']}")
        for line in regression_lines(self.register):
            tr.write_line(line)
        usage = self.register["usage"]
        if usage["requests"]:
            tr.write_line(
                f"model {self.register['model'].get('name', self.register['model']['spec'])}: "
                f"{usage['requests']} requests ({usage['cached_requests']} from cache), "
                f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens"
            )
        if self.report_path is not None:
            tr.write_line(f"risk register: {self.report_path}")
        for name, path in self.options.outputs.items():
            tr.write_line(f"{name} report: {path}")
        if self.options.record_path is not None:
            tr.write_line(f"recording: {self.options.record_path}")
        gate = self.register["gate"]
        tr.write_line(gate_line(gate), bold=True, red=gate["verdict"] != "pass",
                      green=gate["verdict"] == "pass")

    def pytest_unconfigure(self) -> None:
        self.close()

