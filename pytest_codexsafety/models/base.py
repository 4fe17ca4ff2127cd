"""The contract every model adapter fulfils.  No pytest import."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable


@dataclass(frozen=True)
class CompletionRequest:
    """One sample asked of a model.

    ``params`` are the spec's generation parameters (temperature, max_tokens, ...) plus
    ``sample_index``, so a deterministic adapter can still vary per sample.
    """

    prompt: str
    params: Mapping[str, Any]
    sample_index: int
    hazard_id: str = ""
    prompt_index: int = 0

    def content_key(self) -> str:
        """Hash of what determines the completion: prompt, params and sample index.

        The hazard id is deliberately left out: two hazards asking the same thing may share
        a recorded completion.
        """
        payload = json.dumps(
            {"prompt": self.prompt, "params": dict(self.params), "sample_index": self.sample_index},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Completion:
    """What a model returned for one request."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ModelAdapter(Protocol):
    """A model the hazard items sample from.

    ``name`` is the spec the user gave (``python:pkg.mod:fn``); ``describe()`` is what the
    risk register records about it and must never contain credentials.
    """

    name: str

    def describe(self) -> Mapping[str, Any]:
        ...

    def complete(self, request: CompletionRequest) -> Completion:
        """Return one completion, or raise :class:`~pytest_codexsafety.errors.ModelError`."""
        ...

    def close(self) -> None:
        ...
