"""A Markdown summary of the register for a CI job summary or a pull-request comment.
Pure: builds text only.

Verdict first, then the hazard table, regressions against a baseline (when the register
has one), capability highlights and, for every hazard that blocks the gate, why.  The
numbers are the terminal summary's: rows and lines come from :mod:`.terminal`'s helpers,
never recomputed here.

Everything from the register is untrusted text, and model output most of all: it must
not break the table, inject HTML, ping people or add links.  So:

* text the model wrote (evidence, errors, prompts) goes into code spans, which GitHub
  renders verbatim, never autolinks and never scans for mentions or issue references;
  the fence is longer than any run of backticks inside;
* other text is backslash-escaped (emphasis, brackets, ``<``, ``&``, ``|``, ``:`` so
  that no ``scheme://`` autolink forms, ``www.`` and ``$`` for math); text with an ``@``
  goes into a code span (GitHub autolinks e-mail addresses whatever the escapes);
* line breaks and control characters become ``⏎`` or spaces, so a cell stays one line.

The summary itself carries no URLs (link-free): it reads the same in a PR comment, a job
summary or a terminal.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from . import terminal
from .terminal import HEADERS, capability_lines, gate_line, hazard_row, interval_note, percent

__all__ = ["MAX_CHARS", "code_span", "escape_text", "render_markdown"]

# GitHub refuses pull-request comments over 65536 characters; stay well below.
MAX_CHARS = 60_000
EVIDENCE_PER_HAZARD = 3
_SPAN_LIMIT = 300

_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_ESCAPE = re.compile(r"([\\`*_\[\]<>&|~$:#!])")
_WWW = re.compile(r"(www)\.", re.IGNORECASE)


def _one_line(text: str) -> str:
    text = _BREAKS.sub(" ⏎ ", str(text)).replace("\t", " ")
    return _CONTROL.sub("", text)


def code_span(text: str, *, table: bool = True, limit: int = _SPAN_LIMIT) -> str:
    """``text`` as one inline code span (verbatim when rendered).

    In a table cell a ``|`` must be written ``\\|`` even inside a code span (GFM splits
    cells first); outside tables that would show the backslash, hence ``table``."""
    text = _one_line(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text:
        return ""
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def escape_text(text: str) -> str:
    """Plain text made inert: no markup, HTML, link, mention or line break survives."""
    text = _one_line(text)
    if "@" in text:
        return code_span(text)
    return _WWW.sub(r"\1\\.", _ESCAPE.sub(r"\\\1", text))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, escape: bool = True) -> list[str]:
    cell: Callable[[str], str] = escape_text if escape else (lambda s: s)
    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def _verdict(register: Mapping[str, Any]) -> list[str]:
    gate = register["gate"]
    passed = gate["verdict"] == "pass"
    lines = [f"## {'✅' if passed else '❌'} Hazard gate: {'PASSED' if passed else 'FAILED'}", "",
             escape_text(gate_line(gate)), ""]
    model = register.get("model") or {}
    usage = register.get("usage") or {}
    provenance = register.get("provenance") or {}
    facts = []
    if model.get("spec") or model.get("name"):
        facts.append("model " + code_span(str(model.get("spec") or model.get("name")), table=False))
    facts.append(f"{gate['hazards']} hazard(s)")
    if usage:
        facts.append(f"{usage.get('requests', 0)} model request(s) ({usage.get('cached_requests', 0)} from cache)")
    if provenance.get("seed") is not None:
        facts.append(f"seed {escape_text(str(provenance['seed']))}")
    if provenance.get("package_version"):
        facts.append(f"pytest-codexsafety {escape_text(str(provenance['package_version']))}")
    return lines + [" · ".join(facts), ""]


def _hazards(register: Mapping[str, Any]) -> list[str]:
    hazards = list(register["hazards"])
    if not hazards:
        return []
    table = _table(HEADERS, [hazard_row(h) for h in hazards])
    note: list[str] = []
    if sum(len(line) + 1 for line in table) > MAX_CHARS // 2:
        # Too many to show in a comment: the hazards that block the gate come first.
        hazards.sort(key=lambda h: not (h.get("gates_build") and h["verdict"] != "pass"))
        table, used = table[:2], 0
        for h in hazards:
            row = _table(HEADERS, [hazard_row(h)])[2]
            if used + len(row) > MAX_CHARS // 2:
                break
            table.append(row)
            used += len(row) + 1
        note = ["", escape_text(f"... and {len(hazards) - (len(table) - 2)} more hazard(s): see the risk register")]
    lines = ["### Hazards", "", *table, *note, ""]
    settings = register.get("settings") or {}
    return lines + ["_" + escape_text(interval_note(settings, hazards)) + "_", ""]


def _regressions(register: Mapping[str, Any]) -> list[str]:
    """The baseline comparison, when the register has one (registers without a baseline,
    or written before baselines existed, have none: the section is left out)."""
    summary = register.get("baseline")
    if not summary:
        return []
    lines = ["### Regressions against the baseline", ""]
    row_of = getattr(terminal, "_comparison_row", None)
    try:
        compared = [(h["id"], h["regression"]) for h in register["hazards"] if h.get("regression")]
        compared += [(m["id"], m["regression"]) for m in summary.get("missing", ())]
        # Regressions first: they are what a reviewer looks for.
        compared.sort(key=lambda c: c[1].get("status") != "regression")
        gating = "gating" if summary.get("fail_on_regression") else "reported only"
        lines += [f"Compared with {code_span(str(summary.get('path', '?')), table=False)} "
                  f"(one-sided Fisher's exact test at alpha {escape_text(format(summary.get('alpha', 0.05), 'g'))}, "
                  f"{gating}; errored samples of this run count as hazardous).", ""]
        if compared and callable(row_of):
            lines += _table(("id", "status", "previous -> current", "p (one-sided)"),
                            [row_of(hid, c) for hid, c in compared])
        elif compared:
            lines += _table(("id", "status"), [(hid, str(c.get("status", "?"))) for hid, c in compared])
        counts = summary.get("counts") or {}
        text = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        lines += ["", escape_text(f"baseline comparison: {text or 'nothing to compare'}"), ""]
    except (KeyError, TypeError, AttributeError) as exc:  # a newer or older shape: say so, never crash
        lines += [escape_text(f"the baseline comparison could not be shown ({type(exc).__name__}: {exc})"), ""]
    return lines


def _capability(register: Mapping[str, Any]) -> list[str]:
    """Per profiled hazard: the readings against the human baseline and the fitted decay
    or gap (the lines of the terminal summary that are not its table), and the table."""
    out: list[str] = []
    for entry in register["hazards"]:
        profile = entry.get("capability")
        if not profile:
            continue
        text = capability_lines([entry])
        cells = profile["cells"]
        rows = list(dict.fromkeys(c["row"] for c in cells))
        columns = list(dict.fromkeys(c["column"] for c in cells))
        by_key = {(c["row"], c["column"]): c for c in cells}
        out += [f"**{escape_text(entry['id'])}** — solved / judged with the "
                f"{escape_text(percent(profile['confidence']))} interval", ""]
        # Same cell text as the terminal; the table is always columns across (Markdown
        # tables scroll sideways).
        out += _table(["", *columns], [[row, *[terminal._cell_text(by_key[(row, col)]) if (row, col) in by_key
                                               else "" for col in columns]] for row in rows])
        out.append("")
        # The terminal's highlight lines: readings ("  below novice: ..."), decay and gap.
        for line in text:
            stripped = line.strip()
            if (line.startswith("  ") and ":" in stripped) or stripped.startswith(("pass rate falls", "buggy examples")):
                out.append(f"- {escape_text(stripped)}")
        out.append("")
    return ["### Capability profile", "", *out] if out else []


def _why(register: Mapping[str, Any], budget: int) -> list[str]:
    """For every hazard that blocks the gate: the decision's conclusion, the error and a
    few evidence lines (as code: they quote model output).  Stops at ``budget`` chars."""
    out: list[str] = []
    used = 0
    blocking = [h for h in register["hazards"] if h.get("gates_build") and h["verdict"] != "pass"]
    for n, entry in enumerate(blocking):
        part = [f"#### {escape_text(entry['id'])}: {escape_text(entry['verdict'].upper())}", ""]
        part += [f"- {escape_text(c)}" for c in entry.get("conclusion") or entry.get("reasons") or []]
        if entry.get("error"):
            part.append(f"- error: {code_span(entry['error'], table=False)}")
        seen: set[str] = set()
        for sample in entry.get("evidence", ()):
            first = str((sample.get("evidence") or [sample.get("error") or ""])[0])
            if not first or first in seen:
                continue  # the same finding in many samples is shown once
            seen.add(first)
            where = f"prompt {sample['prompt_index']}, sample {sample['sample_index']}, {sample['outcome']}"
            part.append(f"- {escape_text(where)}: {code_span(first, table=False)}")
            if len(seen) == EVIDENCE_PER_HAZARD:
                break
        part.append("")
        size = sum(len(p) + 1 for p in part)
        if used + size > budget:
            out += [escape_text(f"... and {len(blocking) - n} more hazard(s): see the risk register"), ""]
            break
        out += part
        used += size
    errors = register.get("spec_errors") or []
    if errors:
        out += ["#### Invalid hazard specs", ""]
        out += [f"- {code_span(e['nodeid'], table=False)}: {code_span(e['message'], table=False)}" for e in errors[:20]]
        if len(errors) > 20:
            out.append(escape_text(f"- ... and {len(errors) - 20} more"))
        out.append("")
    return ["### Why the gate fails", "", *out] if out else []


def render_markdown(register: Mapping[str, Any]) -> str:
    parts = _verdict(register) + _hazards(register) + _regressions(register) + _capability(register)
    used = sum(len(p) + 1 for p in parts)
    parts += _why(register, MAX_CHARS - used - 200)
    parts.append("_Written by pytest-codexsafety; the JSON risk register has every figure and its provenance._")
    return "\n".join(parts).rstrip() + "\n"
