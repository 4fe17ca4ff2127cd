"""Guarded YAML composition and located node helpers for the spec loader.  No pytest.

Specs are read as PyYAML *nodes* rather than Python objects so that every value keeps
its line and column for error messages.  Composition goes through a ``SafeLoader``
subclass that refuses aliases (no billion-laughs expansion), foreign tags (no object
construction, even by accident) and unbounded nesting (no ``RecursionError``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
from datetime import date
from typing import Any, Sequence

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import SpecError

_CORE = "tag:yaml.org,2002:"
STR = _CORE + "str"
INT = _CORE + "int"
FLOAT = _CORE + "float"
BOOL = _CORE + "bool"
NULL = _CORE + "null"
TIMESTAMP = _CORE + "timestamp"
# Implicitly resolved for "<<" and "="; we give them no meaning, so they read as text.
_TEXTUAL = frozenset({STR, _CORE + "merge", _CORE + "value"})
# The only explicit tags a spec may carry: they can only pick one of the plain types.
_ALLOWED_EXPLICIT = frozenset({STR, INT, FLOAT, BOOL, NULL})

# Far deeper than any sensible spec (about 5 levels), far shallower than the
# interpreter's recursion limit (composition costs ~3 frames per level).
MAX_DEPTH = 100


class RefusedYAML(yaml.MarkedYAMLError):
    """A YAML feature that hazard specs deliberately do not support."""

    def __init__(self, problem: str, mark: Any, hint: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


class GuardedLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses aliases, non-core tags and deep nesting while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        if isinstance(event, yaml.AliasEvent):
            # Refusing aliases outright is simpler and safer than bounding expansion.
            raise RefusedYAML(
                f"YAML alias '*{event.anchor}' is not supported in hazard specs",
                event.start_mark,
                "write the value out in full instead of using anchors and aliases",
            )
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _ALLOWED_EXPLICIT:
            raise RefusedYAML(
                f"YAML tag '{tag}' is not allowed in hazard specs",
                event.start_mark,
                "remove the tag; specs hold only plain strings, numbers, booleans, lists and mappings",
            )
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)) and tag is not None and tag != "!":
            raise RefusedYAML(
                f"YAML tag '{tag}' cannot be put on a list or mapping",
                event.start_mark,
                "remove the tag",
            )
        if self._depth >= MAX_DEPTH:
            raise RefusedYAML(
                f"the YAML is nested more than {MAX_DEPTH} levels deep",
                event.start_mark,
                "flatten the structure; a hazard spec needs only a few levels",
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def line_col(node: Node) -> tuple[int, int]:
    """1-based line and column where ``node`` starts."""
    mark = node.start_mark
    if mark is None:
        return 1, 1
    return mark.line + 1, mark.column + 1


def _is_empty_document(node: Node) -> bool:
    # A stray "---" (e.g. a trailing one) yields an empty plain scalar; skip it.
    return isinstance(node, ScalarNode) and node.tag == NULL and node.value == "" and not node.style


def _yaml_error(exc: yaml.YAMLError, text: str, path: str) -> SpecError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        parts = [p for p in (exc.problem, exc.context) if p]
        problem = "; ".join(parts) or "invalid YAML"
        start = exc.context_mark
        if exc.context and start is not None and mark is not None and start.line != mark.line:
            # An unclosed bracket or quote is reported where the parser gave up; say where it began.
            problem += f" that began at line {start.line + 1}, column {start.column + 1}"
        hint = getattr(exc, "hint", None) or "fix the YAML syntax at this position"
        if isinstance(exc, RefusedYAML):
            message = problem
        else:
            message = f"YAML syntax error: {problem}"
        if mark is None:
            return SpecError(message, path=path, hint=hint)
        return SpecError(message, path=path, line=mark.line + 1, column=mark.column + 1, hint=hint)
    if isinstance(exc, yaml.reader.ReaderError):
        pos = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        return SpecError(
            f"YAML cannot contain the character {shown}: {exc.reason}",
            path=path,
            line=line,
            column=column,
            hint="remove the control character, or write it as an escape inside a double-quoted string",
        )
    return SpecError(f"cannot read the YAML: {exc}", path=path, hint="fix the YAML syntax")


def compose_documents(text: str, path: str) -> list[tuple[int, Node]]:
    """Compose every document of ``text``; returns (stream index, root node), skipping
    empty documents.  Any YAML problem becomes a located :class:`SpecError`."""
    documents: list[tuple[int, Node]] = []
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=GuardedLoader)):
            if node is not None and not _is_empty_document(node):
                documents.append((index, node))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, path) from None
    except RecursionError:
        # Only reachable if the caller is already deep in the stack; MAX_DEPTH guards the rest.
        raise SpecError(
            "the YAML is nested too deeply to read", path=path, hint="flatten the structure"
        ) from None
    return documents


def describe(node: Node) -> str:
    """A short phrase for 'found ...' in messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    shown = value if len(value) <= 40 else value[:37] + "..."
    if node.tag == NULL:
        return "an empty value (null)" if value in ("", "~") else f"null ({value})"
    if node.tag == BOOL:
        return f"the boolean {value}"
    if node.tag == INT:
        return f"the integer {shown}"
    if node.tag == FLOAT:
        return f"the number {shown}"
    if node.tag == TIMESTAMP:
        return f"the date/time {shown}"
    return f"the string {shown!r}"


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def scalar_value(node: ScalarNode, path: str, key: str | None) -> Any:
    """The Python value of a scalar: str, int, float, bool, None or a date/datetime."""
    if node.tag in _TEXTUAL:
        return str(node.value)
    try:
        if node.tag == INT:
            return _CONSTRUCTOR.construct_yaml_int(node)
        if node.tag == FLOAT:
            return _CONSTRUCTOR.construct_yaml_float(node)
        if node.tag == BOOL:
            return _CONSTRUCTOR.construct_yaml_bool(node)
        if node.tag == NULL:
            return None
        if node.tag == TIMESTAMP:
            return _CONSTRUCTOR.construct_yaml_timestamp(node)
    except Exception as exc:  # noqa: BLE001 - arbitrary text reaches PyYAML's converters
        line, column = line_col(node)
        value = str(node.value)
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise SpecError(
            f"cannot read {shown!r} as {node.tag.rsplit(':', 1)[-1]}: {str(exc)[:200]}",
            path=path,
            line=line,
            column=column,
            key=key,
            hint="quote the value to make it a string, or fix it",
        ) from None
    # Unreachable through GuardedLoader, which admits only the tags above.
    return str(node.value)


