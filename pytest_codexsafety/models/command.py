"""``command:EXECUTABLE [ARGS]`` — any program is the model.  No pytest import.

For each sample the program is started afresh with the prompt on stdin (UTF-8); what it
prints on stdout is the completion.  The generation parameters, plus ``sample_index``,
``prompt_index``, ``hazard_id`` and ``seed``, arrive as a JSON object in the environment
variable ``CODEXSAFETY_PARAMS``.

Design points, each for a reason:

* The child gets the parent's environment minus every variable whose name looks like a
  secret (contains KEY, TOKEN, SECRET, PASSWORD or CREDENTIAL, in any case): the plugin
  promises that no API key reaches anything it spawns, and a model wrapper is arbitrary
  code.  A command that needs a credential must read it from a file of its own.
* The child runs in its own process group (POSIX), so a timeout kills a shell wrapper
  *and* the interpreter it started, not just the shell.
* A non-zero exit is a :class:`ModelError` quoting the exit status and the tail of
  stderr, which is where a wrapper's real error usually is.  An empty stdout with exit 0
  is returned as is: the probes already count an empty completion as an error, never as
  safe.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
from typing import Any, Iterable, Mapping, Sequence

from ..errors import ModelConfigError, ModelError
from .base import Completion, CompletionRequest

PREFIX = "command:"
PARAMS_ENV = "CODEXSAFETY_PARAMS"
DEFAULT_TIMEOUT_S = 120.0
#: A variable whose name contains one of these (case-insensitive) never reaches the child.
SECRET_NAME_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
STDERR_TAIL_LINES = 20
# Bounds the quoted stderr even when its last lines are huge.
_STDERR_TAIL_CHARS = 4000
# After a kill, how long to wait for the pipes to drain; a grandchild that left the
# process group could otherwise hold them open for ever.
_DRAIN_AFTER_KILL_S = 5.0
_REDACTED = "[redacted]"


def looks_secret(name: str) -> bool:
    """Whether an environment variable (or option) name suggests it holds a credential."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_NAME_MARKERS)


def child_environment(
    environ: Mapping[str, str] | None = None, extra_secret_names: Iterable[str] = ()
) -> dict[str, str]:
    """The environment a model command runs with: ``environ`` minus secret-looking names."""
    source = os.environ if environ is None else environ
    extra = {name.upper() for name in extra_secret_names}
    return {
        name: value
        for name, value in source.items()
        if not looks_secret(name) and name.upper() not in extra
    }


def _redacted_argv(argv: Sequence[str]) -> list[str]:
    # For describe(): `--api-key X` / `--token=X` on a command line must not reach the
    # register.  (Better still, do not put secrets in the spec.)
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append(_REDACTED)
            hide_next = False
            continue
        flag, eq, _value = arg.partition("=")
        if flag.startswith("-") and looks_secret(flag):
            if eq:
                shown.append(f"{flag}={_REDACTED}")
            else:
                shown.append(arg)
                hide_next = True
            continue
        shown.append(arg)
    return shown


