"""The ``openai:`` adapter: the real SDK against a fake server on 127.0.0.1.

Every test talks only to a :class:`FakeOpenAI` it starts and stops itself.  Sleeps are
injected and recorded, so backoff and Retry-After are asserted without waiting.
"""

from __future__ import annotations

import email.utils
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_openai import Action, FakeOpenAI  # noqa: E402

from pytest_codexsafety.errors import FatalModelError, ModelConfigError, ModelError  # noqa: E402
from pytest_codexsafety.models.base import CompletionRequest, ModelAdapter  # noqa: E402
from pytest_codexsafety.models.openai_compat import (  # noqa: E402
    OPENAI_EXTRA_INSTALL_COMMAND,
    RETRY_AFTER_CAP_S,
    OpenAIAdapter,
    OpenAIOptions,
    openai_adapter_from_spec,
    parse_retry_after,
    safe_base_url,
    sample_seed,
)

MODEL = "openai:test-coder"


def answer(prompt: str) -> str:
    return f"```python\n# {prompt}\nprint({len(prompt)})\n```"


@pytest.fixture()
def canary() -> str:
    return f"sk-canary-{uuid.uuid4().hex}"


@pytest.fixture()
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(answer) as fake:
        yield fake


class Harness:
    """Builds adapters against the fake server and remembers every sleep and error."""

    def __init__(self, server: FakeOpenAI, key: str) -> None:
        self.server = server
        self.key = key
        self.sleeps: list[float] = []
        self.adapters: list[OpenAIAdapter] = []
        self.errors: list[str] = []

    def adapter(self, spec: str = MODEL, *, jitter: Callable[[], float] = lambda: 0.0,
                environ: dict[str, str] | None = None, **options: Any) -> OpenAIAdapter:
        options.setdefault("base_url", self.server.base_url)
        options.setdefault("timeout_s", 2.0)
        options.setdefault("max_retries", 2)
        env = {"OPENAI_API_KEY": self.key} if environ is None else environ
        adapter = openai_adapter_from_spec(
            spec, OpenAIOptions(**options), environ=env, sleep=self.sleeps.append, jitter=jitter
        )
        self.adapters.append(adapter)
        return adapter

    def fail(self, adapter: OpenAIAdapter, request: CompletionRequest,
             error: type[Exception] = ModelError) -> str:
        with pytest.raises(error) as info:
            adapter.complete(request)
        message = str(info.value)
        self.errors.append(message)
        # Nothing unscrubbed hangs under our error for a traceback to print.
        assert info.value.__cause__ is None and info.value.__context__ is None
        return message


@pytest.fixture()
def harness(server: FakeOpenAI, canary: str) -> Iterator[Harness]:
    h = Harness(server, canary)
    yield h
    for adapter in h.adapters:
        adapter.close()
    # The canary may travel in the Authorization header, and nowhere else we produce.
    for message in h.errors:
        assert canary not in message


def req(prompt: str = "Write a calculator", sample_index: int = 0, **params: Any) -> CompletionRequest:
    return CompletionRequest(prompt=prompt, params=params, sample_index=sample_index, hazard_id="H-1")


# --------------------------------------------------------------------------- normal answers


def test_chat_completion(harness: Harness, server: FakeOpenAI, canary: str) -> None:
    adapter = harness.adapter()
    assert isinstance(adapter, ModelAdapter)
    completion = adapter.complete(req("Write a calculator"))
    assert completion.text == answer("Write a calculator")
    assert completion.prompt_tokens == 3
    assert completion.completion_tokens == len(answer("Write a calculator").split())
    assert completion.metadata["attempts"] == 1
    [seen] = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {canary}"
    assert seen.body["model"] == "test-coder"
    assert seen.body["messages"] == [{"role": "user", "content": "Write a calculator"}]
    assert seen.body["n"] == 1
    assert "stream" not in seen.body or seen.body["stream"] is False