def mapping_items(node: MappingNode, path: str, prefix: str) -> dict[str, tuple[ScalarNode, Node]]:
    """The mapping's entries by key text; keys must be unique plain strings."""
    items: dict[str, tuple[ScalarNode, Node]] = {}
    for key_node, value_node in node.value:
        line, column = line_col(key_node)
        if not isinstance(key_node, ScalarNode) or key_node.tag not in _TEXTUAL:
            raise SpecError(
                f"mapping keys must be strings, found {describe(key_node)}",
                path=path,
                line=line,
                column=column,
                key=prefix or None,
                hint="write keys as plain words, and quote ones YAML reads otherwise (e.g. 'yes', '1')",
            )
        key = str(key_node.value)
        if key in items:
            first_line, _ = line_col(items[key][0])
            raise SpecError(
                f"duplicate key: already given at line {first_line}",
                path=path,
                line=line,
                column=column,
                key=dotted(prefix, key),
                hint="keep one of the two entries",
            )
        items[key] = (key_node, value_node)
    return items


def dotted(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _walk(node: Node, path: str, key: str, strict: bool) -> Any:
    if isinstance(node, SequenceNode):
        return [_walk(item, path, f"{key}[{i}]", strict) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        items = mapping_items(node, path, key)
        return {k: _walk(v, path, dotted(key, k), strict) for k, (_, v) in items.items()}
    assert isinstance(node, ScalarNode)
    value = scalar_value(node, path, key)
    if isinstance(value, float) and not math.isfinite(value):
        if strict:
            raise _not_json(node, path, key, "infinity and NaN are not JSON numbers")
        return str(node.value)
    if isinstance(value, date):
        if strict:
            raise _not_json(node, path, key, "dates are not JSON values; quote it")
        return str(node.value)
    return value


def _not_json(node: Node, path: str, key: str, why: str) -> SpecError:
    line, column = line_col(node)
    return SpecError(
        f"expected a plain JSON value, found {describe(node)}",
        path=path,
        line=line,
        column=column,
        key=key,
        hint=why,
    )


def to_json(node: Node, path: str, key: str) -> Any:
    """Plain JSON data (dict, list, str, int, float, bool, None); rejects anything else."""
    return _walk(node, path, key, strict=True)


def to_plain(node: Node, path: str, key: str) -> Any:
    """Like :func:`to_json`, but non-JSON scalars become their source text (for hashing)."""
    return _walk(node, path, key, strict=False)




def canonical_sha256(node: Node, path: str, key: str) -> str:
    """sha256 of the node as canonical JSON: formatting, comments and key order do not count."""
    canonical = json.dumps(to_plain(node, path, key), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``word``, if any is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close and word.lower() in choices:
        return word.lower()
    return close[0] if close else None


def listing(choices: Sequence[str]) -> str:
    return ", ".join(choices)


def hazard_documents(text: str, path: str) -> list[tuple[int, MappingNode]]:
    """The root mappings of ``text`` with their stream index; a file that holds no
    documents, or a document that is not a mapping, is an error of the whole file."""
    documents = compose_documents(text, path)
    if not documents:
        raise SpecError(
            "the file holds no hazard documents",
            path=path,
            line=1,
            column=1,
            hint="write at least one hazard: a mapping with id, title, description, category,"
            " severity, probe and threshold",
        )
    mappings: list[tuple[int, MappingNode]] = []
    for index, node in documents:
        if not isinstance(node, MappingNode):
            line, column = line_col(node)
            raise SpecError(
                f"document {index + 1} is not a hazard: expected a mapping, found {describe(node)}",
                path=path,
                line=line,
                column=column,
                hint="each YAML document (separated by '---') must be one mapping with id, title, ...",
            )
        mappings.append((index, node))
    return mappings


def read_utf8(path: str | os.PathLike[str], shown: str) -> tuple[str, str]:
    """The file's text and the sha256 of its bytes; unreadable or non-UTF-8 is a SpecError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SpecError(
            f"cannot read the file: {exc.strerror or exc}",
            path=shown,
            hint="check that the file exists and is readable",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            path=shown,
            line=line,
            column=column,
            hint="save the file with UTF-8 encoding",
        ) from None
    return text, hashlib.sha256(data).hexdigest()
