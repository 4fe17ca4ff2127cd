"""The contract every probe kind fulfils.  No pytest import.

A probe kind (``static``, ``refusal``, later ``exec`` ...) does two things:

* ``parse_options`` validates the kind-specific keys under ``probe:`` of a spec, through
  an :class:`OptionsReader` that the spec loader hands it, so its errors carry the same
  file/line/column and did-you-mean hints as every other spec error;
* ``classify`` decides, for one completion, whether the sample is hazardous, safe, or an
  error, with human-readable evidence.

Kinds register through the ``pytest_codexsafety_probe_kinds`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from ..capability.cells import Cell
from ..errors import SpecError
from ..specmodel import ProbeSpec, SourceLocation
from ..vocab import Outcome


@dataclass(frozen=True)
class RuleFinding:
    """One structured finding of a ``static`` rule, for machine-readable reports (SARIF).

    ``rule`` is the spec's rule id; ``matcher`` how the rule matches (``pattern``,
    ``ast_call`` or ``detector``) and ``target`` what (the regex, the call name or the
    detector's name); ``detector_rule`` the detector's own id (``B307``); ``line`` is
    1-based in the judged code (0: unknown); ``snippet`` is that line, clipped.
    """

    rule: str
    matcher: str
    target: str
    line: int
    message: str
    snippet: str = ""
    detector_rule: str | None = None
    cwe: str | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "matcher": self.matcher, "target": self.target[:200],
            "detector_rule": self.detector_rule, "line": max(0, self.line), "cwe": self.cwe,
            "message": self.message[:300], "snippet": self.snippet[:200],
            "description": None if self.description is None else self.description[:300],
        }


@dataclass(frozen=True)
class Classification:
    """The verdict on one sample and why."""

    outcome: Outcome
    evidence: tuple[str, ...] = ()
    # The code that was judged (after extraction), kept for the report.
    code: str = ""
    # Capability probes: the profile cell this sample measures, and whether the program
    # solved its task (independent of which side ``hazardous_when`` calls the hazard).
    cell: Cell | None = None
    solved: bool | None = None
    # Static rules: what matched, structured (the evidence says the same in words).
    findings: tuple[RuleFinding, ...] = ()


class OptionsReader(Protocol):
    """Typed, located access to one YAML mapping of a spec (implemented by the loader).

    Every getter raises :class:`SpecError` naming file, line, column and key on a wrong
    type or a missing required key.
    """

    @property
    def path(self) -> str: ...

    def location(self, key: str | None = None) -> SourceLocation:
        """Where ``key``'s value (or, with None, the mapping itself) starts."""
        ...

    def keys(self) -> Sequence[str]: ...

    def has(self, key: str) -> bool: ...

    def reject_unknown(self, allowed: Sequence[str]) -> None:
        """Raise on the first key not in ``allowed``, with a did-you-mean hint."""
        ...

    def required_str(self, key: str) -> str: ...

    def optional_str(self, key: str, default: str | None = None) -> str | None: ...

    def required_int(self, key: str, *, minimum: int | None = None) -> int: ...

    def optional_int(
        self, key: str, default: int | None = None, *, minimum: int | None = None
    ) -> int | None: ...

    def optional_float(
        self,
        key: str,
        default: float | None = None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float | None: ...

    def optional_bool(self, key: str, default: bool | None = None) -> bool | None: ...

    def str_list(self, key: str, *, required: bool = True, non_empty: bool = True) -> tuple[str, ...]: ...

    def choice(self, key: str, choices: Sequence[str], *, default: str | None = None) -> str: ...

    def mapping(self, key: str, *, required: bool = True) -> "OptionsReader | None": ...

    def mapping_list(self, key: str, *, required: bool = True, non_empty: bool = True) -> tuple["OptionsReader", ...]: ...

    def json_value(self, key: str) -> Any:
        """Any plain JSON value (null, bool, number, string, list, mapping of strings)."""
        ...

    def error(self, key: str | None, message: str, hint: str | None = None) -> SpecError:
        """Build (not raise) a SpecError located at ``key``."""
        ...


@runtime_checkable
class ProbeKind(Protocol):
    """A kind of probe.  ``option_keys`` lists the extra keys it accepts under ``probe:``
    besides the common ``kind``, ``prompts``, ``samples`` and ``params``.

    A kind may also set ``generates_prompts = True`` (optional, not part of the
    protocol): its specs then take no ``prompts`` key, and the loader stores the result
    of :meth:`prompts` (called on the parsed options) as the spec's prompts."""

    name: str
    option_keys: tuple[str, ...]

    def parse_options(self, reader: OptionsReader) -> Mapping[str, Any]:
        """Validate the kind-specific keys; return them as immutable Python values."""
        ...

    def prompts(self, probe: ProbeSpec) -> Sequence[str]:
        """The prompts to send (for simple kinds: ``probe.prompts``)."""
        ...

    def classify(self, probe: ProbeSpec, prompt: str, completion: str) -> Classification:
        """Judge one completion.  Must not execute the completion in this process."""
        ...

    def options_schema(self) -> Mapping[str, Any]:
        """JSON Schema ``properties`` for the kind-specific keys (for the shipped schema)."""
        ...



def counted_samples(kind: ProbeKind, probe: ProbeSpec) -> int:
    """The most samples that can count toward a hazard's rate: every sample drawn, unless
    the kind says fewer (``counted_samples``, optional: misalignment's clean-context
    samples are controls)."""
    own = getattr(kind, "counted_samples", None)
    return int(own(probe)) if callable(own) else len(probe.prompts) * probe.samples
