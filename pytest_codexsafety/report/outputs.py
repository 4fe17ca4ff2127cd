"""Report files besides the register: which renderer makes which file.  Pure: no pytest.

Each renderer turns the finished register (a plain dict) into the file's text, so every
report shows the numbers the register holds and nothing else.  Renderers are imported
only when their file is asked for.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["FORMATS", "OutputFormat", "write_output"]


@dataclass(frozen=True)
class OutputFormat:
    option: str  # the command-line option that asks for it
    module: str  # pytest_codexsafety.report.<module>
    function: str  # renders the register: (register) -> str


FORMATS: Mapping[str, OutputFormat] = {
    "html": OutputFormat("--hazard-html", "html", "render_html"),
    "markdown": OutputFormat("--hazard-md", "markdown", "render_markdown"),
    "sarif": OutputFormat("--hazard-sarif", "sarif", "render_sarif"),
}


def _renderer(name: str) -> Callable[[Mapping[str, Any]], str]:
    fmt = FORMATS[name]
    module = importlib.import_module(f"{__package__}.{fmt.module}")
    render: Callable[[Mapping[str, Any]], str] = getattr(module, fmt.function)
    return render


def write_output(name: str, path: Path, register: Mapping[str, Any]) -> None:
    """Render and write atomically (a reader never sees half a report).  Raises OSError
    or the renderer's exception; the caller decides what a failure does to the gate."""
    text = _renderer(name)(json.loads(json.dumps(register, default=str)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
