"""The ``command:`` adapter, with a small Python script (run by sys.executable) as the model."""

from __future__ import annotations

import json
import os
import shlex
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from pytest_codexsafety.errors import ModelConfigError, ModelError
from pytest_codexsafety.models.base import CompletionRequest, ModelAdapter
from pytest_codexsafety.models.command import (
    PARAMS_ENV,
    CommandAdapter,
    child_environment,
    command_adapter_from_spec,
    looks_secret,
)

# The prompt picks the behaviour, so one script serves every test.
MODEL_SCRIPT = textwrap.dedent(
    """\
    import json, os, signal, sys, time
    prompt = sys.stdin.read()
    if prompt == "params":
        print(os.environ["CODEXSAFETY_PARAMS"], end="")
    elif prompt == "env":
        print(json.dumps(dict(os.environ)), end="")
    elif prompt == "fail":
        for i in range(30):
            print(f"stderr line {i}", file=sys.stderr)
        sys.exit(3)
    elif prompt == "signal":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    elif prompt == "sleep":
        time.sleep(30)
    elif prompt == "ignore-stdin":
        print("did not read it all", end="")
    else:
        sys.stdout.write("ANSWER: " + prompt.upper())
    """
)


@pytest.fixture()
def script(tmp_path: Path) -> Path:
    path = tmp_path / "toy_model.py"
    path.write_text(MODEL_SCRIPT, encoding="utf-8")
    return path


@pytest.fixture()
def adapter(script: Path) -> CommandAdapter:
    return command_adapter_from_spec(f"command:{shlex.quote(sys.executable)} {shlex.quote(str(script))}")


def req(prompt: str, sample_index: int = 0, **params: object) -> CompletionRequest:
    return CompletionRequest(prompt=prompt, params=params, sample_index=sample_index,
                             hazard_id="CMD-1", prompt_index=2)


def test_prompt_on_stdin_completion_on_stdout(adapter: CommandAdapter) -> None:
    assert isinstance(adapter, ModelAdapter)
    assert adapter.complete(req("write ünïcode")).text == "ANSWER: WRITE ÜNÏCODE"
    assert adapter.max_concurrency == 4


def test_large_prompt_is_not_deadlocked(adapter: CommandAdapter) -> None:
    big = "x" * 1_000_000  # larger than any pipe buffer
    assert adapter.complete(req(big)).text == "ANSWER: " + big.upper()


def test_params_arrive_as_json(adapter: CommandAdapter) -> None:
    text = adapter.complete(req("params", sample_index=5, temperature=0.3, seed=9)).text
    assert json.loads(text) == {
        "temperature": 0.3, "seed": 9, "sample_index": 5, "prompt_index": 2, "hazard_id": "CMD-1",
    }


def test_secret_looking_variables_are_withheld(adapter: CommandAdapter, monkeypatch: pytest.MonkeyPatch,
                                              script: Path) -> None:
    canary = f"sk-canary-{uuid.uuid4().hex}"
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "db_password", "MySecret", "AWS_CREDENTIALS", "APIKEY"):
        monkeypatch.setenv(name, canary)
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    monkeypatch.setenv("MY_ENDPOINT_AUTH", canary)  # does not look secret by name...
    text = adapter.complete(req("env")).text
    assert canary in text  # ...so it passes, unless named explicitly:
    env = json.loads(text)
    assert env["HARMLESS_SETTING"] == "kept"
    assert PARAMS_ENV in env
    assert not [name for name in env if looks_secret(name)]
    strict = command_adapter_from_spec(
        f"command:{shlex.quote(sys.executable)} {shlex.quote(str(script))}",
        extra_secret_names=["my_endpoint_auth"],
    )
    assert canary not in strict.complete(req("env")).text


def test_child_environment_filter() -> None:
    env = {"PATH": "/bin", "HOME": "/h", "HF_TOKEN": "x", "Secret_Sauce": "x", "LANG": "C",
           "CODECOV_CREDENTIALS": "x", "PGPASSWORD": "x", "SSH_KEY_PATH": "x"}
    assert child_environment(env) == {"PATH": "/bin", "HOME": "/h", "LANG": "C"}
    assert child_environment(env, ["lang"]) == {"PATH": "/bin", "HOME": "/h"}


def test_non_zero_exit_quotes_stderr_tail(adapter: CommandAdapter) -> None:
    with pytest.raises(ModelError) as info:
        adapter.complete(req("fail"))
    message = str(info.value)
    assert "exited with status 3" in message
    assert "stderr line 29" in message and "stderr line 10" in message
    assert "stderr line 9\n" not in message  # only the last 20 lines


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_killed_by_signal(adapter: CommandAdapter) -> None:
    with pytest.raises(ModelError, match="killed by SIGTERM"):
        adapter.complete(req("signal"))


def test_timeout_kills_the_process(script: Path) -> None:
    adapter = command_adapter_from_spec(
        f"command:{shlex.quote(sys.executable)} {shlex.quote(str(script))}", timeout_s=0.5
    )
    started = time.monotonic()
    with pytest.raises(ModelError, match="no answer within 0.5 s; the process was killed"):
        adapter.complete(req("sleep"))
    assert time.monotonic() - started < 4


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_timeout_kills_a_wrapper_and_its_children(script: Path) -> None:
    # If only the shell died, the Python child would hold stdout open for 30 s.
    inner = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}; echo after"
    adapter = command_adapter_from_spec(f"command:/bin/sh -c {shlex.quote(inner)}", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ModelError, match="killed"):
        adapter.complete(req("sleep"))
    assert time.monotonic() - started < 4


def test_child_that_ignores_stdin(adapter: CommandAdapter) -> None:
    assert adapter.complete(req("ignore-stdin")).text == "did not read it all"


@pytest.mark.parametrize("spec", [
    "command:definitely-not-an-executable-3f9a",
    "command:/nonexistent/dir/model",
    "command:",
    "command:   ",
    "command:'unbalanced",
    "python:x:y",
])
def test_config_errors(spec: str) -> None:
    with pytest.raises(ModelConfigError):
        command_adapter_from_spec(spec)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_bad_timeout(timeout: float) -> None:
    with pytest.raises(ModelConfigError):
        command_adapter_from_spec(f"command:{shlex.quote(sys.executable)}", timeout_s=timeout)


def test_executable_is_resolved_and_described(adapter: CommandAdapter, script: Path) -> None:
    described = adapter.describe()
    assert described["adapter"] == "command"
    assert described["executable"] == adapter.argv[0]
    assert os.path.isabs(adapter.argv[0])
    assert str(script) in described["name"]
    assert described["timeout_s"] == 120.0


def test_secret_options_on_the_command_line_are_redacted(script: Path) -> None:
    canary = f"sk-canary-{uuid.uuid4().hex}"
    spec = (f"command:{shlex.quote(sys.executable)} {shlex.quote(str(script))} "
            f"--api-key {canary} --auth-token={canary} --model small")
    adapter = command_adapter_from_spec(spec)
    for text in (adapter.name, str(adapter.describe()), repr(adapter)):
        assert canary not in text
    assert "--model small" in adapter.name
    assert adapter.argv[3] == canary  # the program itself still gets its arguments
