"""Pull the code out of a model completion.  Pure: no pytest, and nothing is executed.

Every probe judges *code*, but models wrap code in Markdown fences, HTML ``<code>`` tags
or chat chatter ("Sure! Here's the function: ...").  This module is the one place that
knows those shapes, so that all probes agree on what "the code" of a completion is.

Order of preference (the first that finds anything wins):

1. fenced blocks (```` ``` ```` or ``~~~``, any indentation, optional info string, an
   unterminated final fence runs to the end).  When some blocks are tagged Python, blocks
   tagged with another language are dropped; untagged blocks are always kept;
2. ``<code>...</code>`` elements (HTML entities decoded);
3. raw text: if the whole completion parses as Python it is returned unchanged; otherwise
   runs of lines that look like Python (see :func:`classify_line`) are kept, and a span
   from the first to the last run is kept whole when it parses (prose inside strings).

Only :mod:`ast` and regular expressions are used: the completion is never executed.
"""

from __future__ import annotations

import ast
import html
import re
import textwrap
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Iterator, Literal

__all__ = [
    "CodeBlock",
    "LineKind",
    "PYTHON_LANGUAGES",
    "classify_line",
    "extract_code",
    "extract_code_blocks",
    "parse_python",
    "quiet_warnings",
]

#: Info-string tags taken to mean "this block is Python".
PYTHON_LANGUAGES = frozenset(
    {"python", "python2", "python3", "py", "py2", "py3", "ipython", "ipython3", "pycon", "pyi"}
)


@dataclass(frozen=True)
class CodeBlock:
    """One piece of code found in a completion."""

    code: str
    # Normalised info-string tag ("python", "bash", ...); "" when the block had none.
    language: str
    # 1-based line of the completion where ``code`` starts (after the opening fence).
    line: int
    # 1-based line of the completion where ``code`` ends (inclusive).
    end_line: int
    source: Literal["fence", "tag", "raw"]
    # False for a fence the model never closed (typically cut off by max_tokens).
    terminated: bool = True

    @property
    def is_python(self) -> bool:
        return self.language in PYTHON_LANGUAGES


_QUIET_LOCK = threading.RLock()


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Silence warnings while parsing or tokenizing model output.

    ``ast.parse`` warns about the *completion's* oddities ("invalid escape sequence",
    "invalid decimal literal"): those must neither clutter the user's warning summary nor
    become errors under ``-W error``.  ``catch_warnings`` swaps process-wide state, so
    our own uses are serialised (parsing holds the GIL anyway).
    """
    with _QUIET_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def parse_python(code: str) -> ast.Module | None:
    """``ast.parse`` that returns None instead of raising, trying a dedent as well.

    Completions of a function *body* are uniformly indented, so a plain parse fails;
    dedenting keeps line numbers unchanged.  Deeply nested input makes the parser raise
    MemoryError/RecursionError rather than SyntaxError, hence the broad tuple.
    """
    with quiet_warnings():
        for candidate in (code, textwrap.dedent(code)):
            try:
                return ast.parse(candidate)
            except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
                continue
    return None


# --------------------------------------------------------------------------- fences

_FENCE_OPEN = re.compile(
    r"^(?P<prefix>[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?)"  # indentation, optional list marker
    r"(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$"
)


_INFO_TAG = re.compile(r"[\s{.]*(?:language-)?(?P<tag>[\w+#-]*)")


def _language(info: str) -> str:
    # "{.python}", "python title='x.py'", "python:main.py", "Python3" -> "python"/"python3".
    m = _INFO_TAG.match(info)
    return m["tag"].lower() if m else ""


def _strip_indent(line: str, width: int) -> str:
    # Content of a fence inside a list item is indented like the fence; remove at most
    # that much so the code's own indentation survives.
    i = 0
    while i < len(line) and i < width and line[i] in " \t":
        i += 1
    return line[i:]


def _trim_blank(lines: list[str], first: int) -> tuple[list[str], int]:
    """Drop leading/trailing blank lines, returning the new first line number."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end], first + start


def _fenced_blocks(lines: list[str]) -> list[CodeBlock]:
    blocks: list[CodeBlock] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        # A backtick fence's info string cannot contain backticks (CommonMark), which
        # keeps ```inline``` spans from opening a block.
        if m is None or (m["fence"][0] == "`" and "`" in m["info"]):
            i += 1
            continue
        fence, width = m["fence"], len(m["prefix"].expandtabs(4))
        body: list[str] = []
        j, terminated = i + 1, False
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                terminated = True
                break
            # "    return x```": a closing fence glued to the last code line.
            if fence[0] == "`" and stripped.endswith(fence) and stripped != fence:
                body.append(_strip_indent(lines[j].rstrip(), width)[: -len(fence)].rstrip())
                terminated = True
                break
            body.append(_strip_indent(lines[j], width))
            j += 1
        code_lines, first = _trim_blank(body, i + 2)
        if code_lines:
            blocks.append(
                CodeBlock(
                    code="\n".join(code_lines),
                    language=_language(m["info"]),
                    line=first,
                    end_line=first + len(code_lines) - 1,
                    source="fence",
                    terminated=terminated,
                )
            )
        i = j + 1
    return blocks


