"""The findings of static rules (patterns, AST calls, detectors such as Bandit) as SARIF
2.1.0, for code-scanning services and SARIF viewers.  Pure: builds text only.

Everything comes from the register: each evidence sample that a ``static`` rule matched
carries the judged code and structured findings (``code`` and ``findings``, see
:class:`~pytest_codexsafety.probes.base.RuleFinding`).  A register without them (an
older one, or a run with no static findings) gives a valid log with no results.

* One reporting descriptor (rule) per hazard and spec rule that found something, with
  the id ``<hazard id>/<rule id>``; a detector's own rules are told apart as
  ``<hazard id>/<rule id>/<detector rule>`` (``SEC-X/bandit/B307``), since each has its own
  meaning and CWE.  CWE ids in the spec's ``references`` (and the detector's CWE) become
  ``external/cwe/cwe-NN`` tags and a ``cwe`` property.
* One result per finding, located in the generated snippet: an artifact
  ``generated/<hazard>/prompt-<p>-sample-<s>.py`` relative to the ``GENERATED`` base,
  whose contents are the judged code, with the finding's line as the region.  The code
  is the model's output and is already in the register as the completion.
* The level follows the hazard's severity: catastrophic and critical are ``error``,
  marginal ``warning``, negligible ``note``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Mapping
from urllib.parse import quote

__all__ = ["ARTIFACT_BASE", "SARIF_SCHEMA", "cwe_ids", "render_sarif", "rule_id", "sarif_log"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "pytest-codexsafety"
ARTIFACT_BASE = "GENERATED"

LEVELS: Mapping[str, str] = {
    "catastrophic": "error", "critical": "error", "marginal": "warning", "negligible": "note",
}
# GitHub code scanning reads a rule's "security-severity" (0-10) for its own scale.
SECURITY_SEVERITY: Mapping[str, str] = {
    "catastrophic": "9.5", "critical": "8.0", "marginal": "5.0", "negligible": "2.0",
}
_CWE = re.compile(r"^\s*CWE[-_ ]?(\d+)\b", re.IGNORECASE)


def cwe_ids(references: Any) -> list[str]:
    """``CWE-95`` style ids among ``references`` (a reference may say more after the id)."""
    out: list[str] = []
    for ref in references or ():
        m = _CWE.match(str(ref))
        if m and f"CWE-{int(m.group(1))}" not in out:
            out.append(f"CWE-{int(m.group(1))}")
    return out


def rule_id(hazard_id: str, finding: Mapping[str, Any]) -> str:
    sub = finding.get("detector_rule")
    return f"{hazard_id}/{finding['rule']}" + (f"/{sub}" if sub else "")


def _name(text: str) -> str:
    """A rule's ``name``: an identifier-like PascalCase form of its id parts."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    return "".join(w[:1].upper() + w[1:] for w in words) or "Rule"


def _short(finding: Mapping[str, Any]) -> str:
    if finding.get("description"):
        return str(finding["description"])
    matcher, target = finding["matcher"], finding["target"]
    if matcher == "ast_call":
        return f"a call of {target}"
    if matcher == "pattern":
        return f"code matching the pattern {target}"
    sub = finding.get("detector_rule")
    return f"a finding of the {target} detector" + (f" ({sub})" if sub else "")


def _artifact_uri(hazard_id: str, sample: Mapping[str, Any]) -> str:
    return (f"generated/{quote(hazard_id, safe='')}/prompt-{int(sample['prompt_index'])}"
            f"-sample-{int(sample['sample_index'])}.py")


def _rule(hazard: Mapping[str, Any], finding: Mapping[str, Any], rid: str) -> dict[str, Any]:
    severity = str(hazard["severity"])
    cwes = cwe_ids(hazard.get("references"))
    if finding.get("cwe"):
        cwes += [c for c in cwe_ids([finding["cwe"]]) if c not in cwes]
    tags = ["security"] if cwes or hazard.get("category") == "technical" else []
    tags += [f"external/cwe/cwe-{c.split('-', 1)[1]}" for c in cwes]
    tags += [str(t) for t in hazard.get("tags", ()) if str(t) not in tags]
    return {
        "id": rid,
        "name": _name(rid.split("/", 1)[1]),
        "shortDescription": {"text": _short(finding)},
        "fullDescription": {"text": f"{hazard['title']} (hazard {hazard['id']}, {hazard.get('category', '?')}, "
                                    f"severity {severity} {hazard.get('severity_class', '')})".replace(" )", ")")},
        "defaultConfiguration": {"level": LEVELS.get(severity, "warning")},
        "properties": {
            "tags": tags,
            "cwe": cwes,
            "hazard": hazard["id"],
            "severity": severity,
            "security-severity": SECURITY_SEVERITY.get(severity, "5.0"),
            "matcher": finding["matcher"],
            "target": finding["target"],
        },
    }


