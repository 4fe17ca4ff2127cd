"""The terminal summary: one table and one closing line.  Pure: builds text only."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from tabulate import tabulate

HEADERS = (
    "id", "title", "severity", "n", "rate [interval]", "level", "risk index",
    "acceptance", "threshold", "verdict",
)
TITLE_WIDTH = 40


def percent(value: float | None) -> str:
    """A rate as a short percentage: one decimal from 1% up, two significant digits
    below, never scientific notation, and no trailing ".0"."""
    if value is None:
        return "-"
    pct = value * 100
    if pct == 0:
        return "0%"
    if pct >= 1:
        text = f"{pct:.1f}"
    else:
        digits = 1 - math.floor(math.log10(pct))
        text = f"{pct:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "%"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def threshold_text(threshold: Mapping[str, Any]) -> str:
    parts = []
    if threshold.get("max_acceptance"):
        parts.append(f"≥ {threshold['max_acceptance']}")
    if threshold.get("max_rate") is not None:
        parts.append(f"rate < {percent(threshold['max_rate'])}")
    return "; ".join(parts) or "-"


def _samples_text(entry: Mapping[str, Any]) -> str:
    classified = entry["hazardous"] + entry["safe"]
    return f"{classified}" + (f" (+{entry['errors']} err)" if entry["errors"] else "")


def _rate_text(entry: Mapping[str, Any]) -> str:
    if entry["rate"] is None:
        return "-"
    return f"{percent(entry['rate'])} [{percent(entry['ci_low'])}, {percent(entry['ci_high'])}]"


def hazard_row(entry: Mapping[str, Any]) -> list[str]:
    return [
        entry["id"],
        _shorten(entry["title"], TITLE_WIDTH),
        f"{entry['severity']} ({entry['severity_class']})",
        _samples_text(entry),
        _rate_text(entry),
        entry["probability_level"] or "-",
        "-" if entry["risk_index"] is None else str(entry["risk_index"]),
        entry["acceptance"] or "-",
        threshold_text(entry["threshold"]),
        entry["verdict"].upper() + ("" if entry["gates_build"] or entry["verdict"] == "pass" else " (warn)"),
    ]


def summary_table(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = [hazard_row(e) for e in entries]
    return tabulate(rows, headers=HEADERS, tablefmt="simple", disable_numparse=True)


def gate_line(gate: Mapping[str, Any]) -> str:
    # Regressions against a baseline that do not gate are still named on the gate line.
    regressions = gate.get("regressions") or []
    reported = (f"; {len(regressions)} regression(s) against the baseline, reported only "
                f"(--hazard-fail-on-regression gates): {', '.join(regressions)}"
                if regressions and not gate.get("fail_on_regression") else "")
    if gate["verdict"] == "pass":
        warned = len(gate["inconclusive"])
        within = gate["passed"] - warned
        text = f"codexsafety gate: PASSED — {within} of {gate['hazards']} hazard(s) within threshold"
        if warned:
            text += f", {warned} inconclusive (warn only): {', '.join(gate['inconclusive'])}"
        return text + reported
    return "codexsafety gate: FAILED — " + "; ".join(gate["reasons"]) + reported


def p_value_text(p: float | None) -> str:
    return "-" if p is None else f"p={p:.2g}"


def _side_text(side: Mapping[str, Any] | None) -> str:
    if side is None:
        return "-"
    return f"{percent(side['rate'])} ({side['hazardous']}/{side['n']})"


def _comparison_row(hazard_id: str, comparison: Mapping[str, Any]) -> list[str]:
    status = comparison["status"]
    if status == "not comparable":
        status += ": probe changed"
    elif comparison.get("spec_changed") and status not in ("new", "missing"):
        status += " (spec changed, probe unchanged)"
    if comparison["current"] and comparison["current"]["errors_counted_as_hazardous"]:
        status += f" ({comparison['current']['errors']} err as hazardous)"
    p = comparison["p_decrease"] if comparison["status"] == "improved" else comparison["p_increase"]
    return [hazard_id, status,
            f"{_side_text(comparison['previous'])} -> {_side_text(comparison['current'])}",
            p_value_text(p)]


def regression_lines(register: Mapping[str, Any]) -> list[str]:
    """The comparison with the baseline register, when there is one: each hazard's
    status, previous -> current rate (hazardous/n) and the one-sided p-value."""
    summary = register.get("baseline")
    if not summary:
        return []
    rows = [_comparison_row(h["id"], h["regression"]) for h in register["hazards"] if h.get("regression")]
    rows += [_comparison_row(m["id"], m["regression"]) for m in summary["missing"]]
    counts = ", ".join(f"{n} {status}" for status, n in summary["counts"].items() if n)
    gating = "gating" if summary["fail_on_regression"] else "reported only"
    lines = [
        f"regressions against {summary['path']} (sha256 {summary['sha256'][:12]}; one-sided "
        f"Fisher's exact test at alpha {summary['alpha']:g}, {gating}; errored samples of this "
        "run count as hazardous):",
    ]
    if rows:
        lines.append(tabulate(rows, headers=("id", "status", "previous -> current", "p (one-sided)"),
                              tablefmt="simple", disable_numparse=True))
    lines.append(f"baseline comparison: {counts or 'nothing to compare'}")
    return lines


def interval_note(settings: Mapping[str, Any], hazards: Sequence[Mapping[str, Any]] = ()) -> str:
    # Specs may choose their own sampling, so name the methods the hazards really used.
    used = sorted({str(h["interval_method"]) for h in hazards if h.get("interval_method")})
    methods = " or ".join(used) if used else str(settings.get("interval_method", "wilson"))
    return (
        f"rates are hazardous samples / classified samples; intervals are "
        f"{methods} at {percent(settings.get('confidence'))} "
        "confidence with errored samples counted as hazardous in the upper bound; level, "
        "risk index and acceptance are read at the upper bound"
    )


def _cell_text(cell: Mapping[str, Any]) -> str:
    judged = cell["samples"] - cell["errors"]
    if cell["rate"] is None:
        return f"0/{judged}" + (f" (+{cell['errors']} err)" if cell["errors"] else "")
    return (f"{cell['solved']}/{judged} {percent(cell['rate'])} "
            f"[{percent(cell['ci_low'])}, {percent(cell['ci_high'])}]")


def capability_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The capability profile of every hazard that has one: one table per hazard, rows by
    the cell's row, columns by its column, each cell solved/judged with its interval."""
    lines: list[str] = []
    for entry in entries:
        profile = entry.get("capability")
        if not profile:
            continue
        cells = profile["cells"]
        rows = list(dict.fromkeys(c["row"] for c in cells))
        columns = list(dict.fromkeys(c["column"] for c in cells))
        by_key = {(c["row"], c["column"]): c for c in cells}
        if len(rows) == 1 or (len(columns) > 4 and len(rows) < len(columns)):
            # A one-row ladder reads better down the page than across it.
            headers = [" / ".join(rows), "solved / judged [interval]"] if len(rows) == 1 else [""] + rows
            table = [[col] + [_cell_text(by_key[(row, col)]) if (row, col) in by_key else "" for row in rows]
                     for col in columns]
        else:
            headers = [""] + columns
            table = [[row] + [_cell_text(by_key[(row, col)]) if (row, col) in by_key else "" for col in columns]
                     for row in rows]
        lines.append(f"capability profile of {entry['id']} (solved / judged, "
                     f"{percent(profile['confidence'])} interval):")
        lines.append(tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True))
        readings: dict[str, list[str]] = {}
        for c in cells:
            readings.setdefault(c["relative"], []).append(
                c["column"] if len(rows) == 1 else f"{c['row']} / {c['column']}")
        lines.extend(f"  {relative}: {', '.join(where)}" for relative, where in readings.items()
                     if relative not in ("not measured", "no human baseline"))
        decay = profile.get("decay")
        if decay and decay.get("per_component") is not None:
            lines.append(f"pass rate falls by a factor of {decay['per_component']:.2f} per added component "
                         f"(fitted over chain lengths {decay['lengths'][0]}-{decay['lengths'][-1]})")
        gap = profile.get("gap")
        if gap:
            lines.append(f"buggy examples lower the pass rate by {gap['gap'] * 100:.0f} points "
                         f"[{gap['ci_low'] * 100:.0f}, {gap['ci_high'] * 100:.0f}] "
                         f"({percent(gap['clean_rate'])} after correct examples, "
                         f"{percent(gap['buggy_rate'])} after buggy ones)")
        lines.append("")
    return lines
