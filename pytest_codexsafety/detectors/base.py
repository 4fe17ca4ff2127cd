"""What every detector shares: findings, the protocol, declarative options, and a parser
that salvages broken code.  Pure: no pytest, and nothing is ever executed.

A detector is a static analysis that a ``static`` probe rule calls by name
(``detector: bandit``).  It receives text (the extracted code, or the whole completion
when its ``scope`` is ``"completion"``) and its validated options, and returns
:class:`Finding` objects; any finding makes the sample hazardous.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Any, Literal, Mapping, Protocol, Sequence, runtime_checkable

from ..extract import dotted_name as dotted_name  # re-exported for the detectors

from ..extract import quiet_warnings

__all__ = [
    "Detector",
    "DetectorUnavailable",
    "Finding",
    "Option",
    "OptionError",
    "Salvaged",
    "Scope",
    "dotted_name",
    "import_aliases",
    "options_schema",
    "qualified_name",
    "salvage",
    "validate_options",
]

Scope = Literal["code", "completion"]


@dataclass(frozen=True)
class Finding:
    """One thing a detector found.

    ``rule`` is the detector's own rule or test id (``B602``, ``rsa-key-size``);
    ``line`` is 1-based in the text the detector was given (0 when unknown);
    ``cwe`` is ``"CWE-78"`` style or None.
    """

    rule: str
    line: int
    message: str
    cwe: str | None = None


class OptionError(ValueError):
    """A detector option is invalid; ``key`` names it (None: the options as a whole)."""

    def __init__(self, key: str | None, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.hint = hint


class DetectorUnavailable(RuntimeError):
    """An optional dependency of the detector is missing; the message says how to install it."""


@runtime_checkable
class Detector(Protocol):
    """A static analysis callable from a ``static`` rule as ``detector: NAME``."""

    name: str
    #: One line for the docs and for ``--help``-style listings.
    summary: str
    #: "code": gets the extracted code; "completion": gets the whole completion.
    scope: Scope

    def check_available(self) -> None:
        """Raise :class:`DetectorUnavailable` when a dependency is missing."""
        ...

    def parse_options(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Validate JSON options and fill in defaults; raise :class:`OptionError`."""
        ...

    def options_schema(self) -> Mapping[str, Any]:
        """JSON Schema of the ``options`` mapping (draft 2020-12)."""
        ...

    def detect(self, code: str, options: Mapping[str, Any]) -> list[Finding]:
        """Analyse ``code`` statically.  ``options`` may be raw (defaults are filled in)."""
        ...


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One declared option of a detector; validation and JSON Schema come from it."""

    name: str
    kind: Literal["choice", "int", "bool", "names"]
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    # For kind "names": a regular expression every entry must match.
    item_pattern: str | None = None


def _check(option: Option, value: Any) -> Any:
    key = option.name
    if option.kind == "choice":
        if not isinstance(value, str) or value.lower() not in option.choices:
            guess = difflib.get_close_matches(str(value).lower(), option.choices, n=1)
            hint = f"did you mean '{guess[0]}'?" if guess else f"use one of {', '.join(option.choices)}"
            raise OptionError(key, f"expected one of {', '.join(option.choices)}, found {value!r}", hint)
        return value.lower()
    if option.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(key, f"expected a whole number, found {value!r}")
        if option.minimum is not None and value < option.minimum:
            raise OptionError(key, f"expected at least {option.minimum}, found {value}")
        return value
    if option.kind == "bool":
        if not isinstance(value, bool):
            raise OptionError(key, f"expected true or false, found {value!r}")
        return value
    # A tuple is what validation itself returns: already-parsed options validate again.
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise OptionError(key, f"expected a list of non-empty strings, found {value!r}")
    if option.item_pattern is not None:
        for item in value:
            if not re.fullmatch(option.item_pattern, item):
                raise OptionError(key, f"{item!r} does not match {option.item_pattern}")
    return tuple(value)


def validate_options(declared: Sequence[Option], options: Mapping[str, Any]) -> Mapping[str, Any]:
    """``options`` checked against ``declared``, defaults filled in, read-only."""
    names = [o.name for o in declared]
    for key in options:
        if key not in names:
            guess = difflib.get_close_matches(key, names, n=1)
            allowed = ", ".join(names) if names else "(none)"
            hint = f"did you mean '{guess[0]}'?" if guess else f"allowed options: {allowed}"
            raise OptionError(key, f"unknown option {key!r}; expected one of {allowed}", hint)
    out = {o.name: _check(o, options[o.name]) if o.name in options else o.default for o in declared}
    return MappingProxyType(out)


class OptionTableDetector:
    """Shared plumbing of detectors whose options are a fixed table of :class:`Option`
    and which need nothing installed beyond the standard library."""

    __slots__ = ()
    option_table: ClassVar[Sequence["Option"]] = ()

    def check_available(self) -> None:
        return None

    def parse_options(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        return validate_options(self.option_table, options)

    def options_schema(self) -> Mapping[str, Any]:
        return options_schema(self.option_table)


def options_schema(declared: Sequence[Option]) -> dict[str, Any]:
    """The JSON Schema of an options mapping with exactly the ``declared`` keys."""
    props: dict[str, Any] = {}
    for o in declared:
        if o.kind == "choice":
            prop: dict[str, Any] = {"enum": list(o.choices)}
        elif o.kind == "int":
            prop = {"type": "integer"} | ({"minimum": o.minimum} if o.minimum is not None else {})
        elif o.kind == "bool":
            prop = {"type": "boolean"}
        else:
            item: dict[str, Any] = {"type": "string", "minLength": 1}
            if o.item_pattern is not None:
                item["pattern"] = f"^(?:{o.item_pattern})$"
            prop = {"type": "array", "items": item}
        default = list(o.default) if isinstance(o.default, tuple) else o.default
        props[o.name] = {"description": o.description, **prop, "default": default}
    return {"type": "object", "additionalProperties": False, "properties": props}


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Salvaged:
    """The parseable part of some code, with the original line numbers kept.

    ``text`` has the same number of lines as the input; lines that had to be dropped
    are blank and listed in ``dropped`` (1-based).  ``tree`` is None when nothing parsed.
    """

    text: str
    tree: ast.Module | None
    dropped: tuple[int, ...] = ()

    @property
    def note(self) -> str:
        if self.tree is None:
            return "code did not parse"
        if not self.dropped:
            return ""
        shown = ", ".join(map(str, self.dropped[:6])) + (", ..." if len(self.dropped) > 6 else "")
        return f"code did not parse; analysed it without line(s) {shown}"


# Bounds the work on adversarial input: each attempt is one ast.parse.
_MAX_PARSES = 200


def _try_parse(text: str) -> tuple[ast.Module | None, int | None, str]:
    """(tree, None, the text that parsed) on success, else (None, 1-based error line, text).

    A uniformly indented text (a completed function body) is parsed dedented.
    """
    line: int | None = None
    with quiet_warnings():
        for candidate in (text, textwrap.dedent(text)):
            try:
                return ast.parse(candidate), None, candidate
            except SyntaxError as exc:
                # The dedented try gets further into indented text: keep the furthest error.
                line = max(line or 0, exc.lineno or 0) or None
            except (ValueError, MemoryError, RecursionError, OverflowError):
                pass
    return None, line, text


def salvage(code: str) -> Salvaged:
    """Parse ``code``; if it does not parse, keep the largest runs of lines that do.

    Weak models and ``max_tokens`` cut programs off mid-statement; analysing what does
    parse keeps a truncated ``pickle.loads(data)`` from hiding behind a broken last line.
    Runs are found from the parser's error line: the longest prefix before it that
    parses is kept, the failing line is dropped, and the rest is tried again.
    """
    tree, _, parsed = _try_parse(code)
    if tree is not None:
        return Salvaged(parsed, tree)
    lines = code.split("\n")
    kept: list[str] = [""] * len(lines)
    keep_any = False
    start, parses = 0, 1
    while start < len(lines) and parses < _MAX_PARSES:
        tree, err, parsed = _try_parse("\n".join(lines[start:]))
        parses += 1
        if tree is not None:
            kept[start:] = parsed.split("\n")
            keep_any = keep_any or bool(parsed.strip())
            break
        err = max(1, err or 1)
        end = min(start + err - 1, len(lines))  # exclusive: the lines before the error line
        while end > start and parses < _MAX_PARSES:
            piece_tree, _, piece = _try_parse("\n".join(lines[start:end]))
            parses += 1
            if piece_tree is not None:
                kept[start:end] = piece.split("\n")
                keep_any = keep_any or bool(piece.strip())
                break
            end -= 1
        start += err  # the failing line is dropped; go on after it
    text = "\n".join(kept)
    tree = _try_parse(text)[0] if keep_any else None
    if tree is None:
        return Salvaged(code, None)
    dropped = tuple(i + 1 for i, (a, b) in enumerate(zip(lines, kept)) if a.strip() and not b.strip())
    return Salvaged(text, tree, dropped)


# --------------------------------------------------------------------------- names


def import_aliases(tree: ast.AST) -> Mapping[str, str]:
    """Local name -> qualified name for every import in ``tree`` (flow-insensitive).

    ``import a.b as c`` -> ``c: a.b``; ``from a import b as c`` -> ``c: a.b``;
    ``import a.b`` -> ``a: a``.  The last import of a name wins.
    """
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    root = a.name.partition(".")[0]
                    out[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                if a.name != "*":
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def qualified_name(node: ast.AST, aliases: Mapping[str, str]) -> str | None:
    """The dotted name of ``node`` with its root resolved through ``aliases``."""
    name = dotted_name(node)
    if name is None:
        return None
    root, dot, rest = name.partition(".")
    return aliases.get(root, root) + dot + rest


def name_matches(qualified: str | None, *targets: str) -> bool:
    """True when ``qualified`` is one of ``targets`` or ends with ``.target``."""
    if qualified is None:
        return False
    return any(qualified == t or qualified.endswith("." + t) for t in targets)
