"""Hazard files and hazard items: how specs become pytest tests."""

from __future__ import annotations

from dataclasses import replace

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import pytest

from .errors import CodexSafetyError, CodexSafetyWarning, SpecError
from .report.failure import failure_text
from .report.register import hazard_entry, spec_error_entry
from .progress import hazard_progress
from .runner import HazardRun, ProgressCallback, run_hazard
from .specmodel import HazardSpec
from .vocab import Verdict

if TYPE_CHECKING:
    from .session import CodexSafetySession


def error_run(spec: HazardSpec, message: str) -> HazardRun:
    """A run that never sampled: its entry still reaches the register, as an error."""
    return HazardRun(spec=spec, samples=(), decision=None, error=message)


def sample_hazard(state: "CodexSafetySession", spec: HazardSpec, *,
                  progress: ProgressCallback | None = None) -> HazardRun:
    """Sample and decide one hazard with the session's model and settings.

    Whatever goes wrong becomes an errored run, so the register records the hazard as an
    error (the gate fails closed) instead of losing it to a traceback.
    """
    scale = state.settings.samples_scale
    if scale != 1:  # the full profile: the same prompts, more samples of each
        spec = replace(spec, probe=replace(spec.probe, samples=spec.probe.samples * scale))
    try:
        return run_hazard(
            spec,
            state.probe_kind(spec.probe.kind),
            state.adapter(),
            risk_model=state.settings.risk_model,
            settings=state.settings.gate_for(spec.probe.sampling),
            seed=state.settings.seed,
            concurrency=state.settings.model.concurrency,
            progress=progress,
        )
    except CodexSafetyError as exc:  # no model, unknown kind, ...
        return error_run(spec, str(exc))
    except Exception as exc:  # a bug in the plugin or in a third-party adapter or kind
        return error_run(
            spec, f"internal error while sampling: {type(exc).__name__}: {exc} (please report it)"
        )

HAZARD_SUFFIXES = (".hazard.yaml", ".hazard.yml")


def is_hazard_file(path: Path) -> bool:
    return path.name.endswith(HAZARD_SUFFIXES)


class HazardGateFailure(Exception):
    """Raised by a hazard item whose verdict fails the gate; rendered without traceback."""

    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__(entry["id"])
        self.entry = entry


class HazardFile(pytest.File):
    def collect(self) -> Iterable[pytest.Item]:
        state = session_state(self.config)
        try:
            documents = state.load_specs(self.path)
        except SpecError as exc:
            yield SpecErrorItem.from_parent(self, name="spec-error", error=exc)
            return
        for index, document in enumerate(documents):
            if isinstance(document, SpecError):
                yield SpecErrorItem.from_parent(
                    self, name=f"document-{index + 1}-spec-error", error=document
                )
                continue
            duplicate = state.claim_id(document)
            if duplicate is not None:
                yield SpecErrorItem.from_parent(self, name=document.id, error=duplicate)
                continue
            yield HazardItem.from_parent(self, name=document.id, spec=document)


class SpecErrorItem(pytest.Item):
    """Stands in for a spec that failed validation, so only this spec errors and the rest
    of the session still runs (a collection error would stop pytest)."""

    def __init__(self, *, error: SpecError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_error = error
        self.add_marker("hazard")
        self.codexsafety_payload: dict[str, Any] = {
            "spec_errors": [spec_error_entry(self.nodeid, error.path, str(error))]
        }

    def setup(self) -> None:
        pytest.fail(f"invalid hazard spec: {self.spec_error}", pytrace=False)

    def runtest(self) -> None:  # pragma: no cover - setup always fails first
        raise AssertionError("unreachable: a spec error item fails in setup")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.spec_error.line or 1) - 1, f"invalid hazard spec {self.name}"


class HazardItem(pytest.Item):
    def __init__(self, *, spec: HazardSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.hazard_run: HazardRun | None = None
        self.codexsafety_entry: dict[str, Any] | None = None
        self.codexsafety_payload: dict[str, Any] | None = None
        self.add_marker("hazard")
        self.add_marker(f"hazard_{spec.category.value}")
        self.add_marker(f"hazard_{spec.severity.value}")
        for tag in spec.tags:
            # Registered first so --strict-markers accepts the spec's own tags.
            self.config.addinivalue_line("markers", f"{tag}: hazard tag")
            self.add_marker(tag)

    def setup(self) -> None:
        """Sample the model here, so a machinery fault is reported as an ERROR, not a
        failure of the hazard."""
        with hazard_progress(self, self.spec.id) as progress:
            run = sample_hazard(session_state(self.config), self.spec, progress=progress)
        self.hazard_run = run
        entry = hazard_entry(run, self.nodeid)
        self.codexsafety_entry = entry
        self.codexsafety_payload = {"hazards": [entry]}
        self.user_properties.extend(junit_properties(entry))
        if run.verdict is Verdict.ERROR:
            pytest.fail(failure_text(entry), pytrace=False)

    def runtest(self) -> None:
        entry = self.codexsafety_entry
        assert entry is not None, "setup() records the entry before runtest()"
        if entry["gates_build"]:
            raise HazardGateFailure(entry)
        if entry["verdict"] == Verdict.INCONCLUSIVE.value:
            # Pointed at the spec, not at plugin code, so the warning summary says where.
            location = self.spec.location
            warnings.warn_explicit(
                f"{self.spec.id} is inconclusive and passes only because "
                "hazard_inconclusive = warn:\n" + failure_text(entry),
                CodexSafetyWarning,
                filename=location.path if location else str(self.path),
                lineno=location.line if location else 1,
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, HazardGateFailure):
            return failure_text(excinfo.value.entry)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.spec.location.line - 1 if self.spec.location else None
        return self.path, line, f"hazard {self.spec.id}: {self.spec.title}"


JUNIT_KEYS = (
    "id", "verdict", "severity", "samples", "hazardous", "errors", "rate", "ci_low",
    "ci_high", "probability_level", "risk_index", "acceptance",
)


def junit_properties(entry: dict[str, Any]) -> list[tuple[str, object]]:
    """Flat, string-friendly properties so JUnit XML consumers see the key figures."""
    props: list[tuple[str, object]] = [
        (f"hazard_{key}", "" if entry[key] is None else entry[key]) for key in JUNIT_KEYS
    ]
    threshold = entry["threshold"]
    props.append(("hazard_max_acceptance", threshold["max_acceptance"] or ""))
    props.append(("hazard_max_rate", "" if threshold["max_rate"] is None else threshold["max_rate"]))
    return props


def session_state(config: pytest.Config) -> "CodexSafetySession":
    from .session import STATE_KEY

    return config.stash[STATE_KEY]