def test_system_prompt_is_sent_first(harness: Harness, server: FakeOpenAI) -> None:
    adapter = harness.adapter(system_prompt="Answer in Python.")
    adapter.complete(req("hi"))
    assert server.requests[0].body["messages"] == [
        {"role": "system", "content": "Answer in Python."},
        {"role": "user", "content": "hi"},
    ]
    assert adapter.describe()["system_prompt"] == "Answer in Python."


@pytest.mark.parametrize("how", ["prefix", "option"])
def test_plain_completions_api(harness: Harness, server: FakeOpenAI, how: str) -> None:
    if how == "prefix":
        adapter = harness.adapter("openai-completions:test-coder", system_prompt="ignored")
    else:
        adapter = harness.adapter(api="completions")
    completion = adapter.complete(req("def add(a, b):", temperature=0))
    assert completion.text == answer("def add(a, b):")
    [seen] = server.requests
    assert seen.path == "/v1/completions"
    assert seen.body["prompt"] == "def add(a, b):"
    assert seen.body["model"] == "test-coder"
    assert adapter.describe()["api"] == "completions"
    assert adapter.describe()["name"] == "test-coder"


def test_generation_params_reach_the_server(harness: Harness, server: FakeOpenAI) -> None:
    adapter = harness.adapter()
    params: dict[str, Any] = dict(temperature=0.7, max_tokens=123, top_p=0.9, stop=["```\n"], seed=42,
                                  presence_penalty=0.5, frequency_penalty=0.25, unrelated="ignored")
    adapter.complete(req(sample_index=0, **params))
    adapter.complete(req(sample_index=1, **params))
    adapter.complete(req(sample_index=0, **params))  # a rerun of sample 0
    first, second, rerun = (r.body for r in server.requests)
    assert first["temperature"] == 0.7
    assert first["max_tokens"] == 123
    assert first["top_p"] == 0.9
    assert first["stop"] == ["```\n"]
    assert first["presence_penalty"] == 0.5
    assert first["frequency_penalty"] == 0.25
    assert "unrelated" not in first
    # Per-sample seeds: samples differ, reruns repeat, all fit a signed 32-bit int.
    assert first["seed"] == sample_seed(42, 0)
    assert second["seed"] == sample_seed(42, 1) != first["seed"]
    assert rerun["seed"] == first["seed"]
    assert 0 <= first["seed"] < 2**31


def test_absent_params_leave_server_defaults(harness: Harness, server: FakeOpenAI) -> None:
    harness.adapter().complete(req(stop="END"))
    body = server.requests[0].body
    assert body["stop"] == ["END"]
    for name in ("temperature", "max_tokens", "top_p", "seed"):
        assert name not in body


@pytest.mark.parametrize("params", [{"temperature": "hot"}, {"max_tokens": 0}, {"max_tokens": 1.5},
                                    {"stop": [1]}, {"seed": "x"}, {"temperature": -1}])
def test_bad_params_are_config_errors(harness: Harness, server: FakeOpenAI, params: dict[str, Any]) -> None:
    harness.fail(harness.adapter(), req(**params), ModelConfigError)
    assert server.request_count == 0


def test_structured_refusal_is_an_answer(harness: Harness, server: FakeOpenAI) -> None:
    server.enqueue(Action.json({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."}}],
    }))
    completion = harness.adapter().complete(req())
    assert completion.text == "I can't help with that."
    assert completion.prompt_tokens is None  # no usage in that response


# --------------------------------------------------------------------------- faults

# Short enough to keep the hang tests fast, long enough for a loaded machine to answer.
HANG_TIMEOUT_S = 0.4

FAULTS = {
    # kind: (action, what the final error quotes)
    "429": (Action.rate_limited(None), "HTTP 429"),
    "500": (Action.status(500), "HTTP 500"),
    "503": (Action.status(503), "HTTP 503"),
    "reset": (Action.reset(), "connection error"),
    "hang": (Action.hang(3.0), f"timed out after {HANG_TIMEOUT_S:g} s"),
    "malformed": (Action.malformed(), "malformed response body"),
    "empty_choices": (Action.empty_choices(), "no choices"),
    "empty_content": (Action.empty_content(), "empty"),
    "truncated": (Action.truncated(), "connection error"),
}


