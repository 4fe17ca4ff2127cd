"""``openai:MODEL`` — any server speaking the OpenAI API, through the official SDK.  No pytest import.

Hosted OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio and TGI all serve
``/v1/chat/completions`` (the default here) and most serve the older ``/v1/completions``
(``openai-completions:MODEL`` or ``OpenAIOptions(api="completions")``).

Design points, each for a reason:

* The SDK's own retries are switched off (``max_retries=0``) and this module retries
  instead: 429, 408, 409, 5xx, connection errors, timeouts and unusable 200 answers
  (malformed JSON, no choices, an empty message).  Then the number of attempts, the
  backoff and the honoured ``Retry-After`` are ours, documented and testable, and a
  200 with nothing in it is retried like any other fault instead of being handed to a
  probe.  A sample that never succeeds is a :class:`ModelError` quoting the last error,
  never an empty completion that could be counted as safe.
* The API key is read from an environment variable whose *name* is configured, so it
  never sits in a file.  It is held in a wrapper whose ``repr`` is redacted, left out
  of :meth:`OpenAIAdapter.describe` and ``repr``, and scrubbed from every error message
  (a misbehaving server may echo it back).  Errors are raised ``from None`` so the SDK's
  unscrubbed exception is not printed under ours.
* The SDK is imported lazily (it is an optional extra) and the client is created on
  first use, once, under a lock: the runner calls :meth:`OpenAIAdapter.complete` from up
  to ``max_concurrency`` threads and the SDK's client is safe to share between them.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib
import math
import os
import random
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping
from urllib.parse import urlsplit

from ..errors import FatalModelError, ModelConfigError, ModelError
from .base import Completion, CompletionRequest

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

SPEC_PREFIX = "openai:"
COMPLETIONS_SPEC_PREFIX = "openai-completions:"
#: Every ``--hazard-model`` prefix this module builds adapters for.
SPEC_PREFIXES = (SPEC_PREFIX, COMPLETIONS_SPEC_PREFIX)

OPENAI_EXTRA_INSTALL_COMMAND = "pip install 'pytest-codexsafety[openai]'"
#: Where the SDK sends requests when neither the options nor OPENAI_BASE_URL say.
DEFAULT_BASE_URL = "https://api.openai.com/v1"
BASE_URL_ENV = "OPENAI_BASE_URL"

#: Backoff before retry ``k`` (0-based) is ``min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**k)``,
#: scaled by a random factor in [0.5, 1) so threads that failed together do not retry
#: in lockstep.  With the default 5 retries that is at most 0.5+1+2+4+8 = 15.5 s.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0
#: A server's ``Retry-After`` is obeyed up to this long; beyond it a test run would
#: look hung, and the retry budget still ends the sample.
RETRY_AFTER_CAP_S = 60.0

# Keys shorter than this are placeholders ("none", "ollama") that local servers accept;
# scrubbing them would mangle every message containing those letters.
_MIN_REDACTED_KEY_LENGTH = 8
_REDACTED = "[redacted]"
# Longest quoted server error: a proxy's HTML error page would drown the message.
_MAX_ERROR_CHARS = 500
# Seeds stay within a signed 32-bit int: some servers (llama.cpp) store them in one and
# read -1 as "random".
_SEED_MODULUS = 2**31 - 1
# Statuses worth another attempt (as the SDK's own policy): timeout, conflict, rate
# limit and every server-side error.
_RETRY_STATUSES = frozenset({408, 409, 429})
# Statuses that no retry and no other prompt will fix: bad key, no access, wrong model
# or base URL.  They stop the hazard at once instead of failing every sample slowly.
_FATAL_STATUSES = {
    401: "check the key in the environment variable {env}",
    403: "the key in {env} has no access to this model or endpoint",
    404: "check the model name and the base URL (most servers serve the API under /v1)",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

ApiKind = Literal["chat", "completions"]
_API_KINDS: tuple[ApiKind, ...] = ("chat", "completions")


@dataclass(frozen=True)
class OpenAIOptions:
    """How to reach an OpenAI-compatible endpoint (ini keys in ``docs/models-remote.md``).

    ``api_key_env`` names the environment variable holding the key; the key itself is
    never part of the configuration.  ``system_prompt`` (chat API only) is sent as a
    system message before each prompt; ``None`` sends the prompt alone.
    """

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api: ApiKind = "chat"
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        # Checked here so a bad ini value fails at configuration time with its key name.
        if self.api not in _API_KINDS:
            raise ModelConfigError(
                f"hazard_openai_api must be 'chat' or 'completions', got {self.api!r}"
            )
        if not _ENV_NAME.match(self.api_key_env or ""):
            # The value is not echoed: someone may have pasted the key itself here.
            raise ModelConfigError(
                "hazard_openai_api_key_env must be the NAME of an environment variable "
                "(letters, digits, underscores), such as OPENAI_API_KEY; never the key itself"
            )
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ModelConfigError(f"hazard_concurrency must be an integer >= 1, got {self.concurrency!r}")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ModelConfigError(f"hazard_max_retries must be an integer >= 0, got {self.max_retries!r}")
        if (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, (int, float))
            or not math.isfinite(self.timeout_s)
            or self.timeout_s <= 0
        ):
            raise ModelConfigError(f"hazard_request_timeout must be a number of seconds > 0, got {self.timeout_s!r}")


class _Secret:
    """Holds the key so that no repr, vars() dump or --showlocals traceback prints it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


