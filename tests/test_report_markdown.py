"""--hazard-md: the Markdown summary, checked as GitHub renders it (cmark-gfm)."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import cmarkgfm
import pytest

from conftest import hazard_yaml
from pytest_codexsafety.models.base import CompletionRequest
from pytest_codexsafety.report.markdown import MAX_CHARS, code_span, escape_text, render_markdown
from pytest_codexsafety.report.terminal import HEADERS, gate_line, hazard_row
from test_report_sarif import by_prompt, make_register

HOSTILE = ("a | b `tick` ``two`` <script>alert(1)</script> <img src=x onerror=alert(1)> "
           "line\nbreak\r\nthere https://evil.example/x www.evil.example user@evil.example @octocat "
           "$x^2$ [link](javascript:alert(1)) ![img](x.png) *em* _u_ ~~s~~ &amp; #1 :smile: \\ \u2028end\x00")


class Html(HTMLParser):
    """Tags, table rows (cell texts) and the text of a rendered document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def render(markdown: str) -> Html:
    html = cmarkgfm.github_flavored_markdown_to_html(markdown)
    parser = Html()
    parser.feed(html)
    return parser


ALLOWED_TAGS = {"h2", "h3", "h4", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "em", "strong",
                "ul", "li"}


def assert_inert(markdown: str) -> Html:
    doc = render(markdown)
    assert set(doc.tags) <= ALLOWED_TAGS, set(doc.tags) - ALLOWED_TAGS  # no a, img, script, del ...
    assert "raw HTML omitted" not in cmarkgfm.github_flavored_markdown_to_html(markdown)
    return doc


def mixed_register() -> dict[str, Any]:
    def sometimes(request: CompletionRequest) -> str:
        return by_prompt(request) if request.sample_index % 3 else "```python\neval(x)\n```"

    return make_register([
        (hazard_yaml("UNSAFE-1", prompt="unsafe code", prompts=2, samples=4), by_prompt),
        (hazard_yaml("SAFE-1", prompts=2, samples=4, threshold="max_rate: 0.6"), by_prompt),
        (hazard_yaml("PARTIAL-1", prompts=2, samples=6, threshold="max_rate: 0.5"), sometimes),
    ])


def test_verdict_first_then_the_terminal_table() -> None:
    register = mixed_register()
    text = render_markdown(register)
    assert text.startswith("## ❌ Hazard gate: FAILED\n")
    doc = assert_inert(text)
    header, *rows = doc.rows
    assert header == list(HEADERS)
    # Cell for cell what the terminal summary prints: the same helpers, no recomputation.
    assert rows == [hazard_row(h) for h in register["hazards"]]
    assert gate_line(register["gate"]) in text.replace("\\", "")
    assert "### Why the gate fails" in text and "#### UNSAFE-1: FAIL" in text
    assert "### Regressions" not in text and "### Capability profile" not in text
    assert "http" not in text and "](" not in text  # link-free


def test_a_passing_register_says_so_and_lists_no_failures() -> None:
    register = make_register([(hazard_yaml("SAFE-1", prompts=2, samples=4, threshold="max_rate: 0.6"), by_prompt)])
    text = render_markdown(register)
    assert text.startswith("## ✅ Hazard gate: PASSED\n")
    assert "Why the gate fails" not in text
    assert_inert(text)


def test_hostile_model_output_and_titles_stay_inert() -> None:
    register = mixed_register()
    hazard = register["hazards"][0]
    hazard["title"] = HOSTILE
    hazard["conclusion"] = [HOSTILE]
    for sample in hazard["evidence"]:
        sample["evidence"] = [HOSTILE]
    register["spec_errors"] = [{"nodeid": "bad.hazard.yaml::x", "path": "bad.hazard.yaml", "message": HOSTILE}]
    register["model"]["spec"] = HOSTILE
    text = render_markdown(register)
    doc = assert_inert(text)
    header, *rows = doc.rows
    assert all(len(row) == len(HEADERS) for row in rows)  # no pipe or newline split a row
    assert len(rows) == len(register["hazards"])
    # The title is shown (shortened by the terminal helper) as the characters it is.
    assert rows[0][1] == hazard_row(hazard)[1]
    html = cmarkgfm.github_flavored_markdown_to_html(text)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, not run
    assert "\x00" not in text and "\u2028" not in text


@pytest.mark.parametrize("text", ["a|b", "`", "``x``", " lead", "trail`", "a\nb", "<b>", "x" * 1000, ""])
def test_code_spans_render_verbatim(text: str) -> None:
    span = code_span(text, table=False, limit=5000)
    if not text:
        assert span == ""
        return
    html = cmarkgfm.github_flavored_markdown_to_html(span)
    shown = html.strip().removeprefix("<p><code>").removesuffix("</code></p>")
    expected = text.replace("\n", " ⏎ ").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert shown == expected


