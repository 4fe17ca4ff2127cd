"""The built-in model schemes and the default model.  No pytest import.

``python:`` and ``replay:`` are cheap and local; ``gguf:``, ``openai:``,
``openai-completions:`` and ``command:`` cost time or money and are cached.  SDKs and
llama.cpp are imported only when their scheme is used.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelConfigError
from .base import ModelAdapter
from .command import PREFIX as COMMAND_PREFIX
from .command import command_adapter_from_spec
from .embedded import embedded_weights_path
from .gguf import SPEC_PREFIX as GGUF_PREFIX
from .gguf import gguf_adapter_from_spec, make_embedded_adapter
from .openai_compat import SPEC_PREFIXES as OPENAI_PREFIXES
from .openai_compat import OpenAIOptions, openai_adapter_from_spec
from .python_fn import PREFIX as PYTHON_PREFIX
from .python_fn import PythonFunctionAdapter
from .replay import PREFIX as REPLAY_PREFIX
from .replay import ReplayAdapter

# Schemes whose completions are free to recompute: caching them would only serve stale
# answers after the user edits their function or recording.
UNCACHED_PREFIXES = (PYTHON_PREFIX, REPLAY_PREFIX)
KNOWN_SCHEMES = (
    "python:MODULE:FUNCTION", "replay:PATH.jsonl", "gguf:PATH", "openai:MODEL",
    "openai-completions:MODEL", "command:EXECUTABLE [ARGS]",
)


@dataclass(frozen=True)
class ModelSettings:
    """Model-access settings from the ini file (validated by the adapters)."""

    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    openai_base_url: str | None = None
    openai_api_key_env: str = "OPENAI_API_KEY"
    openai_api: str = "chat"

    def openai_options(self) -> OpenAIOptions:
        return OpenAIOptions(
            base_url=self.openai_base_url,
            api_key_env=self.openai_api_key_env,
            api="completions" if self.openai_api == "completions" else "chat",
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
        )


def builtin_adapter(spec: str, settings: ModelSettings, search_root: Path | None) -> ModelAdapter | None:
    """The adapter for a built-in scheme, or None when ``spec`` is not one of ours."""
    if spec.startswith(PYTHON_PREFIX):
        return PythonFunctionAdapter.from_spec(spec, search_root)
    if spec.startswith(REPLAY_PREFIX):
        return ReplayAdapter.from_spec(spec, search_root)
    if spec.startswith(GGUF_PREFIX):
        return gguf_adapter_from_spec(spec)
    if spec.startswith(OPENAI_PREFIXES):
        return openai_adapter_from_spec(spec, settings.openai_options())
    if spec.startswith(COMMAND_PREFIX):
        # The endpoint's key variable is stripped from the child too, whatever its name.
        return command_adapter_from_spec(
            spec, timeout_s=max(settings.timeout_s, 1.0),
            extra_secret_names=[settings.openai_api_key_env],
        )
    return None


def is_cached_scheme(spec: str) -> bool:
    return not spec.startswith(UNCACHED_PREFIXES)


def embedded_model_available() -> bool:
    """True when both the weights and llama.cpp's bindings are installed."""
    try:
        embedded_weights_path()
    except ModelConfigError:
        return False
    return importlib.util.find_spec("llama_cpp") is not None


def default_adapter() -> ModelAdapter | None:
    return make_embedded_adapter() if embedded_model_available() else None