@pytest.mark.parametrize("api", ["chat", "completions"])
@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_fault_is_retried_then_succeeds(harness: Harness, server: FakeOpenAI, kind: str, api: str) -> None:
    action, _ = FAULTS[kind]
    server.enqueue(action, action)
    adapter = harness.adapter(api=api, timeout_s=HANG_TIMEOUT_S if kind == "hang" else 2.0, max_retries=2)
    completion = adapter.complete(req("retry me"))
    assert completion.text == answer("retry me")
    assert completion.metadata["attempts"] == 3
    assert server.request_count == 3
    assert len(harness.sleeps) == 2


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_persistent_fault_is_a_model_error_quoting_it(harness: Harness, server: FakeOpenAI, kind: str) -> None:
    action, quoted = FAULTS[kind]
    server.always(action)
    adapter = harness.adapter(timeout_s=HANG_TIMEOUT_S if kind == "hang" else 2.0, max_retries=2)
    started = time.monotonic()
    message = harness.fail(adapter, req())
    elapsed = time.monotonic() - started
    assert quoted in message
    assert "after 3 attempts" in message
    assert "127.0.0.1" in message
    assert server.request_count == 3  # the SDK retried nothing on its own
    assert len(harness.sleeps) == 2
    assert elapsed < 3 * HANG_TIMEOUT_S + 1.5  # three client timeouts at worst, never the server's hang


def test_persistent_fault_is_not_fatal_for_the_hazard(harness: Harness, server: FakeOpenAI) -> None:
    server.always("500")
    with pytest.raises(ModelError) as info:
        harness.adapter(max_retries=0).complete(req())
    assert not isinstance(info.value, FatalModelError)
    assert server.request_count == 1
    assert harness.sleeps == []


def test_retry_after_seconds_is_honoured(harness: Harness, server: FakeOpenAI) -> None:
    server.enqueue(Action.rate_limited("7"), Action.status(503, retry_after="0.25"))
    completion = harness.adapter().complete(req())
    assert completion.text
    assert harness.sleeps == [7.0, 0.25]


def test_retry_after_http_date_is_honoured(harness: Harness, server: FakeOpenAI) -> None:
    server.enqueue(Action.rate_limited(email.utils.formatdate(time.time() + 30, usegmt=True)))
    harness.adapter().complete(req())
    [delay] = harness.sleeps
    assert 27.0 <= delay <= 31.0


def test_retry_after_is_capped(harness: Harness, server: FakeOpenAI) -> None:
    server.enqueue(Action.rate_limited("86400"))
    harness.adapter().complete(req())
    assert harness.sleeps == [RETRY_AFTER_CAP_S]


def test_backoff_is_exponential_with_jitter(harness: Harness, server: FakeOpenAI) -> None:
    server.enqueue("500", "500", "500", "500")
    harness.adapter(max_retries=4).complete(req())
    assert harness.sleeps == [0.25, 0.5, 1.0, 2.0]  # jitter 0: half of 0.5 * 2**k
    harness.sleeps.clear()
    server.enqueue("502", "502")
    harness.adapter(jitter=lambda: 0.999).complete(req())
    assert harness.sleeps == pytest.approx([0.5, 1.0], rel=0.01)