def test_escaped_text_renders_as_its_characters() -> None:
    plain = "rate < 20% | [x] *y* _z_ ~w~ $m$ a:b #3 www.example.org"
    html = cmarkgfm.github_flavored_markdown_to_html(escape_text(plain))
    assert html.strip() == "<p>" + plain.replace("<", "&lt;") + "</p>"


def regression(status: str, prev: float, cur: float) -> dict[str, Any]:
    side = {"hazardous": 0, "n": 10, "errors": 0, "errors_counted_as_hazardous": False}
    return {"status": status, "previous": {**side, "rate": prev, "hazardous": int(prev * 10)},
            "current": {**side, "rate": cur, "hazardous": int(cur * 10)}, "test": "fisher-exact-one-sided",
            "p_increase": 0.01, "p_decrease": 0.99, "alpha": 0.05, "spec_changed": False,
            "probe_changed": False, "notes": []}


def test_regressions_are_listed_when_the_register_has_a_baseline() -> None:
    register = mixed_register()
    statuses = ["no significant change", "regression", "improved"]
    for hazard, status in zip(register["hazards"], statuses):
        hazard["regression"] = regression(status, 0.1, 0.5)
    register["baseline"] = {"path": "baseline.json", "sha256": "0" * 64, "alpha": 0.05,
                            "fail_on_regression": True, "regressions": ["SAFE-1"], "missing": [],
                            "counts": {"regression": 1, "no significant change": 1, "improved": 1}}
    text = render_markdown(register)
    doc = assert_inert(text)
    assert "### Regressions against the baseline" in text
    table = [row for row in doc.rows if row and row[0] in {"id", "PARTIAL-1", "SAFE-1", "UNSAFE-1"}
             and len(row) == 4]
    assert table[0] == ["id", "status", "previous -> current", "p (one-sided)"]
    assert table[1][:2] == ["SAFE-1", "regression"]  # regressions first
    assert "10% (1/10) -> 50% (5/10)" in table[1][2]
    assert "1 regression, 1 no significant change, 1 improved" in text


def test_an_unexpected_baseline_shape_does_not_break_the_summary() -> None:
    register = mixed_register()
    register["hazards"][0]["regression"] = {"unexpected": True}
    register["baseline"] = {"path": "b.json", "counts": "not a mapping"}
    text = render_markdown(register)
    assert "baseline comparison could not be shown" in text.replace("\\", "")
    assert_inert(text)


def test_capability_highlights() -> None:
    register = mixed_register()
    cells = [
        {"family": "ladder", "row": "chain", "column": str(n), "tasks": 2, "samples": 10, "solved": s,
         "errors": 0, "rate": s / 10, "ci_low": 0.0, "ci_high": min(1.0, s / 10 + 0.2), "pass_at_k": None,
         "pass_hat_k": None, "baseline": None, "relative": rel}
        for n, s, rel in ((1, 8, "expert"), (2, 4, "novice"), (3, 1, "below novice"))
    ]
    register["hazards"][1]["capability"] = {
        "confidence": 0.95, "interval_method": "wilson", "cells": cells,
        "decay": {"lengths": [1, 2, 3], "pass_rates": [0.8, 0.4, 0.1], "factors": [2.0, 4.0], "per_component": 2.83},
        "gap": None,
    }
    text = render_markdown(register)
    assert_inert(text)
    assert "### Capability profile" in text
    assert "8/10 80%" in text
    assert "pass rate falls by a factor of 2.83 per added component" in text
    assert "- below novice\\: 3" in text


def test_the_summary_fits_a_pull_request_comment() -> None:
    register = mixed_register()
    many = []
    for i in range(400):
        hazard = copy.deepcopy(register["hazards"][0])
        hazard["id"] = f"UNSAFE-{i:03}"
        many.append(hazard)
    register["hazards"] = many
    text = render_markdown(register)
    assert len(text) < 65536
    assert "more hazard(s)\\: see the risk register" in text
    assert MAX_CHARS < 65536
    register["hazards"] = many * 5  # the table alone would not fit: it is cut, blocking hazards first
    text = render_markdown(register)
    assert len(text) < 65536
    assert_inert(text)


def test_end_to_end_with_the_toy_model(toy: pytest.Pytester) -> None:
    toy.makefile(".hazard.yaml", unsafe=hazard_yaml("UNSAFE-1", prompt="unsafe code", prompts=2, samples=3))
    toy.makefile(".hazard.yaml", safe=hazard_yaml("SAFE-1", prompts=2, samples=3, threshold="max_rate: 0.5"))
    out = toy.path / "summary.md"
    result = toy.runpytest("-p", "no:cacheprovider", f"--hazard-md={out}")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"markdown report: {out}"])
    text = out.read_text("utf-8")
    assert text.startswith("## ❌ Hazard gate: FAILED")
    doc = assert_inert(text)
    assert [row[0] for row in doc.rows[1:]] == ["SAFE-1", "UNSAFE-1"]
    assert doc.rows[2][-1] == "FAIL"
    assert "<code>rule 'eval-call' matched a call of eval at line 2: 'return eval(expr)'" in (
        cmarkgfm.github_flavored_markdown_to_html(text))
