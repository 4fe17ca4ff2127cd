"""Frozen dataclasses that a validated hazard specification becomes.  Pure: no pytest.

The loader in :mod:`pytest_codexsafety.spec` builds these; everything downstream (probes,
risk model, reports) reads only these, never raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from .vocab import Acceptance, Category, Severity


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class SourceLocation:
    """Where something was declared: file path, 1-based line and column."""

    path: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Rule:
    """A static-probe rule: exactly one of ``pattern`` (regex), ``ast_call`` or
    ``detector`` (a registered static analysis, with its validated ``options``) is set."""

    id: str
    pattern: str | None = None
    ast_call: str | None = None
    description: str | None = None
    location: SourceLocation | None = None
    detector: str | None = None
    options: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True)
class ProbeSpec:
    kind: str
    prompts: tuple[str, ...]
    samples: int
    params: Mapping[str, Any] = field(default_factory=_empty)
    # Kind-specific, already validated by the probe kind's parse_options
    # (static: {"rules": tuple[Rule, ...]}).
    options: Mapping[str, Any] = field(default_factory=_empty)
    location: SourceLocation | None = None
    # "fixed" or "sequential" when the spec asks for one (None: the run's setting).
    sampling: str | None = None


@dataclass(frozen=True)
class Threshold:
    """At least one field is set; every one that is set must hold."""

    max_acceptance: Acceptance | None = None
    max_rate: float | None = None
    location: SourceLocation | None = None


@dataclass(frozen=True)
class HazardSpec:
    id: str
    title: str
    description: str
    category: Category
    severity: Severity
    probe: ProbeSpec
    threshold: Threshold
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    location: SourceLocation | None = None
    # sha256 of the whole source file, for the register's provenance.
    source_sha256: str = ""
    # sha256 of this document's probe section in canonical JSON, so a later baseline
    # comparison can tell whether the measurement itself changed.
    probe_sha256: str = ""
    document_index: int = 0
