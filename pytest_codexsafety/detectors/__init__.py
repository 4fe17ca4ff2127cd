"""Detectors: named static analyses that ``static`` probe rules call (``detector: NAME``).

Each detector implements :class:`~pytest_codexsafety.detectors.base.Detector`::

    detect(code: str, options: Mapping[str, Any]) -> list[Finding]

and is registered here in :data:`DETECTORS`.  Nothing here executes the analysed code.

============================  ==========================================================
``bandit``                    Bandit's findings (optional extra ``[bandit]``)
``weak-crypto``               short RSA/DSA keys, ECB, DES/RC4, fast password hashes ...
``hallucinated-package``      unverified imports and ``pip install`` names
``hardcoded-secret``          credentials written as literals (CWE-798)
``exclusionary-categories``   binary/closed gender, race, religion, orientation sets
============================  ==========================================================

This module also holds the glue the ``static`` probe uses: reading a detector rule from
a spec (:func:`read_detector_rule`), turning findings into evidence
(:func:`findings_evidence`) and the JSON Schema of the rule (:func:`rule_schema`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Sequence

from ..errors import ProbeError
from ..extract import parse_python
from ..probes.base import OptionsReader
from ..yamlnodes import listing, suggest
from .bandit_detector import BANDIT
from .base import Detector, DetectorUnavailable, Finding, OptionError, salvage
from .bias import EXCLUSIONARY_CATEGORIES
from .crypto import WEAK_CRYPTO
from .packages import HALLUCINATED_PACKAGE
from .secrets import HARDCODED_SECRET

__all__ = [
    "DETECTORS",
    "Detector",
    "DetectorUnavailable",
    "Finding",
    "OptionError",
    "findings_evidence",
    "get_detector",
    "read_detector_rule",
    "rule_schema",
]

DETECTORS: Mapping[str, Detector] = MappingProxyType({
    d.name: d for d in (BANDIT, WEAK_CRYPTO, HALLUCINATED_PACKAGE, HARDCODED_SECRET, EXCLUSIONARY_CATEGORIES)
})

#: Findings quoted per rule in the evidence; the rest are counted.
MAX_FINDINGS_SHOWN = 3
_MAX_QUOTE = 120


def get_detector(name: str) -> Detector:
    """The registered detector ``name``; :class:`ProbeError` (with a suggestion) if unknown."""
    try:
        return DETECTORS[name]
    except KeyError:
        guess = suggest(name, sorted(DETECTORS))
        hint = f"; did you mean '{guess}'?" if guess else ""
        raise ProbeError(f"unknown detector {name!r}{hint} (known: {listing(sorted(DETECTORS))})") from None


def read_detector_rule(r: OptionsReader) -> tuple[str, Mapping[str, Any]]:
    """Read ``detector`` and ``options`` of one rule; every problem is a located SpecError."""
    name = r.required_str("detector")
    known = sorted(DETECTORS)
    if name not in DETECTORS:
        guess = suggest(name, known)
        hint = f"did you mean '{guess}'?" if guess else f"use one of {listing(known)}"
        raise r.error("detector", f"unknown detector {name!r}; known detectors: {listing(known)}", hint)
    detector = DETECTORS[name]
    try:
        detector.check_available()
    except DetectorUnavailable as exc:
        raise r.error("detector", str(exc)) from None
    sub = r.mapping("options", required=False)
    raw = {key: sub.json_value(key) for key in sub.keys()} if sub is not None else {}
    try:
        options = detector.parse_options(raw)
    except OptionError as exc:
        message = f"detector {name!r}: {exc.message}"
        if sub is None:
            raise r.error("detector", message, exc.hint) from None
        key = exc.key if exc.key is not None and sub.has(exc.key) else None
        raise sub.error(key, message, exc.hint) from None
    return name, MappingProxyType(dict(options))


def _quote(line: str) -> str:
    s = line.strip()
    return repr(s if len(s) <= _MAX_QUOTE else s[: _MAX_QUOTE - 3] + "...")


def findings_evidence(
    rule_id: str, description: str | None, detector: Detector, findings: Sequence[Finding], text: str
) -> list[str]:
    """Evidence lines for a rule's findings: test id, CWE, line (and the line quoted)."""
    lines = text.split("\n")
    where = " of the completion" if detector.scope == "completion" else ""
    quote = getattr(detector, "quote", True)
    findings = list(dict.fromkeys(findings))  # nested calls on one line report twice
    out: list[str] = []
    for f in findings[:MAX_FINDINGS_SHOWN]:
        cwe = f" ({f.cwe})" if f.cwe else ""
        at = f" at line {f.line}{where}" if f.line > 0 else ""
        shown = f": {_quote(lines[f.line - 1])}" if quote and 0 < f.line <= len(lines) else ""
        item = f"rule {rule_id!r} ({detector.name}) found {f.rule}{cwe}{at}{shown}: {f.message}"
        out.append(item + (f" ({description})" if description else ""))
    if len(findings) > MAX_FINDINGS_SHOWN:
        out.append(f"rule {rule_id!r}: and {len(findings) - MAX_FINDINGS_SHOWN} more finding(s)")
    if out and detector.scope == "code" and parse_python(text) is None:
        out[-1] += f"; {salvage(text).note}"
    return out


def rule_schema() -> dict[str, Any]:
    """The JSON Schema pieces a static rule needs for ``detector`` and ``options``.

    ``properties`` go next to ``pattern``/``ast_call``; ``allOf`` ties each detector to
    the schema of its options; ``dependentRequired`` forbids ``options`` without a detector.
    """
    branches = [
        {
            "if": {"properties": {"detector": {"const": name}}, "required": ["detector"]},
            "then": {"properties": {"options": dict(d.options_schema())}},
        }
        for name, d in sorted(DETECTORS.items())
    ]
    return {
        "properties": {
            "detector": {
                "description": "A registered detector: a static analysis run over the code (docs/hazards.md).",
                "enum": sorted(DETECTORS),
            },
            "options": {
                "description": "Options of the detector (JSON values); only with 'detector'.",
                "type": "object",
            },
        },
        "dependentRequired": {"options": ["detector"]},
        "allOf": branches,
    }
