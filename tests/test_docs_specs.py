"""docs/writing-specs.md is generated from the schema and current; the docs index links
every page, and relative links between the pages resolve."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from pytest_codexsafety.spec import hazard_schema

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_spec_docs", ROOT / "tools" / "gen_spec_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writing_specs_md_is_generated_from_the_schema() -> None:
    text = generator().render()
    assert (DOCS / "writing-specs.md").read_text("utf-8") == text, "run: python tools/gen_spec_docs.py"


def keys(schema: Any) -> Iterator[str]:
    """Every property name anywhere in the schema."""
    if isinstance(schema, dict):
        for key, value in schema.get("properties", {}).items():
            yield key
            yield from keys(value)
        for key, value in schema.items():
            if key != "properties":
                yield from keys(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from keys(value)


def test_every_field_of_the_schema_is_documented() -> None:
    text = (DOCS / "writing-specs.md").read_text("utf-8")
    schema = hazard_schema()
    missing = sorted({k for k in keys(schema) if f"| `{k}` |" not in text})
    assert not missing
    for branch in schema["$defs"]["probe"]["allOf"]:
        assert f"### kind `{branch['if']['properties']['kind']['const']}`" in text


def test_the_index_links_every_page() -> None:
    index = (DOCS / "README.md").read_text("utf-8")
    linked = set(LINK.findall(index))
    pages = {p.name for p in DOCS.iterdir() if p.suffix in (".md", ".json") and p.name != "README.md"}
    assert pages <= {target.split("#")[0] for target in linked}, pages - linked


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_relative_links_between_pages_resolve() -> None:
    for page in sorted(DOCS.glob("*.md")):
        for target in LINK.findall(page.read_text("utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path) if path else page
            assert dest.exists(), f"{page.name}: broken link {target}"
            if anchor and dest.suffix == ".md":
                headings = [slug(h) for h in re.findall(r"^#+ (.+)$", dest.read_text("utf-8"), re.MULTILINE)]
                assert anchor in headings, f"{page.name}: no heading for #{anchor} in {dest.name}"


def test_ci_recipes_record_replay_gate_and_keep_artifacts() -> None:
    text = (DOCS / "ci.md").read_text("utf-8")
    for needle in ("## GitHub Actions", "## GitLab CI", "--hazard-record=", "--hazard-model=replay:",
                   "--hazard-md=", "--hazard-sarif=", "--hazard-report=", "upload-artifact", "artifacts:",
                   "when: always", "schedule", "needs: gate", "needs: [hazard-gate]", "GITHUB_STEP_SUMMARY"):
        assert needle in text, needle