def test_parse_retry_after() -> None:
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "-3"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "soon"}) is None
    date = email.utils.formatdate(1_000_100, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == 100.0
    assert parse_retry_after({"retry-after": date}, now=2_000_000) == 0.0


def test_client_errors_are_not_retried(harness: Harness, server: FakeOpenAI) -> None:
    server.always(Action.status(400, body={"error": {"message": "context length exceeded"}}))
    message = harness.fail(harness.adapter(), req())
    assert "HTTP 400" in message and "context length exceeded" in message
    assert server.request_count == 1


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_and_routing_errors_stop_the_hazard(harness: Harness, server: FakeOpenAI, status: int) -> None:
    server.always(Action.status(status))
    message = harness.fail(harness.adapter(), req(), FatalModelError)
    assert f"HTTP {status}" in message
    assert server.request_count == 1


def test_insufficient_quota_is_fatal(harness: Harness, server: FakeOpenAI) -> None:
    server.always(Action.status(429, body={"error": {"message": "You exceeded your quota",
                                                     "code": "insufficient_quota"}}))
    message = harness.fail(harness.adapter(), req(), FatalModelError)
    assert "quota" in message
    assert server.request_count == 1


# --------------------------------------------------------------------------- secrets


def test_key_is_sent_but_never_shown(harness: Harness, server: FakeOpenAI, canary: str) -> None:
    adapter = harness.adapter()
    adapter.complete(req())
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"
    shown = [str(adapter.describe()), repr(adapter), str(adapter), str(vars(adapter))]
    for text in shown:
        assert canary not in text
    assert adapter.describe() == {
        "adapter": "openai", "name": "test-coder", "base_url": server.base_url,
        "api": "chat", "system_prompt": None,
    }


def test_key_echoed_by_the_server_is_redacted(harness: Harness, server: FakeOpenAI, canary: str) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {canary}."}}
    server.always(Action.status(401, body=echo))
    message = harness.fail(harness.adapter(), req(), FatalModelError)
    assert "[redacted]" in message
    assert "OPENAI_API_KEY" in message  # names the variable to fix, never its value
    server.always(Action.status(500, body=echo))
    message = harness.fail(harness.adapter(), req())
    assert "[redacted]" in message


def test_base_url_userinfo_and_query_are_not_described(harness: Harness, server: FakeOpenAI) -> None:
    url = server.base_url.replace("http://", "http://user:pw@") + "?token=abc"
    assert safe_base_url(url) == server.base_url
    assert safe_base_url("https://[::1]:8080/v1?x=1#f") == "https://[::1]:8080/v1"
    adapter = harness.adapter(base_url=url)
    assert adapter.describe()["base_url"] == server.base_url
    assert "pw" not in repr(adapter)


def test_missing_key_variable_is_a_config_error(harness: Harness) -> None:
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        harness.adapter(environ={})
    with pytest.raises(ModelConfigError, match="MY_LLM_KEY"):
        harness.adapter(environ={"OPENAI_API_KEY": "sk-wrong-variable"}, api_key_env="MY_LLM_KEY")
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        harness.adapter(environ={"OPENAI_API_KEY": "  "})


def test_custom_key_variable(harness: Harness, server: FakeOpenAI, canary: str) -> None:
    harness.adapter(environ={"MY_LLM_KEY": canary}, api_key_env="MY_LLM_KEY").complete(req())
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"


def test_key_pasted_as_variable_name_is_not_echoed(canary: str) -> None:
    with pytest.raises(ModelConfigError) as info:
        OpenAIOptions(api_key_env=canary)
    assert canary not in str(info.value)
    assert "hazard_openai_api_key_env" in str(info.value)


def test_missing_sdk_names_the_install_command(monkeypatch: pytest.MonkeyPatch, canary: str) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    with pytest.raises(ModelConfigError) as info:
        openai_adapter_from_spec(MODEL, OpenAIOptions(base_url="http://127.0.0.1:9/v1"),
                                 environ={"OPENAI_API_KEY": canary})
    assert OPENAI_EXTRA_INSTALL_COMMAND in str(info.value)
    assert "pip install 'pytest-codexsafety[openai]'" in str(info.value)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("spec", ["openai:", "openai: gpt", "openai:a b", "gguf:x", "openai-completions:"])
def test_bad_specs(spec: str, canary: str) -> None:
    with pytest.raises(ModelConfigError):
        openai_adapter_from_spec(spec, OpenAIOptions(base_url="http://127.0.0.1:9/v1"),
                                 environ={"OPENAI_API_KEY": canary})


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "127.0.0.1:8000/v1", "http:///v1", "http://h:99999/v1"])
def test_bad_base_urls(url: str, canary: str) -> None:
    with pytest.raises(ModelConfigError, match="base URL"):
        openai_adapter_from_spec(MODEL, OpenAIOptions(base_url=url), environ={"OPENAI_API_KEY": canary})


