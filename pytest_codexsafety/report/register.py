"""The JSON risk register: one entry per hazard, the gate, provenance.  Pure.

Entries are plain JSON dicts because they travel from pytest-xdist workers to the
controller on test reports; the register and the terminal summary are both built from
these dicts, so a serial run and a distributed run cannot disagree.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..capability.profile import ProfileSample, build_profile
from ..runner import HazardRun
from ..stats import WILSON
from ..vocab import Outcome, Verdict
from .baseline import DEFAULT_ALPHA, Baseline, compare_register, regression_ids

SCHEMA_VERSION = "1.1"
# How many non-safe samples an entry keeps as evidence for reviewers.
MAX_EVIDENCE_SAMPLES = 20


def hazard_entry(run: HazardRun, nodeid: str) -> dict[str, Any]:
    spec = run.spec
    decision = run.decision
    estimate = decision.estimate if decision else None
    # An errored hazard's interval is mostly its errors: no level or index is claimed.
    assessment = decision.assessment if decision and run.verdict is not Verdict.ERROR else None
    entry: dict[str, Any] = {
        "id": spec.id,
        "nodeid": nodeid,
        "title": spec.title,
        "category": spec.category.value,
        "severity": spec.severity.value,
        "severity_class": spec.severity.roman,
        "references": list(spec.references),
        "tags": list(spec.tags),
        "source": {
            "path": spec.location.path if spec.location else "",
            "line": spec.location.line if spec.location else 0,
            "sha256": spec.source_sha256,
            "probe_sha256": spec.probe_sha256,
        },
        "probe": {
            "kind": spec.probe.kind,
            "prompts": len(spec.probe.prompts),
            "samples_per_prompt": spec.probe.samples,
            "params": dict(spec.probe.params),
        },
        "samples": len(run.samples),
        "hazardous": run.count(Outcome.HAZARDOUS),
        "safe": run.count(Outcome.SAFE),
        "errors": run.count(Outcome.ERROR),
        "controls": run.count(Outcome.CONTROL),
        "rate": estimate.rate if estimate else None,
        "ci_low": estimate.low if estimate else None,
        "ci_high": estimate.high if estimate else None,
        "confidence": estimate.confidence if estimate else None,
        "interval_method": estimate.method if estimate else None,
        "probability_level": assessment.level.code if assessment else None,
        "probability_name": assessment.level.name if assessment else None,
        "risk_index": assessment.risk_index if assessment else None,
        "acceptance": assessment.acceptance.value if assessment else None,
        "threshold": {
            "max_acceptance": (
                spec.threshold.max_acceptance.value if spec.threshold.max_acceptance else None
            ),
            "max_rate": spec.threshold.max_rate,
            "rate_limit": decision.limit if decision else None,
            "limit_source": decision.limit_source if decision else None,
        },
        "verdict": run.verdict.value,
        "gates_build": run.gates_build,
        "reasons": list(decision.reasons) if decision else [],
        "conclusion": list(decision.conclusion) if decision else [],
        "additional_samples": decision.additional_samples if decision else None,
        "error": run.error,
        "cut_short": run.cut_short,
        # fixed or sequential, the batch, looks and cap (None: never sampled).
        "sampling": None if run.sampling is None else dict(run.sampling),
        "model": dict(run.model),
        "usage": {
            "requests": run.requests,
            "cached_requests": run.cached_requests,
            "prompt_tokens": run.prompt_tokens,
            "completion_tokens": run.completion_tokens,
        },
        "duration_s": round(run.duration_s, 4),
        "evidence": [s.to_dict() for s in run.worst_samples(MAX_EVIDENCE_SAMPLES)],
        "capability": capability_profile(run),
    }
    return entry


def capability_profile(run: HazardRun) -> dict[str, Any] | None:
    """The pass rate per capability cell, at the hazard's confidence (None when the
    probe tags no cells)."""
    estimate = run.decision.estimate if run.decision else None
    return build_profile(
        (ProfileSample(s.cell, s.prompt_index, s.solved) for s in run.samples if s.cell is not None),
        confidence=estimate.confidence if estimate else 0.95,
        method=estimate.method if estimate else WILSON,
    )


def spec_error_entry(nodeid: str, path: str, message: str) -> dict[str, Any]:
    return {"nodeid": nodeid, "path": path, "message": message}


def gate_summary(
    hazards: Sequence[Mapping[str, Any]], spec_errors: Sequence[Mapping[str, Any]],
    *, fail_on_regression: bool | None = None,
) -> dict[str, Any]:
    """The gate's decision over every hazard that ran, with the ids behind it.

    ``fail_on_regression`` is None without a baseline; with one, regressions against it
    are listed (``regressions``) and fail the gate when it is True."""
    failing = [h["id"] for h in hazards if h["verdict"] == Verdict.FAIL.value]
    inconclusive = [h["id"] for h in hazards if h["verdict"] == Verdict.INCONCLUSIVE.value]
    errored = [h["id"] for h in hazards if h["verdict"] == Verdict.ERROR.value]
    blocking_inconclusive = [
        h["id"] for h in hazards
        if h["verdict"] == Verdict.INCONCLUSIVE.value and h["gates_build"]
    ]
    reasons: list[str] = []
    if failing:
        reasons.append(f"{len(failing)} hazard(s) over threshold: {', '.join(failing)}")
    if blocking_inconclusive:
        reasons.append(
            f"{len(blocking_inconclusive)} hazard(s) inconclusive: {', '.join(blocking_inconclusive)}"
        )
    if errored:
        reasons.append(f"{len(errored)} hazard(s) errored: {', '.join(errored)}")
    regressions = regression_ids(hazards)
    if fail_on_regression and regressions:
        reasons.append(f"{len(regressions)} hazard(s) regressed against the baseline: {', '.join(regressions)}")
    if spec_errors:
        reasons.append(f"{len(spec_errors)} invalid hazard spec(s)")
    if not hazards and not spec_errors:
        reasons.append("no hazard was evaluated")
    verdict = "fail" if reasons else "pass"
    gate: dict[str, Any] = {
        "verdict": verdict,
        "failing": failing,
        "inconclusive": inconclusive,
        "errors": errored,
        "spec_errors": [e["nodeid"] for e in spec_errors],
        "reasons": reasons,
        "hazards": len(hazards),
        "passed": sum(1 for h in hazards if not h["gates_build"]),
    }
    if fail_on_regression is not None:
        gate["regressions"] = regressions
        gate["fail_on_regression"] = fail_on_regression
    return gate


def build_register(
    hazards: Iterable[Mapping[str, Any]],
    spec_errors: Iterable[Mapping[str, Any]],
    *,
    model: Mapping[str, Any],
    settings: Mapping[str, Any],
    provenance: Mapping[str, Any],
    baseline: Baseline | None = None,
    regression_alpha: float = DEFAULT_ALPHA,
    fail_on_regression: bool = False,
) -> dict[str, Any]:
    ordered = sorted(hazards, key=lambda h: (h["id"], h["nodeid"]))
    # Compared here, on the controller, from the gathered entries: serial and xdist
    # runs compare the same numbers.
    comparison: dict[str, Any] | None = None
    if baseline is None:
        ordered = [{**h, "regression": None} for h in ordered]
    else:
        per_hazard, comparison = compare_register(ordered, baseline, alpha=regression_alpha,
                                                  fail_on_regression=fail_on_regression)
        ordered = [{**h, "regression": c} for h, c in zip(ordered, per_hazard)]
    errors = sorted(spec_errors, key=lambda e: e["nodeid"])
    spec_files: dict[str, str] = {}
    for h in ordered:
        spec_files[h["source"]["path"]] = h["source"]["sha256"]
    usage = {
        key: sum(int(h["usage"][key]) for h in ordered)
        for key in ("requests", "cached_requests", "prompt_tokens", "completion_tokens")
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "model": dict(model),
        "settings": dict(settings),
        "hazards": ordered,
        "spec_errors": errors,
        "gate": gate_summary(ordered, errors,
                             fail_on_regression=None if baseline is None else fail_on_regression),
        "baseline": comparison,
        "usage": usage,
        "provenance": {**provenance, "spec_files": spec_files},
    }


def base_provenance(package_version: str, pytest_version: str, seed: int, started: datetime) -> dict[str, Any]:
    return {
        "package_version": package_version,
        "pytest_version": pytest_version,
        "python_version": platform.python_version(),
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "seed": seed,
    }


def write_register(path: Path, register: Mapping[str, Any]) -> None:
    """Write atomically so a reader never sees half a register."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(register, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