def _tail(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").rstrip().splitlines()[-STDERR_TAIL_LINES:]
    text = "\n".join(lines)
    if len(text) > _STDERR_TAIL_CHARS:
        text = "..." + text[-_STDERR_TAIL_CHARS:]
    return text


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class CommandAdapter:
    """Runs an external program once per sample.  The program is trusted user code.

    ``argv[0]`` should be the resolved executable; ``name`` is what messages and the
    register show (:func:`command_adapter_from_spec` redacts secret-looking options in it).
    """

    #: Each sample is its own process; a few at once keeps a small machine responsive.
    max_concurrency = 4

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        extra_secret_names: Iterable[str] = (),
    ) -> None:
        if not argv:
            raise ModelConfigError(f"model spec {name!r} names no executable")
        self.name = name
        self.argv = tuple(argv)
        self.timeout_s = float(timeout_s)
        self._extra_secret_names = tuple(extra_secret_names)

    # ---- ModelAdapter

    def describe(self) -> Mapping[str, Any]:
        return {
            "adapter": "command",
            "name": self.name[len(PREFIX):] if self.name.startswith(PREFIX) else self.name,
            "executable": self.argv[0],
            "timeout_s": self.timeout_s,
        }

    def complete(self, request: CompletionRequest) -> Completion:
        params: dict[str, Any] = dict(request.params)
        params.setdefault("sample_index", request.sample_index)
        params.setdefault("prompt_index", request.prompt_index)
        params.setdefault("hazard_id", request.hazard_id)
        env = child_environment(extra_secret_names=self._extra_secret_names)
        env[PARAMS_ENV] = json.dumps(params, sort_keys=True, default=str)
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=os.name == "posix",
            )
        except OSError as exc:  # removed or made non-executable since the spec was read
            raise ModelConfigError(
                f"{self.name}: cannot start {self.argv[0]!r}: {exc.strerror or exc}"
            ) from None
        with proc:  # closes the pipes and reaps the child on every path
            try:
                stdout, stderr = proc.communicate(request.prompt.encode("utf-8"), timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                self._kill(proc)
                try:
                    _out, stderr = proc.communicate(timeout=_DRAIN_AFTER_KILL_S)
                except subprocess.TimeoutExpired:
                    stderr = b""
                tail = _tail(stderr or b"")
                raise ModelError(
                    f"{self.name}: no answer within {self.timeout_s:g} s; the process was killed"
                    + (f"; last stderr lines:\n{tail}" if tail else "")
                ) from None
        code = proc.returncode
        if code != 0:
            status = (
                f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
            )
            tail = _tail(stderr)
            raise ModelError(
                f"{self.name}: {status}"
                + (f"; last stderr lines:\n{tail}" if tail else " (stderr was empty)")
            )
        return Completion(text=stdout.decode("utf-8", errors="replace"))

    def close(self) -> None:
        return None  # nothing outlives a sample

    def __repr__(self) -> str:
        return f"CommandAdapter(name={self.name!r}, timeout_s={self.timeout_s:g})"

    # ---- internals

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        if os.name == "posix":
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the whole group: wrappers and their children
                return
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def command_adapter_from_spec(
    spec: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    extra_secret_names: Iterable[str] = (),
) -> CommandAdapter:
    """Build the adapter for ``command:EXECUTABLE [ARGS]`` (split like a POSIX shell).

    The executable is looked up on ``PATH`` now, so a typo is a configuration error
    before any hazard runs.  ``extra_secret_names`` lists further variables to withhold
    from the child (say, a key variable whose name does not look secret).
    """
    if not spec.startswith(PREFIX):
        raise ModelConfigError(f"model spec {spec!r} is not of the form command:EXECUTABLE [ARGS]")
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, (int, float))
        or not timeout_s > 0
        or timeout_s == float("inf")
    ):
        raise ModelConfigError(f"command timeout must be a number of seconds > 0, got {timeout_s!r}")
    try:
        argv = shlex.split(spec[len(PREFIX):])
    except ValueError as exc:
        raise ModelConfigError(f"model spec {spec!r}: cannot split the command line: {exc}") from None
    if not argv:
        raise ModelConfigError(
            f"model spec {spec!r} names no executable (for example command:python3 my_model.py)"
        )
    executable = shutil.which(argv[0])
    if executable is None:
        where = "does not exist or is not executable" if os.sep in argv[0] else "is not on PATH"
        raise ModelConfigError(f"model spec {spec!r}: executable {argv[0]!r} {where}")
    shown = _redacted_argv(argv)
    # The name appears in messages and the register: a secret on the command line must not.
    name = spec if shown == argv else PREFIX + shlex.join(shown)
    return CommandAdapter(
        [executable, *argv[1:]], name=name, timeout_s=timeout_s, extra_secret_names=extra_secret_names
    )


__all__ = [
    "CommandAdapter",
    "DEFAULT_TIMEOUT_S",
    "PARAMS_ENV",
    "PREFIX",
    "SECRET_NAME_MARKERS",
    "child_environment",
    "command_adapter_from_spec",
    "looks_secret",
]