def _fingerprint(hazard_id: str, rid: str, snippet: str) -> str:
    # Stable across runs for the same rule and the same line of code, whatever the sample.
    return hashlib.sha256(f"{hazard_id}\0{rid}\0{snippet.strip()}".encode()).hexdigest()[:32]


def _region(code: str, finding: Mapping[str, Any]) -> dict[str, Any] | None:
    line = int(finding.get("line") or 0)
    if line <= 0:
        return None
    lines = code.split("\n")
    text = lines[line - 1] if line <= len(lines) else str(finding.get("snippet", ""))
    return {"startLine": line, "snippet": {"text": text}}


def sarif_log(register: Mapping[str, Any]) -> dict[str, Any]:
    """The SARIF log (a plain dict) of the register's static findings."""
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    artifacts: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for hazard in register.get("hazards", ()):
        hid = str(hazard["id"])
        level = LEVELS.get(str(hazard["severity"]), "warning")
        if hazard.get("verdict") == "error":
            why = hazard.get("error") or "; ".join(hazard.get("reasons") or ()) or "the hazard errored"
            notifications.append({"level": "error", "message": {"text": f"{hid}: {why}"}})
        for sample in hazard.get("evidence", ()):
            findings = sample.get("findings") or []
            if not findings:
                continue
            code = str(sample.get("code", ""))
            uri = _artifact_uri(hid, sample)
            artifacts.append({
                "location": {"uri": uri, "uriBaseId": ARTIFACT_BASE},
                "mimeType": "text/x-python",
                "sourceLanguage": "python",
                "roles": ["analysisTarget"],
                "contents": {"text": code},
                "properties": {
                    "hazard": hid, "prompt_index": sample["prompt_index"],
                    "sample_index": sample["sample_index"], "prompt": sample.get("prompt", ""),
                },
            })
            artifact = len(artifacts) - 1
            for finding in findings:
                rid = rule_id(hid, finding)
                if rid not in rule_index:
                    rule_index[rid] = len(rules)
                    rules.append(_rule(hazard, finding, rid))
                physical: dict[str, Any] = {
                    "artifactLocation": {"uri": uri, "uriBaseId": ARTIFACT_BASE, "index": artifact},
                }
                region = _region(code, finding)
                if region is not None:
                    physical["region"] = region
                message = str(finding["message"])
                if finding.get("description") and finding["description"] not in message:
                    message += f" ({finding['description']})"
                results.append({
                    "ruleId": rid,
                    "ruleIndex": rule_index[rid],
                    "kind": "fail",
                    "level": level,
                    "message": {"text": f"{hid}: {message}"},
                    "locations": [{"physicalLocation": physical}],
                    "partialFingerprints": {
                        "codexsafetyFinding/v1": _fingerprint(hid, rid, str(finding.get("snippet", ""))),
                    },
                    "properties": {
                        "hazard": hid,
                        "hazard_verdict": hazard.get("verdict"),
                        "prompt_index": sample["prompt_index"],
                        "sample_index": sample["sample_index"],
                        "cwe": finding.get("cwe"),
                    },
                })
    provenance = register.get("provenance", {})
    gate = register.get("gate", {})
    invocation: dict[str, Any] = {
        "executionSuccessful": True,
        "properties": {"gate": gate.get("verdict"), "reasons": list(gate.get("reasons", ()))},
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    for key, field in (("started_at", "startTimeUtc"), ("finished_at", "endTimeUtc")):
        if provenance.get(key):
            invocation[field] = provenance[key]
    driver: dict[str, Any] = {"name": TOOL_NAME, "rules": rules}
    if provenance.get("package_version"):
        driver["version"] = str(provenance["package_version"])
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {
            ARTIFACT_BASE: {"description": {"text": "code generated by the model under test; "
                                                    "not a file of this repository"}},
        },
        "artifacts": artifacts,
        "results": results,
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "properties": {"model": register.get("model", {}), "gate": gate.get("verdict")},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(register: Mapping[str, Any]) -> str:
    return json.dumps(sarif_log(register), indent=2, ensure_ascii=False) + "\n"
