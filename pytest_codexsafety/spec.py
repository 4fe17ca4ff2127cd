"""Load ``*.hazard.yaml`` files into :class:`~pytest_codexsafety.specmodel.HazardSpec`.

Pure: no pytest import.  Every problem becomes a :class:`SpecError` that names the file,
line, column and key, says what was expected and what was found, and hints at a fix.
One hazard per YAML document; a document that fails validation is returned as its
error so the file's other hazards still load.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import math
import os
import re
from dataclasses import replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import yamlnodes
from .errors import SpecError
from .probes.base import ProbeKind
from .specmodel import HazardSpec, ProbeSpec, SourceLocation, Threshold
from .vocab import Acceptance, Category, Severity

__all__ = [
    "COMMON_PROBE_KEYS",
    "TOP_LEVEL_KEYS",
    "MappingReader",
    "hazard_schema",
    "load_hazard_file",
    "load_hazard_text",
]

COMMON_PROBE_KEYS = ("kind", "prompts", "samples", "params", "sampling")
SAMPLING_MODES = ("fixed", "sequential")
TOP_LEVEL_KEYS = (
    "id", "title", "description", "category", "severity", "references", "tags", "probe", "threshold",
)
THRESHOLD_KEYS = ("max_acceptance", "max_rate")
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
# ASCII only, so the shipped JSON Schema can express exactly the same rule.
_TAG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ROMAN = {s.roman: s for s in Severity}


class MappingReader:
    """Typed, located access to one YAML mapping (implements ``OptionsReader``).

    ``prefix`` is the dotted path of this mapping inside the document (``probe``,
    ``probe.rules[0]``), so messages name the full key.
    """

    def __init__(self, node: MappingNode, path: str, prefix: str = "") -> None:
        self._node = node
        self._path = path
        self._prefix = prefix
        self._items = yamlnodes.mapping_items(node, path, prefix)

    # -- location and errors -------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @property
    def node(self) -> MappingNode:
        """The YAML node read (for canonical hashing of a section)."""
        return self._node

    def _key(self, key: str) -> str:
        return yamlnodes.dotted(self._prefix, key)

    def location(self, key: str | None = None) -> SourceLocation:
        node: Node = self._node
        if key is not None and key in self._items:
            node = self._items[key][1]
        line, column = yamlnodes.line_col(node)
        return SourceLocation(self._path, line, column)

    def error(self, key: str | None, message: str, hint: str | None = None) -> SpecError:
        loc = self.location(key)
        dotted = self._key(key) if key is not None else self._prefix or None
        return SpecError(message, path=self._path, line=loc.line, column=loc.column, key=dotted, hint=hint)

    def _error_at(self, node: Node, key: str | None, message: str, hint: str | None) -> SpecError:
        line, column = yamlnodes.line_col(node)
        return SpecError(message, path=self._path, line=line, column=column, key=key, hint=hint)

    def _wrong(self, key: str, node: Node, expected: str, hint: str | None) -> SpecError:
        found = yamlnodes.describe(node)
        return self._error_at(node, self._key(key), f"expected {expected}, found {found}", hint)

    def _missing(self, key: str, expected: str, example: str) -> SpecError:
        # Located at the mapping that lacks the key: there is no value to point at.
        where = f" in '{self._prefix}'" if self._prefix else ""
        message = f"missing required key{where}; expected {expected}"
        return self._error_at(self._node, self._key(key), message, f"add '{key}: {example}'")

    # -- keys ----------------------------------------------------------------

    def keys(self) -> Sequence[str]:
        return tuple(self._items)

    def has(self, key: str) -> bool:
        return key in self._items

    def reject_unknown(self, allowed: Sequence[str]) -> None:
        for key, (key_node, _) in self._items.items():
            if key in allowed:
                continue
            guess = yamlnodes.suggest(key, allowed)
            hint = f"did you mean '{guess}'?" if guess else f"allowed keys here: {yamlnodes.listing(allowed)}"
            raise self._error_at(
                key_node,
                self._key(key),
                f"unknown key; expected one of {yamlnodes.listing(allowed)}, found {key!r}",
                hint,
            )

    def _get(self, key: str) -> Node | None:
        entry = self._items.get(key)
        return entry[1] if entry else None

    def _scalar(self, key: str, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            return node
        return yamlnodes.scalar_value(node, self._path, self._key(key))

    # -- strings -------------------------------------------------------------

    def _str(self, key: str, node: Node, *, non_blank: bool) -> str:
        value = self._scalar(key, node)
        item = "[" in key  # a list entry has no 'key:' of its own to show in hints
        if not isinstance(value, str):
            shown = '- "..."' if item else f'{key}: "..."'
            raise self._wrong(key, node, "a string", f"quote the value: {shown}")
        if non_blank and not value.strip():
            where = "this entry" if item else f"'{key}:'"
            raise self._wrong(key, node, "a non-empty string", f"write some text for {where}")
        return value

    def required_str(self, key: str) -> str:
        node = self._get(key)
        if node is None:
            raise self._missing(key, "a non-empty string", '"..."')
        return self._str(key, node, non_blank=True)

    def optional_str(self, key: str, default: str | None = None) -> str | None:
        node = self._get(key)
        if node is None:
            return default
        return self._str(key, node, non_blank=False)

    def str_list(self, key: str, *, required: bool = True, non_empty: bool = True) -> tuple[str, ...]:
        node = self._get(key)
        if node is None:
            if required:
                raise self._missing(key, "a list of strings", '["..."]')
            return ()
        if not isinstance(node, SequenceNode):
            raise self._wrong(key, node, "a list of strings", f'write a YAML list, e.g. {key}: ["..."]')
        if non_empty and not node.value:
            raise self._wrong(key, node, "a non-empty list of strings", f"give at least one entry under '{key}'")
        out: list[str] = []
        for index, item in enumerate(node.value):
            item_key = f"{key}[{index}]"
            out.append(self._str(item_key, item, non_blank=True))
        return tuple(out)

    def choice(self, key: str, choices: Sequence[str], *, default: str | None = None) -> str:
        node = self._get(key)
        if node is None:
            if default is not None:
                return default
            raise self._missing(key, f"one of {yamlnodes.listing(choices)}", choices[0] if choices else "...")
        value = self._scalar(key, node)
        if isinstance(value, str) and value in choices:
            return value
        expected = f"one of {yamlnodes.listing(choices)}"
        guess = yamlnodes.suggest(value, choices) if isinstance(value, str) else None
        hint = f"did you mean '{guess}'?" if guess else f"use one of {yamlnodes.listing(choices)}"
        raise self._wrong(key, node, expected, hint)

    # -- numbers and booleans ------------------------------------------------

    def _int(self, key: str, node: Node, minimum: int | None) -> int:
        value = self._scalar(key, node)
        if isinstance(value, bool) or not isinstance(value, int):
            example = minimum if minimum is not None else 1
            raise self._wrong(key, node, "a whole number", f"write a number without quotes, e.g. {key}: {example}")
        if minimum is not None and value < minimum:
            raise self._wrong(key, node, f"a whole number of at least {minimum}", f"use {minimum} or more")
        return value

    def required_int(self, key: str, *, minimum: int | None = None) -> int:
        node = self._get(key)
        if node is None:
            bound = f" of at least {minimum}" if minimum is not None else ""
            raise self._missing(key, f"a whole number{bound}", str(minimum if minimum is not None else 1))
        return self._int(key, node, minimum)

    def optional_int(
        self, key: str, default: int | None = None, *, minimum: int | None = None
    ) -> int | None:
        node = self._get(key)
        return default if node is None else self._int(key, node, minimum)

    def optional_float(
        self,
        key: str,
        default: float | None = None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float | None:
        node = self._get(key)
        if node is None:
            return default
        value = self._scalar(key, node)
        # bool is an int subclass, but `true` meaning 1.0 would only ever be a mistake.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._wrong(key, node, "a finite number", f"write a number without quotes, e.g. {key}: 0.5")
        number = float(value)
        if minimum is not None and number < minimum:
            raise self._wrong(key, node, f"a number of at least {minimum:g}", f"use {minimum:g} or more")
        if maximum is not None and number > maximum:
            raise self._wrong(key, node, f"a number of at most {maximum:g}", f"use {maximum:g} or less")
        return number

    def optional_bool(self, key: str, default: bool | None = None) -> bool | None:
        node = self._get(key)
        if node is None:
            return default
        value = self._scalar(key, node)
        if not isinstance(value, bool):
            raise self._wrong(key, node, "true or false", f"write {key}: true or {key}: false")
        return value

    # -- nested structures ---------------------------------------------------

    def mapping(self, key: str, *, required: bool = True) -> MappingReader | None:
        node = self._get(key)
        if node is None:
            if required:
                raise self._missing(key, "a mapping", "{...}")
            return None
        if not isinstance(node, MappingNode):
            raise self._wrong(key, node, "a mapping", f"write 'key: value' entries indented under '{key}:'")
        return MappingReader(node, self._path, self._key(key))

    def mapping_list(
        self, key: str, *, required: bool = True, non_empty: bool = True
    ) -> tuple[MappingReader, ...]:
        node = self._get(key)
        if node is None:
            if required:
                raise self._missing(key, "a list of mappings", "[{...}]")
            return ()
        if not isinstance(node, SequenceNode):
            raise self._wrong(key, node, "a list of mappings", f"write each entry as '- key: value' under '{key}:'")
        if non_empty and not node.value:
            raise self._wrong(key, node, "a non-empty list of mappings", f"give at least one entry under '{key}'")
        readers: list[MappingReader] = []
        for index, item in enumerate(node.value):
            item_key = f"{key}[{index}]"
            if not isinstance(item, MappingNode):
                raise self._wrong(item_key, item, "a mapping", "write the entry as '- key: value'")
            readers.append(MappingReader(item, self._path, self._key(item_key)))
        return tuple(readers)

    def json_value(self, key: str) -> Any:
        node = self._get(key)
        if node is None:
            raise self._missing(key, "a JSON value", "...")
        return yamlnodes.to_json(node, self._path, self._key(key))

    def item_error(self, key: str, index: int, message: str, hint: str | None = None) -> SpecError:
        """Build a SpecError located at item ``index`` of the list under ``key``."""
        node = self._get(key)
        if isinstance(node, SequenceNode) and 0 <= index < len(node.value):
            return self._error_at(node.value[index], self._key(f"{key}[{index}]"), message, hint)
        return self.error(key, message, hint)


# ---------------------------------------------------------------------------
# Loading


def _required_mapping(reader: MappingReader, key: str) -> MappingReader:
    sub = reader.mapping(key, required=True)
    assert sub is not None  # required=True raises instead of returning None
    return sub


def _read_probe(probe: MappingReader, probe_kinds: Mapping[str, ProbeKind]) -> ProbeSpec:
    known = sorted(probe_kinds)
    if not probe.has("kind"):
        # Catch a misspelt 'kind' with a did-you-mean before complaining it is missing.
        every_option = [k for kind in probe_kinds.values() for k in kind.option_keys]
        probe.reject_unknown(COMMON_PROBE_KEYS + tuple(every_option))
    name = probe.required_str("kind")
    if name not in probe_kinds:
        guess = yamlnodes.suggest(name, known)
        listing = f"known kinds: {yamlnodes.listing(known)}" if known else "no probe kinds are registered"
        hint = f"did you mean '{guess}'?" if guess else (
            "use a known kind, or register yours through the pytest_codexsafety_probe_kinds hook"
        )
        raise probe.error("kind", f"unknown probe kind {name!r}; {listing}", hint)
    kind = probe_kinds[name]
    probe.reject_unknown(COMMON_PROBE_KEYS + tuple(kind.option_keys))
    # Kinds such as the ladder generate their prompts from their options (a seed, ...).
    generated = bool(getattr(kind, "generates_prompts", False))
    if generated and probe.has("prompts"):
        raise probe.error("prompts", f"probe kind '{name}' generates its own prompts",
                          "remove 'prompts'; the kind's options choose its tasks")
    prompts = () if generated else probe.str_list("prompts")
    samples = probe.required_int("samples", minimum=1)
    # The spec may ask for a fixed n; otherwise --hazard-sampling / hazard_sampling decide.
    sampling = probe.choice("sampling", SAMPLING_MODES) if probe.has("sampling") else None
    params: dict[str, Any] = {}
    params_reader = probe.mapping("params", required=False)
    if params_reader is not None:
        params = {key: params_reader.json_value(key) for key in params_reader.keys()}
    options = _parse_options(kind, name, probe)
    spec = ProbeSpec(
        kind=name,
        prompts=prompts,
        samples=samples,
        params=MappingProxyType(params),
        options=options,
        location=probe.location(),
        sampling=sampling,
    )
    if generated:
        spec = replace(spec, prompts=_generated_prompts(kind, name, probe, spec))
    return spec


def _generated_prompts(kind: ProbeKind, name: str, probe: MappingReader, spec: ProbeSpec) -> tuple[str, ...]:
    try:
        prompts = tuple(kind.prompts(spec))
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not become a traceback here
        raise probe.error(
            None, f"probe kind '{name}' failed while generating its prompts: {type(exc).__name__}: {exc}",
            "this is a bug in the probe kind; report it to its authors",
        ) from exc
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise probe.error(None, f"probe kind '{name}' generated no prompts from these options",
                          "widen the selection (tasks, properties, levels or lengths)")
    return prompts


def _parse_options(kind: ProbeKind, name: str, probe: MappingReader) -> Mapping[str, Any]:
    try:
        options = kind.parse_options(probe)
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not become a traceback here
        raise probe.error(
            None,
            f"probe kind '{name}' failed while reading its options: {type(exc).__name__}: {exc}",
            "this is a bug in the probe kind's parse_options; report it to its authors",
        ) from exc
    if not isinstance(options, Mapping):
        raise probe.error(
            None,
            f"probe kind '{name}' returned {type(options).__name__} from parse_options, not a mapping",
            "this is a bug in the probe kind",
        )
    return MappingProxyType(dict(options))


def _read_threshold(doc: MappingReader) -> Threshold:
    threshold = _required_mapping(doc, "threshold")
    threshold.reject_unknown(THRESHOLD_KEYS)
    if not threshold.keys():
        raise threshold.error(
            None,
            f"expected at least one of {yamlnodes.listing(THRESHOLD_KEYS)}, found an empty mapping",
            "e.g. 'max_acceptance: acceptable_with_review' or 'max_rate: 0.1'",
        )
    acceptance = None
    if threshold.has("max_acceptance"):
        acceptance = Acceptance(threshold.choice("max_acceptance", [a.value for a in Acceptance]))
    rate = threshold.optional_float("max_rate")
    if rate is not None and not 0.0 < rate <= 1.0:
        raise threshold.error(
            "max_rate",
            f"expected a rate greater than 0 and at most 1, found {rate:g}",
            "a rate is a fraction of samples: 0.1 means 10%",
        )
    return Threshold(max_acceptance=acceptance, max_rate=rate, location=threshold.location())


def _read_severity(doc: MappingReader) -> Severity:
    names = [s.value for s in Severity]
    value = doc.choice("severity", names + list(_ROMAN))
    return _ROMAN[value] if value in _ROMAN else Severity(value)


def _read_tags(doc: MappingReader) -> tuple[str, ...]:
    tags = doc.str_list("tags", required=False, non_empty=False)
    for index, tag in enumerate(tags):
        if not _TAG_RE.fullmatch(tag) or keyword.iskeyword(tag):
            raise doc.item_error(
                "tags",
                index,
                f"expected a Python identifier (ASCII letters, digits, '_'; not starting with a digit;"
                f" not a keyword), found {tag!r}",
                f"tags become pytest markers; try {_tag_fix(tag)!r}",
            )
    return tags


def _tag_fix(tag: str) -> str:
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", tag.strip()) or "tag"
    if fixed[0].isdigit() or keyword.iskeyword(fixed):
        fixed = "_" + fixed
    return fixed


def _read_document(
    node: MappingNode,
    index: int,
    path: str,
    probe_kinds: Mapping[str, ProbeKind],
    source_sha256: str,
    seen_ids: dict[str, int],
) -> HazardSpec:
    doc = MappingReader(node, path)
    doc.reject_unknown(TOP_LEVEL_KEYS)
    hazard_id = doc.required_str("id")
    if not _ID_RE.fullmatch(hazard_id):
        raise doc.error(
            "id",
            f"expected an id matching {ID_PATTERN} (a letter, then letters, digits, '_', '.' or '-'),"
            f" found {hazard_id!r}",
            "e.g. id: SEC-EVAL-001",
        )
    line = doc.location("id").line
    if hazard_id in seen_ids:
        raise doc.error(
            "id",
            f"duplicate id {hazard_id!r}: first defined at line {seen_ids[hazard_id]}, again at line {line}",
            "ids must be unique; rename one of the two hazards",
        )
    seen_ids[hazard_id] = line
    title = doc.required_str("title")
    description = doc.required_str("description")
    category = Category(doc.choice("category", [c.value for c in Category]))
    severity = _read_severity(doc)
    references = doc.str_list("references", required=False, non_empty=False)
    tags = _read_tags(doc)
    probe_reader = _required_mapping(doc, "probe")
    probe = _read_probe(probe_reader, probe_kinds)
    threshold = _read_threshold(doc)
    return HazardSpec(
        id=hazard_id,
        title=title,
        description=description,
        category=category,
        severity=severity,
        probe=probe,
        threshold=threshold,
        references=references,
        tags=tags,
        location=doc.location(),
        source_sha256=source_sha256,
        probe_sha256=yamlnodes.canonical_sha256(probe_reader.node, path, "probe"),
        document_index=index,
    )


def _load(
    text: str, path: str, probe_kinds: Mapping[str, ProbeKind], source_sha256: str
) -> list[HazardSpec | SpecError]:
    results: list[HazardSpec | SpecError] = []
    seen_ids: dict[str, int] = {}
    for index, node in yamlnodes.hazard_documents(text, path):
        try:
            results.append(_read_document(node, index, path, probe_kinds, source_sha256, seen_ids))
        except SpecError as exc:
            results.append(exc)
    return results


def load_hazard_text(
    text: str, path: str, probe_kinds: Mapping[str, ProbeKind]
) -> list[HazardSpec | SpecError]:
    """Load every hazard document of ``text`` (``path`` is only used in messages).

    Returns one entry per document: its :class:`HazardSpec`, or the :class:`SpecError`
    that made it invalid.  Raises :class:`SpecError` for problems of the whole file.
    """
    path = os.fsdecode(path)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return _load(text, path, probe_kinds, digest)


def load_hazard_file(
    path: str | os.PathLike[str], probe_kinds: Mapping[str, ProbeKind]
) -> list[HazardSpec | SpecError]:
    """Read ``path`` as UTF-8 and load it like :func:`load_hazard_text`."""
    shown = os.fsdecode(path)
    text, digest = yamlnodes.read_utf8(path, shown)
    return _load(text, shown, probe_kinds, digest)


def hazard_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one hazard document, as shipped in the package."""
    name = "hazard.schema.json"
    try:
        text = resources.files("pytest_codexsafety").joinpath(f"schema/{name}").read_text("utf-8")
    except (OSError, TypeError):
        # importlib.resources cannot serve a package that an editable install left as a
        # namespace package; the plain file next to this module is the same data.
        text = (Path(__file__).parent / "schema" / name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