class _AttemptFailed(Exception):
    """One failed attempt: what to tell the user and whether another attempt may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.fatal = fatal


# --------------------------------------------------------------------------- helpers


def require_sdk() -> None:
    """Fail with the install command when the optional ``openai`` SDK is missing."""
    try:
        importlib.import_module("openai")
    except ImportError as exc:
        raise ModelConfigError(
            f"openai: models need the official OpenAI SDK, which is not importable "
            f"({type(exc).__name__}: {exc}). Install it with: {OPENAI_EXTRA_INSTALL_COMMAND}"
        ) from None


def safe_base_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: user, password, query and fragment dropped."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal needs its brackets back
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        raise ModelConfigError(f"OpenAI base URL {safe_base_url(url)!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelConfigError(
            f"OpenAI base URL {safe_base_url(url)!r} must be an http:// or https:// URL with a "
            "host, such as http://127.0.0.1:8000/v1"
        )


def sample_seed(base_seed: int, sample_index: int) -> int:
    """The seed sent for one sample: a stable hash of the run seed and the sample index.

    Samples of one prompt get unrelated seeds, so they differ at temperature > 0, while a
    rerun sends the same seeds (servers that honour ``seed`` then repeat themselves).
    """
    digest = hashlib.sha256(f"{base_seed}:{sample_index}".encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_MODULUS


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a response asks the client to wait, or ``None`` when it does not say.

    Reads ``retry-after-ms`` (OpenAI's), then ``Retry-After`` as seconds or an HTTP
    date.  ``headers`` must look names up case-insensitively (httpx headers do).
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(value, 0.0)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return max(value, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None  # unparseable: fall back to our own backoff
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _number(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelConfigError(f"generation parameter {key!r} must be a number, got {value!r}")
    return float(value)


def _integer(params: Mapping[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelConfigError(f"generation parameter {key!r} must be an integer, got {value!r}")
    return value


def _stop(params: Mapping[str, Any]) -> list[str] | None:
    value = params.get("stop")
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ModelConfigError(f"generation parameter 'stop' must be a string or list of strings, got {value!r}")


@dataclass(frozen=True)
class _Sampling:
    """The generation parameters one request sends; ``None`` leaves the server's default."""

    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: list[str] | None
    seed: int | None
    presence_penalty: float | None
    frequency_penalty: float | None

    def sent(self) -> dict[str, Any]:
        """The parameters actually set; the rest are left out so the server's defaults apply."""
        return {name: value for name, value in vars(self).items() if value is not None}

    @classmethod
    def from_request(cls, request: CompletionRequest) -> "_Sampling":
        params = request.params
        temperature = _number(params, "temperature")
        if temperature is not None and temperature < 0:
            raise ModelConfigError("generation parameter 'temperature' must be >= 0")
        max_tokens = _integer(params, "max_tokens")
        if max_tokens is not None and max_tokens < 1:
            raise ModelConfigError(f"generation parameter 'max_tokens' must be >= 1, got {max_tokens}")
        base_seed = _integer(params, "seed")
        return cls(
            temperature=temperature,
            top_p=_number(params, "top_p"),
            max_tokens=max_tokens,
            stop=_stop(params),
            seed=None if base_seed is None else sample_seed(base_seed, request.sample_index),
            presence_penalty=_number(params, "presence_penalty"),
            frequency_penalty=_number(params, "frequency_penalty"),
        )


# --------------------------------------------------------------------------- adapter