# --------------------------------------------------------------------------- <code>

_CODE_TAG = re.compile(
    r"<code(?P<attrs>\s[^>]*)?>(?P<body>.*?)(?:(?P<close></code\s*>)|\Z)", re.I | re.S
)
_LANG_ATTR = re.compile(r"""(?:lang(?:uage)?-|\blang=["']?)(?P<lang>[\w+#.-]+)""", re.I)


_PRE_BEFORE = re.compile(r"<pre\b[^>]*>\s*\Z", re.I)


def _tag_blocks(text: str) -> list[CodeBlock]:
    blocks: list[tuple[bool, CodeBlock]] = []
    for m in _CODE_TAG.finditer(text):
        first = text.count("\n", 0, m.start("body")) + 1
        # Unescape line by line so an entity (&#10;) cannot shift the line numbers.
        lines = [html.unescape(line) for line in m["body"].split("\n")]
        code_lines, first = _trim_blank(lines, first)
        if not code_lines:
            continue
        lang = _LANG_ATTR.search(m["attrs"] or "")
        block = CodeBlock(
            code="\n".join(code_lines),
            language=lang["lang"].lower() if lang else "",
            line=first,
            end_line=first + len(code_lines) - 1,
            source="tag",
            terminated=m["close"] is not None,
        )
        in_pre = _PRE_BEFORE.search(text, max(0, m.start() - 200), m.start()) is not None
        blocks.append((in_pre, block))
    # <pre><code> holds programs; a bare <code> in running text is an identifier
    # ("use <code>subprocess.run</code>"), kept only when there is nothing better.
    if any(in_pre for in_pre, _ in blocks):
        return [b for in_pre, b in blocks if in_pre]
    return [b for _, b in blocks]


# --------------------------------------------------------------------------- raw text


class LineKind(Enum):
    """How a single line of raw text looks (see :func:`classify_line`)."""

    BLANK = "blank"
    PROSE = "prose"
    # May belong to code next to it, but never starts a code run on its own.
    WEAK = "weak"
    STRONG = "strong"


_KEYWORD_HEAD = re.compile(
    r"^(?:def|class|import|from\s+[\w.]+\s+import|return|if|elif|else|for|while|with|try|"
    r"except|finally|raise|assert|async|await|yield|lambda|global|nonlocal|del|pass|break|"
    r"continue|print)\b"
)
_ASSIGN_OR_CALL_HEAD = re.compile(
    r"^(?:[A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*(?:[-+*/%@&|^]|//|\*\*|<<|>>)?=(?!=)|[A-Za-z_][\w.]*\()"
)
_DECORATOR = re.compile(r"^@[A-Za-z_][\w.]*(?:\(.*\))?$")
_CLAUSE_HEAD = re.compile(r"^(?:else|try|finally|except\b.*|elif\b.*)\s*:\s*(?:#.*)?$")
_CLOSERS = re.compile(r"^[)\]}]+[)\]},:;]*$")


def _strong_statement(mod: ast.Module) -> bool:
    # A lone name, constant, comparison ("not appropriate", "Sure") or a bare annotation
    # ("Note: eval is risky") parses but is what prose looks like, not code.
    for stmt in mod.body:
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
                return True
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                return True
        else:
            return True
    return False


def _opens_continuation(s: str) -> bool:
    # "result = foo(" or 'text = """' - a statement that goes on to the next line.
    opened = sum(s.count(c) for c in "([{") - sum(s.count(c) for c in ")]}")
    return opened > 0 or s.endswith("\\") or (s.count('"""') + s.count("'''")) % 2 == 1


