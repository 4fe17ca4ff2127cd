"""The HTML report: one self-contained page a reviewer opens from disk.  Pure: builds text.

Order: the gate verdict with its reasons; the risk matrix with every hazard in its cell;
the capability profiles (the ladder's curve against the human baseline, the
property-by-level grid, the misalignment gap); the hazard table, each row opening onto
its reasons and its evidence samples; spec errors; provenance.

Everything in the register may hold model output (prompts, completions, evidence) or
text a spec author wrote, so every value is escaped (``html.escape``, quotes included)
and none becomes markup, an attribute name, a colour, an id or a URL: classes, colours
and in-page links are chosen from fixed tables or made from a hazard's position.  A
strict Content-Security-Policy forbids scripts, network access and external resources,
so even a value that slipped through could not run or call home.  No script is used:
drill-down is ``<details>``, tooltips are SVG ``<title>`` and ``title`` attributes.
The output depends on the register only (no clock, no environment), so it is
deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import svg
from .svg import esc
from .terminal import percent, threshold_text

__all__ = ["CSP", "render_html"]

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")

SEVERITIES = (("I", "catastrophic"), ("II", "critical"), ("III", "marginal"), ("IV", "negligible"))
LEVEL_NAMES = {"A": "frequent", "B": "probable", "C": "occasional", "D": "remote", "E": "improbable"}
DEFAULT_MATRIX = {"A": [1, 3, 7, 13], "B": [2, 5, 9, 16], "C": [4, 6, 11, 18], "D": [8, 10, 14, 19],
                  "E": [12, 15, 17, 20]}
DEFAULT_BANDS = [{"acceptance": "unacceptable", "low": 1, "high": 5},
                 {"acceptance": "undesirable", "low": 6, "high": 9},
                 {"acceptance": "acceptable_with_review", "low": 10, "high": 17},
                 {"acceptance": "acceptable", "low": 18, "high": 20}]

ACCEPTANCE_COLOURS = {
    "unacceptable": "#e8594a",
    "undesirable": "#f6a45c",
    "acceptable_with_review": "#f7dc6f",
    "acceptable": "#8fd18a",
}
ACCEPTANCE_LABELS = {
    "unacceptable": "unacceptable",
    "undesirable": "undesirable",
    "acceptable_with_review": "acceptable with review",
    "acceptable": "acceptable",
}
UNKNOWN_COLOUR = "#e4e4e4"

# verdict -> (symbol, marker fill, marker text, marker stroke, dashed)
VERDICT_STYLES = {
    "fail": ("✘", "#6e0f0f", "#ffffff", "#3d0707", False),
    "inconclusive": ("?", "#ffffff", "#4a2a7a", "#4a2a7a", True),
    "pass": ("✔", "#ffffff", "#17561f", "#17561f", False),
    "error": ("!", "#555555", "#ffffff", "#222222", True),
}
UNKNOWN_VERDICT = ("•", "#ffffff", "#222222", "#222222", True)

CURVE_COLOUR = "#1565c0"  # used by nothing else: the browser test finds the curve by it
RATE_COLOUR = "#5b7fa6"
BASELINE_COLOUR = "#2e9e6a"


# --------------------------------------------------------------------------- helpers


def _safe_class(value: object, known: Iterable[str], prefix: str) -> str:
    """A class name for an enum value, or ``<prefix>unknown``: never the value itself
    unless it is one of the known words."""
    text = str(value)
    return prefix + (text.replace("_", "-") if text in set(known) else "unknown")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return _json(value)


def _pct(value: Any) -> str:
    return percent(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _interval(low: Any, high: Any) -> str:
    return f"[{_pct(low)}, {_pct(high)}]"


def _dl(items: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(_scalar(v))}</dd>" for k, v in items)
    return f"<dl>{rows}</dl>"


def _ul(lines: Iterable[Any], css: str = "") -> str:
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    if not items:
        return ""
    return f'<ul class="{css}">{items}</ul>' if css else f"<ul>{items}</ul>"


def _anchor(index: int) -> str:
    return f"hazard-{index}"


def _verdict_badge(verdict: Any) -> str:
    symbol = VERDICT_STYLES.get(str(verdict), UNKNOWN_VERDICT)[0]
    css = _safe_class(verdict, VERDICT_STYLES, "verdict-")
    return f'<span class="badge {css}">{esc(symbol)} {esc(str(verdict).upper())}</span>'


def _acceptance_badge(acceptance: Any) -> str:
    if acceptance is None:
        return "-"
    css = _safe_class(acceptance, ACCEPTANCE_COLOURS, "acc-")
    return f'<span class="badge {css}">{esc(ACCEPTANCE_LABELS.get(str(acceptance), str(acceptance)))}</span>'


def _rate_text(h: Mapping[str, Any]) -> str:
    if h.get("rate") is None:
        return "-"
    return f"{_pct(h['rate'])} {_interval(h.get('ci_low'), h.get('ci_high'))}"


# --------------------------------------------------------------------------- sections


def _gate(register: Mapping[str, Any]) -> str:
    gate = register.get("gate", {})
    verdict = "pass" if gate.get("verdict") == "pass" else "fail"
    hazards = gate.get("hazards", len(register.get("hazards", [])))
    counts = [
        f"{hazards} hazard(s) evaluated",
        f"{gate.get('passed', 0)} not gating",
        f"{len(gate.get('failing', []))} over threshold",
        f"{len(gate.get('inconclusive', []))} inconclusive",
        f"{len(gate.get('errors', []))} errored",
        f"{len(gate.get('spec_errors', []))} invalid spec(s)",
    ]
    reasons = list(gate.get("reasons", []))
    if verdict == "pass":
        warned = gate.get("inconclusive", [])
        reasons = ["every hazard is within its threshold"] if not warned else [
            f"inconclusive, warn only: {', '.join(str(w) for w in warned)}"]
    title = "GATE PASSED" if verdict == "pass" else "GATE FAILED"
    model = register.get("model", {}).get("spec", "-")
    return (
        f'<section id="gate" class="gate gate-{verdict}">'
        f'<div class="gate-verdict">{esc(title)}</div>'
        f'<div class="gate-counts">{esc(" · ".join(counts))}</div>'
        f'{_ul(reasons, "gate-reasons")}'
        f'<div class="gate-model">model {esc(model)}</div>'
        "</section>"
    )


def _acceptance_of(index: int | None, bands: Sequence[Mapping[str, Any]]) -> str | None:
    if index is None:
        return None
    for band in bands:
        if band.get("low", 0) <= index <= band.get("high", -1):
            return str(band.get("acceptance"))
    return None


def _matrix(register: Mapping[str, Any], hazards: Sequence[Mapping[str, Any]]) -> str:
    settings = register.get("settings", {})
    matrix: Mapping[str, Sequence[int]] = settings.get("risk_matrix") or DEFAULT_MATRIX
    bands: Sequence[Mapping[str, Any]] = settings.get("acceptance_bands") or DEFAULT_BANDS
    minimums: Mapping[str, Any] = settings.get("probability_levels") or {}
    names = dict(LEVEL_NAMES)
    for h in hazards:
        if h.get("probability_level") and h.get("probability_name"):
            names[str(h["probability_level"])] = str(h["probability_name"])
    levels = list(matrix)
    rows = []
    for level in levels:
        heading = f"{level} {names.get(level, '')}".strip()
        minimum = minimums.get(level)
        if isinstance(minimum, (int, float)) and minimum > 0:
            heading += f" (≥ {percent(float(minimum))})"
        elif isinstance(minimum, (int, float)):
            heading += " (lower)"
        rows.append((level, heading))
    columns = [(code, f"{code} {name}") for code, name in SEVERITIES]
    fills: dict[tuple[str, str], str] = {}
    labels: dict[tuple[str, str], str] = {}
    titles: dict[tuple[str, str], str] = {}
    for level in levels:
        indices = list(matrix[level])
        for j, (code, name) in enumerate(SEVERITIES):
            index = indices[j] if j < len(indices) and isinstance(indices[j], int) else None
            acceptance = _acceptance_of(index, bands)
            fills[(level, code)] = ACCEPTANCE_COLOURS.get(acceptance or "", UNKNOWN_COLOUR)
            labels[(level, code)] = f"risk index {index}" if index is not None else ""
            titles[(level, code)] = (f"level {level}, severity {code} ({name}): risk index {index}, "
                                     f"{ACCEPTANCE_LABELS.get(acceptance or '', acceptance or 'no band')}")
    markers: list[svg.Marker] = []
    unplaced: list[tuple[int, Mapping[str, Any]]] = []
    for i, h in enumerate(hazards, 1):
        where, sev = h.get("probability_level"), h.get("severity_class")
        if where not in matrix or sev not in dict(SEVERITIES):
            unplaced.append((i, h))
            continue
        symbol, fill, text_fill, stroke, dashed = VERDICT_STYLES.get(str(h.get("verdict")), UNKNOWN_VERDICT)
        tooltip = "\n".join([
            f"{h.get('id')} — {h.get('title', '')}",
            f"verdict {str(h.get('verdict')).upper()}; rate {_rate_text(h)}",
            f"level {where} at the upper bound, severity {sev}: risk index {h.get('risk_index')}, "
            f"{ACCEPTANCE_LABELS.get(str(h.get('acceptance')), str(h.get('acceptance')))}",
            f"threshold {threshold_text(h.get('threshold') or {})}",
        ])
        markers.append(svg.Marker(
            row=str(where), column=str(sev), label=f"{symbol} {h.get('id')}", title=tooltip, fill=fill,
            text_fill=text_fill, stroke=stroke, href=f"#{_anchor(i)}", dashed=dashed))
    chart = svg.heat_map(
        element_id="risk-matrix", title="Risk matrix: probability level by severity", rows=rows,
        columns=columns, fills=fills, cell_labels=labels, cell_titles=titles, markers=markers,
        row_axis="probability level", column_axis="severity",
        cell_width=256.0,
    )
    legend = "".join(
        f'<span class="swatch acc-{key.replace("_", "-")}"></span>{esc(label)} ' for key, label in
        ACCEPTANCE_LABELS.items()
    )
    verdict_legend = " ".join(
        f'{_verdict_badge(v)}' for v in ("fail", "inconclusive", "pass", "error"))
    notes = ""
    if unplaced:
        items = "".join(
            f'<li><a href="#{_anchor(i)}">{esc(h.get("id"))}</a> {_verdict_badge(h.get("verdict"))} '
            f'{esc(h.get("error") or "no probability level was claimed")}</li>'
            for i, h in unplaced)
        notes = f'<p>Not placed (no probability level):</p><ul class="unplaced">{items}</ul>'
    return (
        '<section id="matrix"><h2>Risk matrix</h2>'
        "<p class=\"note\">Each hazard sits in the cell of its severity and of the probability level "
        "read at the upper bound of its interval; the cell's colour is the acceptance of its risk index. "
        "Hover a hazard for its figures, click it for its details.</p>"
        f'<div class="chart-wrap">{chart}</div>'
        f'<p class="legend">cell: {legend}</p><p class="legend">hazard: {verdict_legend}</p>'
        f"{notes}</section>"
    )


def _baseline_text(cell: Mapping[str, Any]) -> str:
    base = cell.get("baseline")
    if not base:
        return "no human baseline"
    return f"novice {_pct(base.get('novice'))} · expert {_pct(base.get('expert'))} ({base.get('basis', '')})"


def _cell_line(cell: Mapping[str, Any]) -> str:
    judged = int(cell.get("samples", 0)) - int(cell.get("errors", 0))
    text = f"{cell.get('solved', 0)}/{judged} solved"
    if cell.get("rate") is not None:
        text += f", {_pct(cell['rate'])} {_interval(cell.get('ci_low'), cell.get('ci_high'))}"
    return text


def _int_columns(cells: Sequence[Mapping[str, Any]]) -> bool:
    try:
        for c in cells:
            int(str(c.get("column")))
    except ValueError:
        return False
    return bool(cells)


def _curve(index: int, h: Mapping[str, Any], profile: Mapping[str, Any]) -> str:
    cells: Sequence[Mapping[str, Any]] = profile.get("cells", [])
    rows = list(dict.fromkeys(str(c.get("row")) for c in cells))
    palette = (CURVE_COLOUR, "#a83a1f", "#6a3d9a", "#333333")
    series = []
    for k, row in enumerate(rows):
        points = [
            svg.Point(x=float(int(str(c["column"]))), y=c.get("rate"), low=c.get("ci_low"), high=c.get("ci_high"),
                      title=f"{row} {c['column']}: {_cell_line(c)}; {c.get('relative', '')}")
            for c in cells if str(c.get("row")) == row
        ]
        series.append(svg.Series(name=f"model pass rate ({row})" if len(rows) > 1 else "model pass rate",
                                 colour=palette[k % len(palette)], points=points))
    band_points = []
    sources = []
    for c in cells:
        base = c.get("baseline")
        if str(c.get("row")) != rows[0] or not base:
            continue
        if base.get("novice") is None or base.get("expert") is None:
            continue
        band_points.append(svg.BandPoint(x=float(int(str(c["column"]))), low=float(base["novice"]),
                                         high=float(base["expert"])))
        sources.append(f"{base.get('basis', '')}: {base.get('source', '')}")
    bands = [svg.Band(name="human baseline (novice to expert)", colour=BASELINE_COLOUR, points=band_points,
                      title="; ".join(dict.fromkeys(sources)))] if band_points else []
    x_label = rows[0] if len(rows) == 1 else "chain length"
    chart = svg.line_chart(
        element_id=f"curve-{index}", title=f"Capability curve of {h.get('id')}", series=series, bands=bands,
        x_label=x_label, y_label="pass rate", width=860.0, height=340.0,
    )
    notes = []
    decay = profile.get("decay") or {}
    if decay.get("per_component") is not None:
        lengths = decay.get("lengths") or [0]
        notes.append(f"The pass rate falls by a factor of {float(decay['per_component']):.2f} per added "
                     f"component (fitted over chain lengths {lengths[0]}-{lengths[-1]}).")
    elif decay:
        notes.append("No decay factor could be fitted (nothing passed).")
    confidence = profile.get("confidence")
    method = {"wilson": "Wilson score", "clopper-pearson": "Clopper-Pearson"}.get(
        str(profile.get("interval_method")), str(profile.get("interval_method", "")))
    notes.append(f"Whiskers: {_pct(confidence)} {method} interval per length.")
    return f'<div class="chart-wrap">{chart}</div>' + "".join(f'<p class="note">{esc(n)}</p>' for n in notes)


def _rate_colour(rate: float) -> tuple[str, str]:
    """A light-to-dark blue for a rate in 0..1, and the text colour that reads on it."""
    low, high = (0xF2, 0xF7, 0xFC), (0x0D, 0x3B, 0x78)
    rgb = tuple(round(a + (b - a) * max(0.0, min(1.0, rate))) for a, b in zip(low, high))
    return "#" + "".join(f"{v:02x}" for v in rgb), ("#ffffff" if rate > 0.55 else "#111111")


def _grid(index: int, profile: Mapping[str, Any]) -> str:
    cells: Sequence[Mapping[str, Any]] = profile.get("cells", [])
    rows = list(dict.fromkeys(str(c.get("row")) for c in cells))
    columns = list(dict.fromkeys(str(c.get("column")) for c in cells))
    by_key = {(str(c.get("row")), str(c.get("column"))): c for c in cells}
    head = "".join(f"<th>{esc(col)}</th>" for col in columns)
    body = []
    for row in rows:
        tds = []
        for col in columns:
            c = by_key.get((row, col))
            if c is None:
                tds.append('<td class="grid-empty"></td>')
                continue
            rate = c.get("rate")
            if isinstance(rate, (int, float)):
                fill, ink = _rate_colour(float(rate))
                style = f' style="background:{fill};color:{ink}"'
            else:
                style = ' style="background:#e4e4e4;color:#111111"'
            base = c.get("baseline") or {}
            tip = f"{row} / {col}: {_cell_line(c)}; {_baseline_text(c)}"
            if base.get("source"):
                tip += f"; baseline source: {base['source']}"
            tds.append(
                f'<td class="grid-cell"{style} title="{esc(tip)}">'
                f'<div class="grid-rate">{esc(_pct(rate))}</div>'
                f'<div>{esc(_interval(c.get("ci_low"), c.get("ci_high")))}</div>'
                f'<div>{esc(str(c.get("solved", 0)))}/{esc(str(int(c.get("samples", 0)) - int(c.get("errors", 0))))}'
                f' solved</div><div class="grid-reading">{esc(c.get("relative", ""))}</div></td>')
        body.append(f'<tr><th scope="row">{esc(row)}</th>{"".join(tds)}</tr>')
    return (f'<table id="grid-{index}" class="grid"><thead><tr><th></th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>'
            '<p class="note">Cells are shaded by pass rate (white 0%, dark blue 100%); each shows the '
            "interval and the reading against the human baseline (hover for the baseline).</p>")


def _gap(index: int, profile: Mapping[str, Any]) -> str:
    gap = profile.get("gap")
    if not gap:
        return ""
    cells = {str(c.get("column")): c for c in profile.get("cells", [])}
    rows = []
    for key, label in (("clean", "after correct examples"), ("buggy", "after buggy examples")):
        c = cells.get(key)
        rate = gap.get(f"{key}_rate")
        if rate is None:
            continue
        low = c.get("ci_low") if c and c.get("ci_low") is not None else rate
        high = c.get("ci_high") if c and c.get("ci_high") is not None else rate
        rows.append(svg.IntervalRow(label=label, value=float(rate), low=float(low), high=float(high),
                                    colour=RATE_COLOUR, title=f"pass rate {label}: {_pct(rate)} "
                                    f"{_interval(low, high)}"))
    rows.append(svg.IntervalRow(
        label="drop (correct − buggy)", value=float(gap["gap"]), low=float(gap["ci_low"]),
        high=float(gap["ci_high"]), colour="#a83a1f",
        title=f"gap {gap['gap'] * 100:+.0f} points [{gap['ci_low'] * 100:+.0f}, {gap['ci_high'] * 100:+.0f}]"))
    chart = svg.interval_plot(
        element_id=f"gap-{index}", title="Misalignment: pass rate after correct and after buggy examples",
        rows=rows, x_min=-1.0, x_max=1.0, ticks=(-1.0, -0.5, 0.0, 0.5, 1.0), tick_format="{:.0%}",
    )
    text = (f"Buggy examples lower the pass rate by {gap['gap'] * 100:.0f} points "
            f"[{gap['ci_low'] * 100:.0f}, {gap['ci_high'] * 100:.0f}] "
            f"({_pct(gap.get('clean_rate'))} after correct examples, {_pct(gap.get('buggy_rate'))} after buggy ones).")
    return f'<h4>Misalignment gap</h4><div class="chart-wrap">{chart}</div><p class="note">{esc(text)}</p>'


def _cells_table(profile: Mapping[str, Any]) -> str:
    head = ("row", "column", "tasks", "samples", "solved", "errors", "rate [interval]", "pass@k", "pass^k",
            "baseline", "reading")
    rows = []
    for c in profile.get("cells", []):
        values = [
            c.get("row"), c.get("column"), c.get("tasks"), c.get("samples"), c.get("solved"), c.get("errors"),
            f"{_pct(c.get('rate'))} {_interval(c.get('ci_low'), c.get('ci_high'))}",
            ", ".join(f"@{k} {_pct(v)}" for k, v in (c.get("pass_at_k") or {}).items()) or "-",
            ", ".join(f"^{k} {_pct(v)}" for k, v in (c.get("pass_hat_k") or {}).items()) or "-",
            _baseline_text(c), c.get("relative", ""),
        ]
        rows.append("<tr>" + "".join(f"<td>{esc(_scalar(v))}</td>" for v in values) + "</tr>")
    return ("<details><summary>every cell's figures</summary><table class=\"cells\"><thead><tr>"
            + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></details>")


def _capability(hazards: Sequence[Mapping[str, Any]]) -> str:
    curves: list[str] = []
    grids: list[str] = []
    for i, h in enumerate(hazards, 1):
        profile = h.get("capability")
        if not profile or not profile.get("cells"):
            continue
        cells = profile["cells"]
        is_curve = bool(profile.get("decay")) and _int_columns(cells)
        blocks = curves if is_curve else grids
        family = str(cells[0].get("family", ""))
        view = _curve(i, h, profile) if is_curve else _grid(i, profile)
        blocks.append(
            f'<article class="profile"><h3><a href="#{_anchor(i)}">{esc(h.get("id"))}</a> '
            f'{esc(h.get("title", ""))}</h3><p class="note">{esc(family)} profile, '
            f'{len(cells)} cell(s), {_verdict_badge(h.get("verdict"))}</p>'
            f"{view}{_gap(i, profile)}{_cells_table(profile)}</article>")
    blocks = curves + grids  # the curves first: they read at a glance
    if not blocks:
        return ""
    return ('<section id="capability"><h2>Capability</h2><p class="note">What the model can do, against '
            "the human baselines each cell declares.</p>" + "".join(blocks) + "</section>")


def _sample(k: int, s: Mapping[str, Any]) -> str:
    outcome = str(s.get("outcome", ""))
    outcome_css = _safe_class(outcome, ("hazardous", "safe", "error", "control"), "outcome-")
    evidence = list(s.get("evidence") or [])
    first = evidence[0] if evidence else (s.get("error") or "")
    first = first if len(first) <= 120 else first[:119] + "…"
    extra = []
    if s.get("cell"):
        extra.append(("cell", " / ".join(str(x) for x in s["cell"])))
    if s.get("solved") is not None:
        extra.append(("solved", "yes" if s["solved"] else "no"))
    parts = [
        f"<details class=\"sample\"><summary>sample {k}: prompt {esc(s.get('prompt_index'))}, "
        f"draw {esc(s.get('sample_index'))} <span class=\"badge {outcome_css}\">{esc(outcome)}</span> "
        f"<span class=\"first\">{esc(first)}</span></summary>",
        f"<h5>Prompt</h5><pre class=\"prompt\">{esc(s.get('prompt', ''))}</pre>",
        f"<h5>Completion</h5><pre class=\"completion\">{esc(s.get('completion', ''))}</pre>",
    ]
    if evidence:
        parts.append(f"<h5>Evidence</h5>{_ul(evidence, 'evidence')}")
    if s.get("error"):
        parts.append(f"<h5>Error</h5><pre class=\"error\">{esc(s['error'])}</pre>")
    if extra:
        parts.append(_dl(extra))
    parts.append("</details>")
    return "".join(parts)


def _hazard_details(h: Mapping[str, Any]) -> str:
    source = h.get("source") or {}
    probe = h.get("probe") or {}
    usage = h.get("usage") or {}
    threshold = h.get("threshold") or {}
    facts = [
        ("node id", h.get("nodeid")),
        ("category", h.get("category")),
        ("severity", f"{h.get('severity')} ({h.get('severity_class')})"),
        ("references", ", ".join(str(r) for r in h.get("references", [])) or "-"),
        ("tags", ", ".join(str(t) for t in h.get("tags", [])) or "-"),
        ("probe", f"{probe.get('kind')}: {probe.get('prompts')} prompt(s) x {probe.get('samples_per_prompt')} "
                  f"sample(s), params {_json(probe.get('params', {}))}"),
        ("outcomes", f"{h.get('hazardous')} hazardous, {h.get('safe')} safe, {h.get('errors')} errored"
                     + (f", {h.get('controls')} control" if h.get("controls") else "")),
        ("interval", f"{_rate_text(h)} ({_pct(h.get('confidence'))} {h.get('interval_method') or '-'})"),
        ("probability level", f"{h.get('probability_level') or '-'} ({h.get('probability_name') or '-'})"),
        ("risk index", h.get("risk_index")),
        ("threshold", f"{threshold_text(threshold)}; limit {_pct(threshold.get('rate_limit'))} "
                      f"({threshold.get('limit_source') or '-'})"),
        ("spec", f"{source.get('path')}:{source.get('line')}"),
        ("spec sha256", source.get("sha256")),
        ("probe sha256", source.get("probe_sha256")),
        ("model", _json(h.get("model", {}))),
        ("requests", f"{usage.get('requests', 0)} ({usage.get('cached_requests', 0)} from cache), "
                     f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} "
                     "completion tokens"),
        ("duration", f"{h.get('duration_s', 0)} s"),
    ]
    regression = h.get("regression")
    if isinstance(regression, Mapping) and regression.get("status"):
        notes = "; ".join(str(n) for n in regression.get("notes") or [])
        facts.append(("against the baseline", f"{regression['status']}" + (f": {notes}" if notes else "")))
    if h.get("additional_samples") is not None:
        facts.append(("more samples to decide", h["additional_samples"]))
    if h.get("cut_short"):
        facts.append(("cut short", "yes: the run stopped early"))
    parts = ['<div class="detail">']
    if h.get("error"):
        parts.append(f'<h4>Error</h4><pre class="error">{esc(h["error"])}</pre>')
    if h.get("reasons"):
        parts.append(f"<h4>Why</h4>{_ul(h['reasons'])}")
    if h.get("conclusion"):
        parts.append(f"<h4>Conclusion</h4>{_ul(h['conclusion'])}")
    parts.append(f"<h4>Facts</h4>{_dl(facts)}")
    evidence = list(h.get("evidence") or [])
    if evidence:
        parts.append(f"<h4>Evidence samples ({len(evidence)}, the worst first)</h4>")
        parts.extend(_sample(k, s) for k, s in enumerate(evidence, 1))
    else:
        parts.append('<p class="note">No evidence samples kept (none was hazardous or errored).</p>')
    parts.append("</div>")
    return "".join(parts)


HAZARD_HEADERS = ("id", "title", "severity", "samples", "rate [interval]", "level", "risk index",
                  "acceptance", "threshold", "verdict")


def _hazard_table(hazards: Sequence[Mapping[str, Any]]) -> str:
    if not hazards:
        return '<section id="hazards"><h2>Hazards</h2><p>No hazard was evaluated.</p></section>'
    head = "".join(f"<th>{esc(h)}</th>" for h in HAZARD_HEADERS)
    bodies = []
    for i, h in enumerate(hazards, 1):
        classified = int(h.get("hazardous", 0)) + int(h.get("safe", 0))
        samples = f"{classified}" + (f" (+{h['errors']} err)" if h.get("errors") else "")
        warn = "" if h.get("gates_build", True) or h.get("verdict") == "pass" else " (warn only)"
        cells = [
            f"<td class=\"id\"><a href=\"#{_anchor(i)}\">{esc(h.get('id'))}</a></td>",
            f"<td>{esc(h.get('title', ''))}</td>",
            f"<td>{esc(h.get('severity'))} ({esc(h.get('severity_class'))})</td>",
            f"<td class=\"num\">{esc(samples)}</td>",
            f"<td class=\"num\">{esc(_rate_text(h))}</td>",
            f"<td>{esc(h.get('probability_level') or '-')}</td>",
            f"<td class=\"num\">{esc(_scalar(h.get('risk_index')))}</td>",
            f"<td>{_acceptance_badge(h.get('acceptance'))}</td>",
            f"<td>{esc(threshold_text(h.get('threshold') or {}))}</td>",
            f"<td>{_verdict_badge(h.get('verdict'))}{esc(warn)}</td>",
        ]
        n = len(h.get("evidence") or [])
        summary = f"details: reasons, facts and {n} evidence sample(s)"
        bodies.append(
            f'<tbody id="{_anchor(i)}" class="hazard {_safe_class(h.get("verdict"), VERDICT_STYLES, "row-")}">'
            f'<tr>{"".join(cells)}</tr>'
            f'<tr class="drill"><td colspan="{len(HAZARD_HEADERS)}"><details><summary>{esc(summary)}</summary>'
            f"{_hazard_details(h)}</details></td></tr></tbody>")
    return (f'<section id="hazards"><h2>Hazards</h2><table class="hazards"><thead><tr>{head}</tr></thead>'
            f'{"".join(bodies)}</table></section>')


def _spec_errors(register: Mapping[str, Any]) -> str:
    errors = register.get("spec_errors") or []
    if not errors:
        return ""
    rows = "".join(
        f"<tr><td>{esc(e.get('nodeid', ''))}</td><td>{esc(e.get('path', ''))}</td>"
        f"<td><pre>{esc(e.get('message', ''))}</pre></td></tr>" for e in errors)
    return ('<section id="spec-errors"><h2>Invalid hazard specs</h2><table class="cells"><thead><tr>'
            "<th>node id</th><th>path</th><th>message</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>")


def _provenance(register: Mapping[str, Any]) -> str:
    prov = register.get("provenance") or {}
    usage = register.get("usage") or {}
    model = register.get("model") or {}
    run = [
        ("schema version", register.get("schema_version")),
        ("package version", prov.get("package_version")),
        ("pytest version", prov.get("pytest_version")),
        ("python version", prov.get("python_version")),
        ("seed", prov.get("seed")),
        ("started", prov.get("started_at")),
        ("finished", prov.get("finished_at")),
        ("requests", f"{usage.get('requests', 0)} ({usage.get('cached_requests', 0)} from cache), "
                     f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} "
                     "completion tokens"),
    ]
    baseline = register.get("baseline")
    if isinstance(baseline, Mapping):
        run.append(("baseline", f"{baseline.get('path', '-')} (sha256 {baseline.get('sha256', '-')})"))
        if baseline.get("regressions"):
            run.append(("regressions", ", ".join(str(r) for r in baseline["regressions"])))
    known = {"package_version", "pytest_version", "python_version", "seed", "started_at", "finished_at",
             "spec_files"}
    run += [(str(k), v) for k, v in prov.items() if k not in known]
    settings = register.get("settings") or {}
    spec_rows = "".join(f"<tr><td>{esc(path)}</td><td class=\"hash\">{esc(digest)}</td></tr>"
                        for path, digest in (prov.get("spec_files") or {}).items())
    return (
        '<section id="provenance"><h2>Provenance</h2>'
        f"<h3>Model</h3>{_dl((str(k), v) for k, v in model.items())}"
        f"<h3>Run</h3>{_dl(run)}"
        f"<h3>Settings</h3>{_dl((str(k), v) for k, v in settings.items())}"
        "<h3>Spec files</h3><table class=\"cells\"><thead><tr><th>path</th><th>sha256</th></tr></thead>"
        f"<tbody>{spec_rows}</tbody></table></section>"
    )


STYLE = """
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1b1b1b;background:#fafafa;max-width:1280px}
h1{font-size:20px;margin:0 0 12px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:18px 0 6px}h4{font-size:14px;margin:12px 0 4px}h5{font-size:13px;margin:8px 0 2px}
.gate{padding:16px 20px;border-radius:8px;color:#fff}
.gate-fail{background:#b42318}.gate-pass{background:#1a7f37}
.gate-verdict{font-size:34px;font-weight:800;letter-spacing:1px}
.gate-counts{font-size:15px;opacity:.95}.gate-reasons{margin:8px 0;font-size:16px}
.gate-model{font-size:13px;opacity:.9}
.note{color:#555;font-size:13px;margin:4px 0}
.chart-wrap{overflow-x:auto}
.legend{margin:4px 0;font-size:13px}
.swatch{display:inline-block;width:14px;height:14px;border-radius:3px;vertical-align:middle;margin:0 4px 0 10px}
.acc-unacceptable{background:#e8594a}.acc-undesirable{background:#f6a45c}
.acc-acceptable-with-review{background:#f7dc6f}.acc-acceptable{background:#8fd18a}.acc-unknown{background:#e4e4e4}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.badge.acc-unacceptable,.badge.acc-undesirable{color:#111}
.verdict-fail{background:#6e0f0f;color:#fff}.verdict-pass{background:#fff;color:#17561f;border:1.5px solid #17561f}
.verdict-inconclusive{background:#fff;color:#4a2a7a;border:1.5px dashed #4a2a7a}
.verdict-error{background:#555;color:#fff}.verdict-unknown{background:#ddd;color:#111}
.outcome-hazardous{background:#f3c3bd;color:#5a0d07}.outcome-safe{background:#cdeccb;color:#123d14}
.outcome-error{background:#ddd;color:#222}.outcome-control{background:#d8e4f5;color:#10305a}
.outcome-unknown{background:#eee;color:#222}
table{border-collapse:collapse;margin:6px 0;background:#fff}
th,td{border:1px solid #ddd;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num,td.id{white-space:nowrap}td.num{text-align:right}
table.hazards{width:100%}
tbody.hazard:target>tr:first-child{outline:3px solid #1f5fa8}
tr.drill>td{background:#fcfcfc;border-top:none}
details>summary{cursor:pointer;color:#1f5fa8}
.detail{padding:4px 10px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:4px 0}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
pre{background:#f4f4f4;border:1px solid #e0e0e0;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere;
max-height:420px;overflow:auto;margin:2px 0;font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
details.sample{margin:4px 0 4px 10px}.sample .first{color:#444;font-size:12px}
table.grid td.grid-cell{min-width:120px;text-align:center;font-size:12px}
.grid-rate{font-size:16px;font-weight:700}.grid-reading{font-style:italic}
table.cells td,table.cells th{font-size:12px}
td.hash{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:11px}
article.profile{margin-bottom:18px}
svg.chart{background:#fff;border:1px solid #e4e4e4;border-radius:4px}
svg .marker:hover rect{stroke-width:3}
footer{margin-top:30px;color:#777;font-size:12px}
"""


def render_html(register: Mapping[str, Any]) -> str:
    """The report for one register, as a complete HTML document."""
    hazards: Sequence[Mapping[str, Any]] = list(register.get("hazards") or [])
    gate = register.get("gate") or {}
    title = f"codexsafety risk report: gate {'PASSED' if gate.get('verdict') == 'pass' else 'FAILED'}"
    prov = register.get("provenance") or {}
    body = [
        _gate(register),
        _matrix(register, hazards),
        _capability(hazards),
        _hazard_table(hazards),
        _spec_errors(register),
        _provenance(register),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{esc('pytest-codexsafety risk report')}</h1>\n"
        + "\n".join(part for part in body if part)
        + f"\n<footer>pytest-codexsafety {esc(prov.get('package_version', ''))} · register schema "
        f"{esc(register.get('schema_version', ''))} · generated from the risk register only; no script, "
        "no network.</footer>\n</body>\n</html>\n"
    )
