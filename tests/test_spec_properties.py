"""Property tests: the loader raises nothing but SpecError, whatever the input text.

Three sources of input: arbitrary text (including YAML punctuation and control
characters), arbitrary YAML-ish data dumped with ``yaml.safe_dump``, and valid specs
mutated by deleting or replacing keys.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_codexsafety.errors import SpecError
from pytest_codexsafety.spec import load_hazard_text
from pytest_codexsafety.specmodel import HazardSpec
from test_spec import KINDS, REFUSAL, VALID

# No example database: these run in a shared tree and must leave no files behind.
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

VALID_DATA: list[dict[str, Any]] = [yaml.safe_load(VALID), yaml.safe_load(REFUSAL)]


def check(text: str) -> list[HazardSpec | SpecError]:
    """Load ``text``; any exception but SpecError fails the test.  Returns the results."""
    try:
        results = load_hazard_text(text, "prop.hazard.yaml", KINDS)
    except SpecError as exc:
        assert exc.path == "prop.hazard.yaml"
        assert exc.line is None or exc.line >= 1
        str(exc)  # rendering must not fail either
        return []
    assert results, "a file that loads yields at least one entry"
    for result in results:
        assert isinstance(result, (HazardSpec, SpecError))
        if isinstance(result, SpecError):
            assert result.line is not None and result.line >= 1
            assert result.column is not None and result.column >= 1
            str(result)
    return results


# Pieces that make text look like YAML, so random text reaches deeper than the scanner.
YAML_BITS = st.sampled_from(
    [
        "\n", "  ", "\t", ": ", "- ", "---\n", "...\n", "[", "]", "{", "}", ",", "&a ", "*a", "!!str ",
        "!!int ", "!!python/object:os.system ", "!x ", "? ", "|\n  ", ">\n  ", "'", '"', "#", "%YAML 1.1\n",
        "id", "probe", "kind", "static", "samples", "threshold", "max_rate", "0", "-1", "1e400", ".nan",
        "~", "null", "yes", "2024-13-45", "0x1F", "\x00", "\ufeff", "\u2028", "\ud800", "<<", "=",
    ]
)
YAMLISH_TEXT = st.lists(st.one_of(YAML_BITS, st.text(max_size=8)), max_size=40).map("".join)


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    check(text)


@FAST
@given(YAMLISH_TEXT)
def test_yaml_like_text(text: str) -> None:
    check(text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["static", "refusal", "critical", "I", "technical", "acceptable", "\\beval\\(", "(("]),
)
KEYS = st.one_of(
    st.sampled_from(
        ["id", "title", "description", "category", "severity", "references", "tags", "probe", "threshold",
         "kind", "prompts", "samples", "params", "rules", "pattern", "ast_call", "max_rate", "max_acceptance"]
    ),
    st.text(max_size=10),
    st.integers(),
)
DATA = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=6),
    ),
    max_leaves=30,
)


@FAST
@given(st.lists(DATA, min_size=1, max_size=3))
def test_arbitrary_yaml_structures(documents: list[Any]) -> None:
    check(yaml.safe_dump_all(documents, allow_unicode=True))


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside ``data``."""
    found: list[tuple[Any, ...]] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found.append(prefix + (key,))
        found.extend(_paths(value, prefix + (key,)))
    return found


def _mutate(data: Any, path: tuple[Any, ...], action: str, replacement: Any) -> None:
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = replacement
    elif isinstance(parent, dict):  # rename the key: a misspelling
        parent[f"{last}x" if isinstance(last, str) else "zz"] = parent.pop(last)
    else:
        parent[last] = replacement


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    data = yaml.safe_load(yaml.safe_dump(draw(st.sampled_from(VALID_DATA))))  # a fresh deep copy
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["delete", "replace", "rename"]))
        _mutate(data, path, action, draw(DATA))
    return data


@FAST
@given(mutated_specs())
def test_mutated_valid_specs(data: Any) -> None:
    results = check(yaml.safe_dump(data, allow_unicode=True))
    # Whatever the mutation, a loaded spec still honours the basic invariants.
    for result in results:
        if isinstance(result, HazardSpec):
            assert result.probe.samples >= 1 and result.probe.prompts
            assert result.threshold.max_acceptance is not None or result.threshold.max_rate is not None


def test_valid_specs_round_trip_through_safe_dump() -> None:
    # The mutation test starts from dumped valid data; make sure that start is valid.
    for data in VALID_DATA:
        [spec] = check(yaml.safe_dump(data))
        assert isinstance(spec, HazardSpec)