def classify_line(line: str) -> LineKind:
    """Judge one line of raw text in isolation: blank, prose, weak or strong code."""
    s = line.strip()
    if not s:
        return LineKind.BLANK
    if len(s) > 2000:  # a single enormous line is not worth parsing twice
        return LineKind.WEAK if _ASSIGN_OR_CALL_HEAD.match(s) else LineKind.PROSE
    if _DECORATOR.match(s) or _CLAUSE_HEAD.match(s):
        return LineKind.STRONG
    candidates = [s] + ([s + "\n    pass"] if s.endswith(":") else [])
    for candidate in candidates:
        mod = parse_python(candidate)
        if mod is not None:
            return LineKind.STRONG if _strong_statement(mod) else LineKind.WEAK
    if (_KEYWORD_HEAD.match(s) or _ASSIGN_OR_CALL_HEAD.match(s)) and _opens_continuation(s):
        return LineKind.STRONG
    if s.startswith(("#", '"""', "'''")) or _CLOSERS.match(s) or line[0] in " \t":
        return LineKind.WEAK
    return LineKind.PROSE


def _runs(kinds: list[LineKind]) -> list[tuple[int, int]]:
    """Maximal [start, end) runs of non-prose lines holding at least one strong line."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(kinds):
        if kinds[i] is LineKind.PROSE:
            i += 1
            continue
        j = i
        while j < len(kinds) and kinds[j] is not LineKind.PROSE:
            j += 1
        start, end = i, j
        while start < end and kinds[start] is LineKind.BLANK:
            start += 1
        while end > start and kinds[end - 1] is LineKind.BLANK:
            end -= 1
        if any(k is LineKind.STRONG for k in kinds[start:end]):
            runs.append((start, end))
        i = j
    return runs


# Each step re-parses the run; bounded so a huge completion stays cheap.
_MAX_SHRINK = 12


def _shrink(lines: list[str], kinds: list[LineKind], start: int, end: int) -> tuple[int, int]:
    # A run that does not parse may have picked up an indented bullet of the epilogue;
    # drop non-strong edge lines only while that makes it parse.
    s, e = start, end
    for _ in range(_MAX_SHRINK):
        if e - s <= 1:
            break
        if parse_python("\n".join(lines[s:e])) is not None:
            return s, e
        if kinds[e - 1] is not LineKind.STRONG:
            e -= 1
        elif kinds[s] is not LineKind.STRONG:
            s += 1
        else:
            break
        while e > s and kinds[e - 1] is LineKind.BLANK:
            e -= 1
        while s < e and kinds[s] is LineKind.BLANK:
            s += 1
    if parse_python("\n".join(lines[s:e])) is not None:
        return s, e
    return start, end


def _raw_blocks(text: str, lines: list[str]) -> list[CodeBlock]:
    whole = parse_python(text)
    if whole is not None and _strong_statement(whole):
        # Plain code: hand it back exactly as given.  ("Sure" parses too, hence the
        # strong-statement check.)
        end = len(text.rstrip().replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        return [CodeBlock(code=text, language="", line=1, end_line=end, source="raw")]
    kinds = [classify_line(line) for line in lines]
    runs = _runs(kinds)
    if not runs:
        return []
    if len(runs) > 1 and parse_python("\n".join(lines[runs[0][0] : runs[-1][1]])) is not None:
        # Prose between the runs sits inside a string or docstring: keep the span whole.
        runs = [(runs[0][0], runs[-1][1])]
    else:
        runs = [_shrink(lines, kinds, s, e) for s, e in runs]
    return [
        CodeBlock(code="\n".join(lines[s:e]), language="", line=s + 1, end_line=e, source="raw")
        for s, e in runs
    ]


# --------------------------------------------------------------------------- API


def extract_code_blocks(completion: str) -> tuple[CodeBlock, ...]:
    """The code blocks of ``completion`` that :func:`extract_code` joins, in order.

    Line numbers count ``\\n``-separated lines of the completion after ``\\r\\n`` and
    ``\\r`` are read as newlines.
    """
    if not completion.strip():
        return ()
    with quiet_warnings():  # one swap of the warning filters instead of one per line
        return _extract_blocks(completion)


def _extract_blocks(completion: str) -> tuple[CodeBlock, ...]:
    text = completion.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    blocks = _fenced_blocks(lines)
    if blocks:
        if any(b.is_python for b in blocks):
            blocks = [b for b in blocks if b.is_python or not b.language]
        return tuple(blocks)
    tagged = _tag_blocks(text)
    if tagged:
        return tuple(tagged)
    raw = _raw_blocks(completion, lines)
    return tuple(raw)


def extract_code(completion: str) -> str:
    """The code in ``completion``: its blocks joined by a blank line; "" if none.

    Never raises on any string, and never executes anything.
    """
    return "\n\n".join(b.code for b in extract_code_blocks(completion))


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def code_to_judge(completion: str) -> tuple[str, list[str]]:
    """The code a probe judges, and a note when there was none to extract (then the
    whole completion is judged: a model may answer with bare code or broken fences)."""
    code = extract_code(completion)
    if code.strip():
        return code, []
    return completion, ["no code found in the completion; used the whole text"]
