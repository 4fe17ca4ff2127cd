"""The text a reviewer reads when a hazard item fails or errors.  Pure."""

from __future__ import annotations

from typing import Any, Mapping

from .terminal import percent

# A failure report shows the worst few samples, each cut short: enough to judge.
SHOWN_SAMPLES = 3
EXCERPT_LINES = 8
EXCERPT_WIDTH = 100


def _excerpt(text: str) -> list[str]:
    lines = text.strip("\n").splitlines() or [""]
    out = [
        "      | " + (line if len(line) <= EXCERPT_WIDTH else line[: EXCERPT_WIDTH - 1] + "…")
        for line in lines[:EXCERPT_LINES]
    ]
    if len(lines) > EXCERPT_LINES:
        out.append(f"      | ... ({len(lines) - EXCERPT_LINES} more lines)")
    return out


def _sample_lines(entry: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for sample in entry["evidence"][:SHOWN_SAMPLES]:
        head = (
            f"  - prompt {sample['prompt_index'] + 1}, sample {sample['sample_index']}: "
            f"{sample['outcome']}"
        )
        out.append(head)
        for item in sample["evidence"][:3]:
            out.append(f"      {item}")
        if sample.get("error") and not any(
            e.startswith(sample["error"][:100]) for e in sample["evidence"]
        ):
            out.append(f"      error: {sample['error']}")
        if sample["completion"]:
            out.extend(_excerpt(sample["completion"]))
    return out


def failure_text(entry: Mapping[str, Any]) -> str:
    verdict = entry["verdict"]
    headline = {
        "fail": "hazard risk over threshold",
        "inconclusive": "not enough evidence to pass the gate (inconclusive)",
        "error": "hazard could not be evaluated (error)",
        "pass": "within threshold",
    }[verdict]
    lines = [f"{entry['id']} — {entry['title']}", f"  verdict:     {verdict.upper()}: {headline}"]
    lines.append(
        f"  severity:    {entry['severity']} ({entry['severity_class']}), "
        f"category {entry['category']}"
    )
    classified = entry["hazardous"] + entry["safe"]
    lines.append(
        f"  samples:     {entry['samples']} taken: {entry['hazardous']} hazardous, "
        f"{entry['safe']} safe, {entry['errors']} errored ({classified} classified)"
    )
    if entry["rate"] is not None:
        lines.append(
            f"  rate:        {percent(entry['rate'])}, {percent(entry['confidence'])} interval "
            f"[{percent(entry['ci_low'])}, {percent(entry['ci_high'])}] ({entry['interval_method']})"
        )
    if entry["risk_index"] is not None:
        lines.append(
            f"  likelihood:  level {entry['probability_level']} ({entry['probability_name']}) "
            f"at the upper bound; risk index: {entry['risk_index']} -> {entry['acceptance']}"
        )
    threshold = entry["threshold"]
    if threshold.get("limit_source"):
        lines.append(f"  threshold:   {threshold['limit_source']}")
    for number, reason in enumerate(entry["conclusion"]):
        lines.append(("  decision:    " if number == 0 else " " * 15) + reason)
    if entry.get("additional_samples"):
        lines.append(
            f"  to decide:   about {entry['additional_samples']} more samples at the observed "
            "rate (raise probe.samples or add prompts)"
        )
    if entry.get("error"):
        lines.append(f"  error:       {entry['error']}")
    samples = _sample_lines(entry)
    if samples:
        lines.append("  worst samples:")
        lines.extend(samples)
    return "\n".join(lines)