class OpenAIAdapter:
    """A :class:`~pytest_codexsafety.models.base.ModelAdapter` for an OpenAI-compatible API.

    Build it with :func:`openai_adapter_from_spec`.  ``sleep`` and ``jitter`` (a
    ``random()``-like function) are injectable so tests see every backoff without waiting.
    """

    def __init__(
        self,
        model: str,
        options: OpenAIOptions,
        *,
        api_key: str,
        base_url: str,
        name: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        retry_after_cap_s: float = RETRY_AFTER_CAP_S,
    ) -> None:
        self._key = _Secret(api_key)  # first statement: the bare key lives nowhere else
        self.model = model
        self.options = options
        self.name = name if name is not None else SPEC_PREFIX + model
        self.max_concurrency = options.concurrency
        self._base_url = base_url
        self._safe_base_url = safe_base_url(base_url)
        self._sleep = sleep
        self._jitter = jitter
        self._retry_after_cap_s = retry_after_cap_s
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None

    # ---- ModelAdapter

    def describe(self) -> Mapping[str, Any]:
        return {
            "adapter": "openai",
            "name": self.model,
            "base_url": self._safe_base_url,
            "api": self.options.api,
            # Part of what the model was asked, so part of what a result means.
            "system_prompt": self.options.system_prompt,
        }

    def complete(self, request: CompletionRequest) -> Completion:
        sampling = _Sampling.from_request(request)
        attempts = self.options.max_retries + 1
        last: _AttemptFailed | None = None
        for attempt in range(attempts):
            try:
                return self._attempt(request, sampling, attempt + 1)
            except _AttemptFailed as failure:
                last = failure
            if last.fatal:
                raise FatalModelError(f"{self.name}: {self._safe_base_url} refused the request: {last.message}")
            if not last.retryable:
                raise ModelError(f"{self.name}: {self._safe_base_url} rejected the request: {last.message}")
            if attempt + 1 < attempts:
                self._sleep(self._delay(attempt, last.retry_after))
        assert last is not None  # attempts >= 1
        raise ModelError(
            f"{self.name}: no usable answer from {self._safe_base_url} after {attempts} "
            f"attempt{'s' if attempts != 1 else ''}; last error: {last.message}"
        )

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        return (
            f"OpenAIAdapter(name={self.name!r}, base_url={self._safe_base_url!r}, "
            f"api={self.options.api!r})"
        )

    # ---- internals

    def _get_client(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                import openai

                try:
                    self._client = openai.OpenAI(
                        api_key=self._key.value,
                        base_url=self._base_url,
                        timeout=float(self.options.timeout_s),
                        max_retries=0,  # retries are ours: see the module docstring
                    )
                except openai.OpenAIError as exc:
                    raise ModelConfigError(
                        f"{self.name}: cannot create the OpenAI client: {self._redact(str(exc))}"
                    ) from None
            return self._client

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._retry_after_cap_s)
        backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**attempt)
        return backoff * (0.5 + 0.5 * self._jitter())

    def _attempt(self, request: CompletionRequest, sampling: _Sampling, attempt: int) -> Completion:
        client = self._get_client()
        try:
            if self.options.api == "chat":
                text, finish, usage = self._chat(client, request, sampling)
            else:
                text, finish, usage = self._legacy(client, request, sampling)
        except _AttemptFailed:
            raise
        except Exception as exc:
            raise self._classify(exc) from None
        return Completion(
            text=text,
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            metadata={"finish_reason": finish, "seed": sampling.seed, "attempts": attempt},
        )

    def _chat(self, client: openai.OpenAI, request: CompletionRequest,
              s: _Sampling) -> tuple[str, str | None, tuple[int | None, int | None]]:

        messages: list[ChatCompletionMessageParam] = []
        if self.options.system_prompt:
            messages.append({"role": "system", "content": self.options.system_prompt})
        messages.append({"role": "user", "content": request.prompt})
        response = client.chat.completions.create(
            model=self.model,
            messages=messages,
            n=1,
            **s.sent(),
        )
        choices = getattr(response, "choices", None)
        if not choices:
            raise _AttemptFailed("the response has no choices", retryable=True)
        choice = choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str) or not text.strip():
            # A structured refusal is an answer (the refusal probe wants it), not a fault.
            refusal = getattr(message, "refusal", None)
            if isinstance(refusal, str) and refusal.strip():
                text = refusal
            else:
                raise _AttemptFailed(
                    f"the response's message is empty (finish_reason={getattr(choice, 'finish_reason', None)!r})",
                    retryable=True,
                )
        return text, getattr(choice, "finish_reason", None), _usage(response)

    def _legacy(self, client: openai.OpenAI, request: CompletionRequest,
                s: _Sampling) -> tuple[str, str | None, tuple[int | None, int | None]]:

        response = client.completions.create(
            model=self.model,
            prompt=request.prompt,
            n=1,
            **s.sent(),
        )
        choices = getattr(response, "choices", None)
        if not choices:
            raise _AttemptFailed("the response has no choices", retryable=True)
        choice = choices[0]
        text = getattr(choice, "text", None)
        if not isinstance(text, str) or not text.strip():
            raise _AttemptFailed(
                f"the response's text is empty (finish_reason={getattr(choice, 'finish_reason', None)!r})",
                retryable=True,
            )
        return text, getattr(choice, "finish_reason", None), _usage(response)

    def _classify(self, exc: Exception) -> _AttemptFailed:
        """Turn whatever the SDK raised into a scrubbed, classified attempt failure."""
        import openai

        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            text = self._redact(f"HTTP {status} ({type(exc).__name__}): {_body_message(exc)}")
            code = getattr(exc, "code", None)
            if status in _FATAL_STATUSES or code == "insufficient_quota":
                hint = _FATAL_STATUSES.get(status, "the account behind the key is out of quota")
                return _AttemptFailed(f"{text} ({hint.format(env=self.options.api_key_env)})",
                                      retryable=False, fatal=True)
            retryable = status in _RETRY_STATUSES or status >= 500
            retry_after = parse_retry_after(exc.response.headers) if retryable else None
            if retry_after is not None:
                text += f" [Retry-After {retry_after:g} s]"
            return _AttemptFailed(text, retryable=retryable, retry_after=retry_after)
        if isinstance(exc, openai.APITimeoutError):
            return _AttemptFailed(
                f"timed out after {self.options.timeout_s:g} s (hazard_request_timeout)", retryable=True
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            return _AttemptFailed(self._redact(f"connection error{detail}"), retryable=True)
        if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
            # A 200 whose body is not the JSON the API promises (truncated, HTML, garbage).
            return _AttemptFailed(
                self._redact(f"malformed response body ({type(exc).__name__}: {exc})"), retryable=True
            )
        # Anything else is unexpected; retrying would only repeat it.
        return _AttemptFailed(self._redact(f"{type(exc).__name__}: {exc}"), retryable=False)

    def _redact(self, text: str) -> str:
        key = self._key.value
        if len(key) >= _MIN_REDACTED_KEY_LENGTH:
            text = text.replace(key, _REDACTED)
        if len(text) > _MAX_ERROR_CHARS:
            text = text[: _MAX_ERROR_CHARS - 3] + "..."
        return text


def _body_message(exc: openai.APIStatusError) -> str:
    # The OpenAI error shape is {"error": {"message": ...}}; servers differ, so fall back
    # to the SDK's own message (which quotes the body).
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(exc.message)


def _usage(response: Any) -> tuple[int | None, int | None]:
    usage = getattr(response, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


# --------------------------------------------------------------------------- building


def openai_adapter_from_spec(
    spec: str,
    options: OpenAIOptions = OpenAIOptions(),
    *,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> OpenAIAdapter:
    """Build the adapter for ``openai:MODEL`` or ``openai-completions:MODEL``.

    The ``openai-completions:`` prefix selects the plain completions API whatever
    ``options.api`` says.  The base URL comes from ``options.base_url``, else
    ``OPENAI_BASE_URL``, else the OpenAI API; the key from the variable
    ``options.api_key_env`` names.  Everything is checked here, so a configuration
    fault surfaces before any hazard runs.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    if spec.startswith(COMPLETIONS_SPEC_PREFIX):
        model = spec[len(COMPLETIONS_SPEC_PREFIX):]
        options = replace(options, api="completions")
    elif spec.startswith(SPEC_PREFIX):
        model = spec[len(SPEC_PREFIX):]
    else:
        raise ModelConfigError(f"model spec {spec!r} is not of the form openai:MODEL")
    if not model or model != model.strip() or any(ch.isspace() for ch in model):
        raise ModelConfigError(
            f"model spec {spec!r} needs a model name without spaces after the prefix, "
            "such as openai:gpt-4o-mini or openai:qwen2.5-coder:7b"
        )
    require_sdk()
    base_url = options.base_url or env.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    _check_base_url(base_url)
    if not env.get(options.api_key_env, "").strip():
        raise ModelConfigError(
            f"{spec}: the environment variable {options.api_key_env} holding the API key is not "
            f"set. Set it (for a local server that needs no key, any placeholder such as "
            f"{options.api_key_env}=none), or name another variable with hazard_openai_api_key_env"
        )
    return OpenAIAdapter(
        model,
        options,
        api_key=env[options.api_key_env].strip(),
        base_url=base_url,
        name=spec,
        sleep=sleep,
        jitter=jitter,
    )


__all__ = [
    "COMPLETIONS_SPEC_PREFIX",
    "DEFAULT_BASE_URL",
    "OPENAI_EXTRA_INSTALL_COMMAND",
    "OpenAIAdapter",
    "OpenAIOptions",
    "SPEC_PREFIX",
    "SPEC_PREFIXES",
    "openai_adapter_from_spec",
    "parse_retry_after",
    "safe_base_url",
    "sample_seed",
]
