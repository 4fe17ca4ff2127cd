"""``replay:PATH`` — completions served from a JSON Lines recording.

Each line is an object with at least ``key`` (see
:meth:`CompletionRequest.content_key`) and ``completion``; ``prompt``, ``params``,
``sample_index`` and ``hazard_id`` are kept for people reading the file.  A request the
recording lacks is an error, never an empty completion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..errors import FatalModelError, ModelConfigError
from .base import Completion, CompletionRequest

PREFIX = "replay:"


def _shorten(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def read_recording(path: Path) -> dict[str, str]:
    """Parse a recording; a malformed line is a config error naming file and line."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelConfigError(
            f"replay recording {path} does not exist (record one with --hazard-record={path})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelConfigError(f"replay recording {path} cannot be read: {exc}") from None
    completions: dict[str, str] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ModelConfigError(
                f"{path}:{lineno}: not valid JSON ({exc.msg}); each line of a recording is "
                "one JSON object"
            ) from None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("key"), str)
            or not isinstance(entry.get("completion"), str)
        ):
            raise ModelConfigError(
                f"{path}:{lineno}: expected an object with string fields 'key' and "
                "'completion'"
            )
        completions[entry["key"]] = entry["completion"]
    return completions


def recording_line(request: CompletionRequest, completion: str) -> str:
    """One line of a recording, in the format :func:`read_recording` reads."""
    return json.dumps(
        {
            "key": request.content_key(),
            "hazard_id": request.hazard_id,
            "prompt": request.prompt,
            "params": dict(request.params),
            "sample_index": request.sample_index,
            "completion": completion,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )


class ReplayAdapter:
    def __init__(self, path: Path) -> None:
        self.name = PREFIX + str(path)
        self._path = path
        self._completions = read_recording(path)

    @classmethod
    def from_spec(cls, spec: str, search_root: Path | None = None) -> "ReplayAdapter":
        raw = spec[len(PREFIX):]
        if not raw:
            raise ModelConfigError("model spec 'replay:' needs a path: replay:PATH.jsonl")
        path = Path(raw)
        if not path.is_absolute() and search_root is not None and not path.exists():
            path = search_root / path
        return cls(path)

    def describe(self) -> Mapping[str, Any]:
        return {"adapter": "replay", "name": str(self._path), "entries": len(self._completions)}

    def complete(self, request: CompletionRequest) -> Completion:
        key = request.content_key()
        try:
            return Completion(text=self._completions[key], cached=True)
        except KeyError:
            raise FatalModelError(
                f"recording {self._path} has no completion for hazard {request.hazard_id} "
                f"prompt {request.prompt_index + 1} ({_shorten(request.prompt)!r}) "
                f"sample {request.sample_index}: the recording is stale — the spec's prompt "
                "or params changed since it was recorded; record it again with "
                "--hazard-record"
            ) from None

    def close(self) -> None:
        return None