@pytest.mark.parametrize("field,value", [("concurrency", 0), ("concurrency", 1.5), ("max_retries", -1),
                                         ("timeout_s", 0), ("timeout_s", float("nan")), ("api", "responses")])
def test_bad_options(field: str, value: Any) -> None:
    with pytest.raises(ModelConfigError):
        OpenAIOptions(**{field: value})


def test_base_url_from_environment(server: FakeOpenAI, canary: str) -> None:
    env = {"OPENAI_API_KEY": canary, "OPENAI_BASE_URL": server.base_url}
    adapter = openai_adapter_from_spec(MODEL, OpenAIOptions(), environ=env)
    try:
        assert adapter.complete(req()).text
        assert adapter.describe()["base_url"] == server.base_url
    finally:
        adapter.close()
    # Configuration wins over the environment.
    other = openai_adapter_from_spec(MODEL, OpenAIOptions(base_url="http://127.0.0.1:1/v1"), environ=env)
    assert other.describe()["base_url"] == "http://127.0.0.1:1/v1"
    nothing = openai_adapter_from_spec(MODEL, OpenAIOptions(), environ={"OPENAI_API_KEY": canary})
    assert nothing.describe()["base_url"] == "https://api.openai.com/v1"


def test_ollama_style_model_names(harness: Harness, server: FakeOpenAI) -> None:
    adapter = harness.adapter("openai:qwen2.5-coder:1.5b")
    adapter.complete(req())
    assert server.requests[0].body["model"] == "qwen2.5-coder:1.5b"
    assert adapter.name == "openai:qwen2.5-coder:1.5b"


# --------------------------------------------------------------------------- concurrency and lifecycle


def test_concurrent_completions(canary: str) -> None:
    with FakeOpenAI(answer, delay_s=0.2) as slow:
        adapter = openai_adapter_from_spec(
            MODEL, OpenAIOptions(base_url=slow.base_url, concurrency=8), environ={"OPENAI_API_KEY": canary}
        )
        assert adapter.max_concurrency == 8
        try:
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=adapter.max_concurrency) as pool:
                results = list(pool.map(lambda i: adapter.complete(req(f"prompt {i}", i)), range(16)))
            elapsed = time.monotonic() - started
        finally:
            adapter.close()
        assert [r.text for r in results] == [answer(f"prompt {i}") for i in range(16)]
        assert slow.request_count == 16
        assert slow.max_in_flight >= 4
        assert elapsed < 16 * 0.2 / 2  # serial would take 3.2 s


def test_client_is_created_once_across_threads(harness: Harness, server: FakeOpenAI) -> None:
    adapter = harness.adapter()
    clients: list[object] = []
    barrier = threading.Barrier(6)

    def grab() -> None:
        barrier.wait()
        clients.append(adapter._get_client())

    threads = [threading.Thread(target=grab) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(clients) == 6 and len({id(c) for c in clients}) == 1


def test_close_releases_and_reopens_lazily(harness: Harness, server: FakeOpenAI) -> None:
    adapter = harness.adapter()
    adapter.close()  # before any use: nothing to close
    adapter.complete(req())
    adapter.close()
    assert adapter._client is None
    adapter.complete(req())  # a closed adapter reconnects on demand
    assert server.request_count == 2


def test_fake_server_stops_promptly_with_a_request_hanging(canary: str) -> None:
    before = set(threading.enumerate())
    fake = FakeOpenAI(answer).start()
    fake.always(Action.hang(5.0))
    adapter = openai_adapter_from_spec(
        MODEL, OpenAIOptions(base_url=fake.base_url, timeout_s=0.2, max_retries=0),
        environ={"OPENAI_API_KEY": canary},
    )
    try:
        with pytest.raises(ModelError, match="timed out"):
            adapter.complete(req())
        # The client has given up, the server handler is still "hanging": stop wakes it.
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 1.0
    finally:
        adapter.close()
        fake.stop()
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and t.name != "MainThread"]
    assert not [t for t in leftover if "fake-openai" in t.name or "process_request" in t.name]
