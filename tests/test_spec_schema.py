"""The shipped JSON Schema agrees with the loader on a corpus of hazard documents.

Every valid document is accepted by both, every invalid one rejected by both.  A few
rules only the loader can check (a regex compiles, a probe kind is registered, ids are
unique in a file, no YAML aliases ...) are listed in LOADER_ONLY, so the gap is explicit.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codexsafety.errors import SpecError
from pytest_codexsafety.probes.base import ProbeKind
from pytest_codexsafety.spec import hazard_schema, load_hazard_text
from test_spec import KINDS, REFUSAL, VALID

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ROOT / "pytest_codexsafety" / "schema" / "hazard.schema.json"
DOCS = ROOT / "docs" / "hazard.schema.json"

MINIMAL = textwrap.dedent(
    """\
    id: x
    title: t
    description: d
    category: economic
    severity: negligible
    probe:
      kind: refusal
      prompts: [p]
      samples: 1
    threshold:
      max_acceptance: acceptable
    """
)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def drop(text: str, needle: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if needle not in line)


EXEC_DOC = edit(MINIMAL, "kind: refusal\n  prompts: [p]\n  samples: 1\n", (
    "kind: exec\n  prompts: ['Write add(a, b)']\n  samples: 1\n  entry_point: add\n"
    "  tests:\n    - {args: [1, 2], expected: 3}\n  hazardous_when: fails\n"
    "  limits: {timeout_s: 2, memory_mb: 256}\n"))

VALID_DOCS: dict[str, str] = {
    "static-full": VALID,
    "exec": EXEC_DOC,
    "refusal": REFUSAL,
    "minimal": MINIMAL,
    "roman-severity": edit(MINIMAL, "severity: negligible", "severity: III"),
    "each-severity-name": edit(MINIMAL, "severity: negligible", "severity: marginal"),
    "rate-only": edit(MINIMAL, "max_acceptance: acceptable", "max_rate: 1"),
    "tiny-rate": edit(MINIMAL, "max_acceptance: acceptable", "max_rate: 0.0001"),
    "both-thresholds": edit(MINIMAL, "max_acceptance: acceptable", "max_acceptance: undesirable\n  max_rate: 0.5"),
    "empty-lists": MINIMAL + "references: []\ntags: []\n",
    "tags-with-underscores": MINIMAL + "tags: [_private, Security2, red_team]\n",
    "params-nested-json": edit(MINIMAL, "samples: 1", 'samples: 1\n  params: {a: [1, 2.5, null, true, "s"], b: {c: {}}, seed: -3}'),
    "params-empty": edit(MINIMAL, "samples: 1", "samples: 1\n  params: {}"),
    "unicode-text": edit(MINIMAL, "title: t", "title: Génère du code dangereux ✓"),
    "dotted-id": edit(MINIMAL, "id: x", "id: A.b_c-9"),
    "rule-with-description": edit(VALID, "ast_call: exec", "ast_call: os.system\n      description: shell out"),
    "many-samples": edit(MINIMAL, "samples: 1", "samples: 100000"),
    "quoted-number-string-title": edit(MINIMAL, "title: t", "title: '123'"),
}

# Invalid for both the loader and the schema.
INVALID_DOCS: dict[str, str] = {
    **{f"missing-{key}": drop(MINIMAL, f"{key}:") for key in ("id", "title", "description", "category", "severity")},
    "missing-probe": MINIMAL.split("probe:")[0] + "threshold:\n  max_acceptance: acceptable\n",
    "missing-threshold": MINIMAL.split("threshold:")[0],
    "unknown-top-key": MINIMAL + "severty: critical\n",
    "id-not-string": edit(MINIMAL, "id: x", "id: 12"),
    "id-bad-pattern": edit(MINIMAL, "id: x", "id: 'has space'"),
    "id-leading-digit": edit(MINIMAL, "id: x", "id: 9lives"),
    "blank-title": edit(MINIMAL, "title: t", "title: '  '"),
    "title-list": edit(MINIMAL, "title: t", "title: [t]"),
    "bad-category": edit(MINIMAL, "category: economic", "category: financial"),
    "bad-severity": edit(MINIMAL, "severity: negligible", "severity: V"),
    "severity-number": edit(MINIMAL, "severity: negligible", "severity: 2"),
    "references-string": MINIMAL + "references: CWE-95\n",
    "references-int-item": MINIMAL + "references: [95]\n",
    "tag-with-dash": MINIMAL + "tags: [red-team]\n",
    "tag-keyword": MINIMAL + "tags: [class]\n",
    "tag-leading-digit": MINIMAL + "tags: [1st]\n",
    "probe-list": edit(MINIMAL, "probe:\n  kind: refusal\n  prompts: [p]\n  samples: 1\n", "probe: [refusal]\n"),
    "probe-missing-kind": drop(MINIMAL, "kind: refusal"),
    "probe-missing-prompts": drop(MINIMAL, "prompts:"),
    "probe-missing-samples": drop(MINIMAL, "samples:"),
    "kind-not-string": edit(MINIMAL, "kind: refusal", "kind: 3"),
    "empty-prompts": edit(MINIMAL, "prompts: [p]", "prompts: []"),
    "prompts-string": edit(MINIMAL, "prompts: [p]", "prompts: p"),
    "prompt-number": edit(MINIMAL, "prompts: [p]", "prompts: [p, 7]"),
    "prompt-blank": edit(MINIMAL, "prompts: [p]", "prompts: ['']"),
    "samples-zero": edit(MINIMAL, "samples: 1", "samples: 0"),
    "samples-negative": edit(MINIMAL, "samples: 1", "samples: -5"),
    "samples-string": edit(MINIMAL, "samples: 1", "samples: '10'"),
    "samples-bool": edit(MINIMAL, "samples: 1", "samples: true"),
    "samples-fraction": edit(MINIMAL, "samples: 1", "samples: 1.5"),
    "params-list": edit(MINIMAL, "samples: 1", "samples: 1\n  params: [1]"),
    "params-null": edit(MINIMAL, "samples: 1", "samples: 1\n  params:"),
    "refusal-with-rules": edit(MINIMAL, "samples: 1", "samples: 1\n  rules: [{id: r, pattern: x}]"),
    "unknown-probe-key": edit(MINIMAL, "samples: 1", "samples: 1\n  temperature: 0.5"),
    "static-without-rules": drop(drop(drop(drop(drop(VALID, "rules:"), "id: eval-call"), "pattern:"), "id: exec-call"), "ast_call:"),
    "static-empty-rules": edit(VALID, "rules:\n    - id: eval-call\n      pattern: '\\beval\\s*\\('\n    - id: exec-call\n      ast_call: exec\n", "rules: []\n"),
    "static-misspelt-key": edit(VALID, "rules:", "rulez:"),
    "rule-not-mapping": edit(VALID, "    - id: exec-call\n      ast_call: exec\n", "    - exec\n"),
    "rule-missing-id": drop(VALID, "id: exec-call").replace("      ast_call: exec", "    - ast_call: exec"),
    "rule-both": edit(VALID, "ast_call: exec", "ast_call: exec\n      pattern: exec"),
    "rule-neither": edit(VALID, "ast_call: exec", "description: no matcher"),
    "rule-unknown-key": edit(VALID, "ast_call: exec", "ast_call: exec\n      severity: high"),
    "rule-call-with-parens": edit(VALID, "ast_call: exec", "ast_call: exec()"),
    "rule-call-keyword": edit(VALID, "ast_call: exec", "ast_call: os.import"),
    "rule-empty-pattern": edit(VALID, "pattern: '\\beval\\s*\\('", "pattern: ''"),
    "threshold-empty": edit(MINIMAL, "threshold:\n  max_acceptance: acceptable\n", "threshold: {}\n"),
    "threshold-null": edit(MINIMAL, "threshold:\n  max_acceptance: acceptable\n", "threshold:\n"),
    "threshold-unknown-key": edit(MINIMAL, "max_acceptance: acceptable", "max_acceptance: acceptable\n  min_rate: 0.1"),
    "bad-acceptance": edit(MINIMAL, "max_acceptance: acceptable", "max_acceptance: fine"),
    "rate-zero": edit(MINIMAL, "max_acceptance: acceptable", "max_rate: 0"),
    "rate-negative": edit(MINIMAL, "max_acceptance: acceptable", "max_rate: -0.1"),
    "rate-above-one": edit(MINIMAL, "max_acceptance: acceptable", "max_rate: 1.01"),
    "rate-string": edit(MINIMAL, "max_acceptance: acceptable", "max_rate: '0.1'"),
    "rate-bool": edit(MINIMAL, "max_acceptance: acceptable", "max_rate: true"),
    "exec-no-hazardous-when": EXEC_DOC.replace("  hazardous_when: fails\n", ""),
    "exec-expected-and-raises": EXEC_DOC.replace(
        "expected: 3}", "expected: 3, expected_raises: ValueError}"),
    "exec-unknown-key": EXEC_DOC.replace("  entry_point: add", "  entry_point: add\n  retries: 2"),
}

# Rejected by the loader only: JSON Schema cannot express these (or cannot see YAML).
LOADER_ONLY: dict[str, str] = {
    "regex-does-not-compile": edit(VALID, "'\\beval\\s*\\('", "'eval('"),
    "unregistered-kind": edit(MINIMAL, "kind: refusal", "kind: fuzz"),
    "samples-integral-float": edit(MINIMAL, "samples: 1", "samples: 1.0"),  # an integer to JSON Schema
    "params-nan": edit(MINIMAL, "samples: 1", "samples: 1\n  params: {t: .nan}"),
    "duplicate-key": MINIMAL + "title: again\n",  # safe_load keeps the last one silently
}


def kind_sets() -> list[Any]:
    from pytest_codexsafety.probes.exec import EXEC

    # exec has no test-local stand-in: the real kind joins the test kinds.
    sets = [pytest.param({**KINDS, "exec": EXEC}, id="test-kinds")]
    try:
        from pytest_codexsafety.probes.refusal import REFUSAL as REAL_REFUSAL
        from pytest_codexsafety.probes.static import STATIC as REAL_STATIC
    except ImportError:
        return sets
    sets.append(pytest.param({"static": REAL_STATIC, "refusal": REAL_REFUSAL, "exec": EXEC},
                             id="builtin-kinds"))
    return sets


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = hazard_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def loader_accepts(text: str, kinds: Mapping[str, ProbeKind]) -> bool:
    try:
        results = load_hazard_text(text, "corpus.hazard.yaml", kinds)
    except SpecError:
        return False
    return all(not isinstance(r, SpecError) for r in results)


def schema_accepts(text: str, validator: jsonschema.Draft202012Validator) -> bool:
    return bool(validator.is_valid(yaml.safe_load(text)))


@pytest.mark.parametrize("kinds", kind_sets())
@pytest.mark.parametrize("name", sorted(VALID_DOCS))
def test_valid_corpus_accepted_by_both(
    name: str, kinds: Mapping[str, ProbeKind], validator: jsonschema.Draft202012Validator
) -> None:
    text = VALID_DOCS[name]
    assert loader_accepts(text, kinds), load_hazard_text(text, "corpus.hazard.yaml", kinds)
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(text))]
    assert not errors


@pytest.mark.parametrize("kinds", kind_sets())
@pytest.mark.parametrize("name", sorted(INVALID_DOCS))
def test_invalid_corpus_rejected_by_both(
    name: str, kinds: Mapping[str, ProbeKind], validator: jsonschema.Draft202012Validator
) -> None:
    text = INVALID_DOCS[name]
    assert not loader_accepts(text, kinds)
    assert not schema_accepts(text, validator)


@pytest.mark.parametrize("kinds", kind_sets())
@pytest.mark.parametrize("name", sorted(LOADER_ONLY))
def test_loader_only_rules(
    name: str, kinds: Mapping[str, ProbeKind], validator: jsonschema.Draft202012Validator
) -> None:
    text = LOADER_ONLY[name]
    assert not loader_accepts(text, kinds)
    # If the schema learns to reject one of these, move it to INVALID_DOCS.
    assert schema_accepts(text, validator)


def test_corpus_is_not_trivial() -> None:
    assert len(VALID_DOCS) >= 10 and len(INVALID_DOCS) >= 40
    assert not set(VALID_DOCS) & set(INVALID_DOCS)


def test_docs_copy_is_identical_to_the_packaged_schema() -> None:
    assert DOCS.read_bytes() == PACKAGED.read_bytes(), "copy pytest_codexsafety/schema/hazard.schema.json to docs/"


def test_packaged_schema_is_what_hazard_schema_returns() -> None:
    assert hazard_schema() == json.loads(PACKAGED.read_text("utf-8"))


def test_schema_lists_exactly_the_loaders_keys() -> None:
    from pytest_codexsafety.spec import COMMON_PROBE_KEYS, TOP_LEVEL_KEYS

    schema = hazard_schema()
    assert tuple(schema["properties"]) == TOP_LEVEL_KEYS
    assert tuple(schema["$defs"]["probe"]["properties"]) == COMMON_PROBE_KEYS
    for branch in schema["$defs"]["probe"]["allOf"]:
        assert set(COMMON_PROBE_KEYS) <= set(branch["then"]["properties"])


def test_static_rule_schema_agrees_with_the_builtin_kind() -> None:
    static = pytest.importorskip("pytest_codexsafety.probes.static")
    theirs = static.STATIC.options_schema()["rules"]
    ours = hazard_schema()["$defs"]
    [branch] = [b for b in ours["probe"]["allOf"] if b["if"]["properties"]["kind"]["const"] == "static"]
    assert branch["then"]["properties"]["rules"]["minItems"] == theirs["minItems"]
    rule, their_rule = ours["rule"], theirs["items"]
    assert set(rule["properties"]) == set(their_rule["properties"])
    assert rule["required"] == their_rule["required"]
    assert rule["oneOf"] == their_rule["oneOf"]
    assert rule["additionalProperties"] is their_rule["additionalProperties"] is False


# -- agreement on generated documents -----------------------------------------
# Each field draws from a small pool of valid and invalid values, so many documents are
# valid and many fail in exactly one place.  Loader-only rules (see LOADER_ONLY) are
# kept out of the pools.

TEXTS = st.sampled_from(["t", "Génère du code ✓", "  ", "", 5, ["x"], None])
RULES = st.sampled_from(
    [
        [],
        [{"id": "r", "pattern": "x"}],
        [{"id": "r", "ast_call": "os.system"}, {"id": "s", "pattern": "\\beval\\("}],
        [{"id": "r", "pattern": "x", "description": "d"}],
        [{"id": "r"}],
        [{"id": "r", "pattern": "x", "ast_call": "y"}],
        [{"pattern": "x"}],
        [{"id": " ", "pattern": "x"}],
        [{"id": "r", "ast_call": "exec()"}],
        [{"id": "r", "ast_call": "os.import"}],
        [{"id": "r", "pattern": ""}],
        [{"id": "r", "pattern": "x", "foo": 1}],
        ["r"],
        "r",
    ]
)
PROBES = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["static", "refusal", 3, None]),
        "prompts": st.sampled_from([["p"], ["a", "b"], [], "p", ["p", 7], [""], None]),
        "samples": st.sampled_from([1, 10, 0, -1, "10", True, 1.5, None]),
        "params": st.sampled_from([{}, {"t": 0.5, "n": [1, None, "s", {"x": True}]}, [1], None, "x"]),
        "rules": RULES,
        "temperature": st.just(0.5),
    },
)
RATES = st.sampled_from([0.1, 1, 0.0001, 0, -0.1, 1.01, "0.1", True, None])
ACCEPTANCES = st.sampled_from(["unacceptable", "undesirable", "acceptable_with_review", "acceptable", "fine", 1])
THRESHOLDS = st.one_of(
    st.fixed_dictionaries({}, optional={"max_acceptance": ACCEPTANCES, "max_rate": RATES, "min_rate": st.just(0.1)}),
    st.sampled_from([None, [0.1], "acceptable"]),
)
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["SEC-1", "a.b_c-d", "1bad", "has space", 12, "", None]),
        "title": TEXTS,
        "description": TEXTS,
        "category": st.sampled_from(["technical", "social", "political", "economic", "financial", "Technical", 1]),
        "severity": st.sampled_from(["catastrophic", "critical", "marginal", "negligible", "I", "II", "III", "IV", "V", 2]),
        "references": st.sampled_from([[], ["CWE-95"], "CWE-95", [95], [""], None]),
        "tags": st.sampled_from([[], ["security"], ["red-team"], ["class"], ["_x1"], ["1st"], "security", [None]]),
        "probe": st.one_of(PROBES, st.sampled_from([None, ["static"]])),
        "threshold": THRESHOLDS,
        "severty": st.just("critical"),
    },
)
# Mostly complete documents, so that valid ones are common too.
COMPLETE = st.fixed_dictionaries(
    {
        "id": st.just("SEC-1"),
        "title": st.just("t"),
        "description": st.just("d"),
        "category": st.just("technical"),
        "severity": st.just("II"),
        "probe": st.fixed_dictionaries(
            {"kind": st.sampled_from(["static", "refusal"]), "prompts": st.just(["p"]), "samples": st.just(3)},
            optional={"rules": RULES, "params": st.just({"t": 1})},
        ),
        "threshold": st.just({"max_rate": 0.2}),
    }
)


MERGED = st.tuples(COMPLETE, DOCUMENTS).map(lambda pair: {**pair[0], **pair[1]})


# No example database: these run in a shared tree and must leave no files behind.
@settings(max_examples=300, deadline=None, database=None)
@given(document=st.one_of(COMPLETE, MERGED, DOCUMENTS))
def test_loader_and_schema_agree_on_generated_documents(
    validator: jsonschema.Draft202012Validator, document: dict[str, Any]
) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    loader = loader_accepts(text, KINDS)
    schema = schema_accepts(text, validator)
    assert loader == schema, (text, load_hazard_text(text, "generated.hazard.yaml", KINDS))
