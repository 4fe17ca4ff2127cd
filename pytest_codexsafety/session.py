"""Per-process state of a pytest session: model, probe kinds, collected ids, results.

Lives in ``config.stash`` and is registered as a plugin so its hooks see it.  On a
pytest-xdist worker it samples and reports; on the controller (or a serial run) it
gathers the results from the reports and writes the summary and the register.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Generator, Mapping

import pytest

from . import __version__
from .errors import CodexSafetyError, ModelConfigError, SpecError
from .models.base import ModelAdapter
from .probes.base import ProbeKind
from .report.register import base_provenance, build_register, write_register
from .report.terminal import gate_line, interval_note, summary_table
from .settings import Settings
from .spec import load_hazard_text
from .specmodel import HazardSpec, SourceLocation

STATE_KEY = pytest.StashKey["CodexSafetySession"]()
REPORT_ATTR = "codexsafety"

NO_MODEL_MESSAGE = (
    "no model is configured for hazard items. Choose one with --hazard-model=SPEC or the "
    "ini key hazard_model, e.g. --hazard-model=python:mypkg.mymodel:complete (your own "
    "function(prompt, params) -> str) or --hazard-model=replay:recording.jsonl"
)


class CodexSafetySession:
    def __init__(self, config: pytest.Config, settings: Settings, model_spec: str | None,
                 report_path: Path | None) -> None:
        self.config = config
        self.settings = settings
        self.model_spec = model_spec
        self.report_path = report_path
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
            self._adapter = self._build_adapter()
        except CodexSafetyError as exc:
            self._adapter_error = exc
            raise
        return self._adapter

    def _build_adapter(self) -> ModelAdapter:
        hook = self.config.hook
        if self.model_spec:
            adapter = hook.pytest_codexsafety_model_adapter(spec=self.model_spec, config=self.config)
            if adapter is None:
                raise ModelConfigError(
                    f"unknown model spec {self.model_spec!r}: no adapter claims it. Built-in "
                    "schemes: python:MODULE:FUNCTION, replay:PATH.jsonl, gguf:PATH; plugins "
                    "may add more"
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
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            return
        if not (self.entries or self.spec_errors or self.report_path):
            return
        self.register = self.build_register()
        if self.report_path is not None:
            try:
                write_register(self.report_path, self.register)
            except OSError as exc:
                self.register["gate"]["reasons"].append(f"could not write the register: {exc}")
                self.register["gate"]["verdict"] = "fail"
        if self.register["gate"]["verdict"] == "fail" and session.exitstatus == pytest.ExitCode.OK:
            # The gate fails closed even when no item failed (nothing evaluated, say).
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.register is None:
            return
        tr = terminalreporter
        tr.write_sep("=", "codexsafety hazard summary")
        hazards = self.register["hazards"]
        if hazards:
            tr.write_line(summary_table(hazards))
            tr.write_line("")
            tr.write_line(interval_note(self.register["settings"]))
        for error in self.register["spec_errors"]:
            tr.write_line(f"invalid spec: {error['message']}")
        if self.report_path is not None:
            tr.write_line(f"risk register: {self.report_path}")
        gate = self.register["gate"]
        tr.write_line(gate_line(gate), bold=True, red=gate["verdict"] != "pass",
                      green=gate["verdict"] == "pass")

    def pytest_unconfigure(self) -> None:
        self.close()

