"""The sandbox engine's contract: statuses, strict results, files, modes, lifecycle.

Attacks live in test_sandbox_attacks.py; these are the ordinary behaviours, run in both
modes where the answer must be the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from typing import Iterator

import pytest

import pytest_codexsafety.sandbox as sandbox_pkg
from pytest_codexsafety.errors import CodexSafetyError, CodexSafetyWarning
from pytest_codexsafety.sandbox import (
    Call,
    Limits,
    SandboxError,
    Task,
    open_sandbox,
    sandbox_available,
    shared_sandbox,
)
from pytest_codexsafety.sandbox.channel import ResultDecoder, loads_strict, plain_json_problem
from pytest_codexsafety.sandbox import _xdist_workers
from pytest_codexsafety.sandbox.pool import ForkServerSandbox, overlap_for

FAST = Limits(timeout_s=1.0, memory_mb=256)
ADD = "def add(a, b):\n    return a + b\n"


def require_bwrap() -> None:
    ok, why = sandbox_available("bwrap")
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"bubblewrap is required in CI: {why}")
        pytest.skip(f"bubblewrap unavailable: {why}")


@pytest.fixture(scope="module", params=["bwrap", "bwrap-overlap", "process"])
def sb(request: pytest.FixtureRequest) -> Iterator[ForkServerSandbox]:
    # "-overlap": the next child forked beside each task, a task ended once its child is
    # exiting (as with tasks back to back); the others do both after each task.
    mode, _, overlap = request.param.partition("-")
    if mode == "bwrap":
        require_bwrap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodexSafetyWarning)
        box = open_sandbox(mode)
    assert isinstance(box, ForkServerSandbox)
    box.overlap = bool(overlap)
    yield box
    box.close()


def run(sb: ForkServerSandbox, code: str, *calls: Call, entry: str = "f", limits: Limits = FAST):
    return sb.run(Task(code, entry, tuple(calls) or (Call(),), limits))


# ---------------------------------------------------------------- results


def test_returns_plain_values_with_exact_types(sb: ForkServerSandbox) -> None:
    code = "def f(x):\n    return x\n"
    values = [None, True, 0, 1, -7, 2.5, "", "héllo\u2603", [1, [2, [3]]], {"a": {"b": [None, False]}}]
    result = run(sb, code, *[Call((v,)) for v in values])
    assert result.load == "ok", result.detail
    assert [c.status for c in result.calls] == ["returned"] * len(values)
    got = [c.value for c in result.calls]
    assert got == values
    assert [type(v) for v in got] == [type(v) for v in values]  # True stays bool, 1 stays int


def test_args_and_kwargs_travel_in(sb: ForkServerSandbox) -> None:
    code = "def f(a, b=0, *, c=''):\n    return [a, b, c]\n"
    result = run(sb, code, Call((1,), {"c": "x"}), Call((1, 2)), Call(kwargs={"a": 5, "c": "z"}))
    assert [c.value for c in result.calls] == [[1, 0, "x"], [1, 2, ""], [5, 0, "z"]]


def test_each_call_gets_fresh_arguments(sb: ForkServerSandbox) -> None:
    code = "def f(xs):\n    xs.append(1)\n    return len(xs)\n"
    result = run(sb, code, Call(([],)), Call(([],)))
    assert [c.value for c in result.calls] == [1, 1]


def test_raised_reports_type_and_message(sb: ForkServerSandbox) -> None:
    code = "def f(x):\n    if x:\n        raise ValueError('bad ' * 1000)\n    return 1\n"
    result = run(sb, code, Call((True,)), Call((False,)))
    first, second = result.calls
    assert first.status == "raised" and first.error is not None
    assert first.error.startswith("ValueError: bad bad") and len(first.error) <= 1000
    assert second.status == "returned" and second.value == 1  # a raise does not end the task


@pytest.mark.parametrize(
    "code, load, detail",
    [
        ("def f(:\n", "syntax_error", "SyntaxError"),
        ("x = 'a\0b'\n\0", "syntax_error", ""),
        ("import no_such_module_xyz\n", "import_error", "No module named"),
        ("raise RuntimeError('at import')\n", "load_error", "RuntimeError: at import"),
        ("import sys\nsys.exit(0)\n", "load_error", "SystemExit"),
        ("g = 1\n", "missing_entry_point", "'f'"),
        ("f = 42\n", "missing_entry_point", "'f'"),
    ],
)
def test_load_failures_are_normal_results(sb: ForkServerSandbox, code: str, load: str, detail: str) -> None:
    result = run(sb, code)
    assert result.load == load
    assert detail in result.detail
    assert result.calls == ()


def test_load_timeout(sb: ForkServerSandbox) -> None:
    start = time.monotonic()
    result = run(sb, "while True:\n    pass\n", limits=Limits(timeout_s=0.3))
    assert result.load == "timeout" and result.calls == ()
    assert time.monotonic() - start < 0.3 + 2.0


@pytest.mark.parametrize(
    "expr, why",
    [
        ("float('nan')", "non-finite"),
        ("float('inf')", "non-finite"),
        ("{1: 2}", "dict key"),
        ("(1, 2)", "tuple"),
        ("{1, 2}", "set"),
        ("b'x'", "bytes"),
        ("object()", "object"),
        ("type('S', (str,), {})('x')", "S"),
        ("10 ** 5000", ""),
        ("[[[[[]]]]] if False else __import__('functools').reduce(lambda a, _: [a], range(200), [])", "deeper"),
    ],
)
def test_non_plain_values_are_invalid_never_coerced(sb: ForkServerSandbox, expr: str, why: str) -> None:
    result = run(sb, f"def f():\n    return {expr}\n")
    (call,) = result.calls
    assert call.status == "invalid" and call.value is None
    assert call.error is not None and why in call.error


def test_output_cap_is_per_task(sb: ForkServerSandbox) -> None:
    code = "def f(n):\n    return 'x' * n\n"
    limits = Limits(timeout_s=2.0, max_output_bytes=10_000)
    result = sb.run(Task(code, "f", (Call((6000,)), Call((6000,)), Call((10,))), limits))
    assert [c.status for c in result.calls] == ["returned", "invalid", "returned"]
    assert result.calls[1].error is not None and "larger than" in result.calls[1].error


def test_timeout_marks_the_rest_not_run(sb: ForkServerSandbox) -> None:
    code = "def f(x):\n    while x:\n        pass\n    return x\n"
    start = time.monotonic()
    result = run(sb, code, Call((0,)), Call((1,)), Call((0,)), limits=Limits(timeout_s=0.3))
    assert [c.status for c in result.calls] == ["returned", "timeout", "timeout"]
    assert result.calls[2].error is not None and result.calls[2].error.startswith("not run")
    assert time.monotonic() - start < 0.3 * 2 + 2.0


def test_cpu_rlimit_is_reported_as_killed(sb: ForkServerSandbox) -> None:
    code = (
        "import resource\n"
        "def f():\n"
        "    resource.setrlimit(resource.RLIMIT_CPU, (1, 2))\n"
        "    while True:\n        pass\n"
    )
    result = run(sb, code, limits=Limits(timeout_s=5.0))
    assert result.calls[0].status == "killed"
    assert "CPU" in (result.calls[0].error or "")


def test_segfault_is_crashed(sb: ForkServerSandbox) -> None:
    code = "import ctypes\ndef f():\n    return ctypes.string_at(0)\n"
    (call,) = run(sb, code).calls
    assert call.status == "crashed" and "SIGSEGV" in (call.error or "")


def test_stdlib_imports_work(sb: ForkServerSandbox) -> None:
    # csv and sqlite3 are not preloaded: they import from the read-only interpreter prefix.
    code = "import csv, io, json, fractions, sqlite3\ndef f():\n    return str(fractions.Fraction(1, 3))\n"
    assert run(sb, code).calls[0].value == "1/3"


def test_durations_are_measured(sb: ForkServerSandbox) -> None:
    code = "import time\ndef f(s):\n    time.sleep(s)\n    return s\n"
    result = run(sb, code, Call((0.2,)), Call((0,)))
    assert 0.15 < result.calls[0].duration_s < 1.5
    assert result.calls[1].duration_s < result.calls[0].duration_s
    assert result.duration_s >= result.calls[0].duration_s


# ---------------------------------------------------------------- files


def test_files_are_placed_and_snapshotted(sb: ForkServerSandbox) -> None:
    code = (
        "import os\n"
        "def f():\n"
        "    data = open('canary.txt').read()\n"
        "    os.remove('canary.txt')\n"
        "    open('sub/keep.txt', 'a').write('+more')\n"
        "    open('new.bin', 'wb').write(bytes(range(4)))\n"
        "    os.symlink('/etc/passwd', 'link')\n"
        "    return data\n"
    )
    task = Task(code, "f", (Call(),), FAST, files={"canary.txt": "secret", "sub/keep.txt": "k"}, snapshot_files=True)
    result = sb.run(task)
    assert result.calls[0].value == "secret"
    assert result.files_after == {
        "canary.txt": None,
        "sub/keep.txt": b"k+more",
        "new.bin": b"\x00\x01\x02\x03",
        "link": b"<symlink -> /etc/passwd>",  # described, never followed
    }


def test_snapshot_is_bounded(sb: ForkServerSandbox) -> None:
    code = "def f():\n    open('big', 'w').write('x' * 50000)\n"
    task = Task(code, "f", (Call(),), Limits(max_output_bytes=1000), snapshot_files=True)
    files = sb.run(task).files_after
    assert files is not None and files["big"] == b"x" * 1000


def test_without_snapshot_there_is_none(sb: ForkServerSandbox) -> None:
    assert run(sb, ADD, Call((1, 2)), entry="add").files_after is None


def test_work_dir_is_private_per_task(sb: ForkServerSandbox) -> None:
    write = "import os\ndef f():\n    open('left.txt', 'w').write('x')\n    return os.getcwd()\n"
    look = "import os\ndef f():\n    return os.path.exists('left.txt') or os.path.exists('../0/left.txt')\n"
    first = run(sb, write).calls[0].value
    second = run(sb, look)
    assert second.calls[0].value is False
    assert run(sb, write).calls[0].value != first  # a fresh directory each time


# ---------------------------------------------------------------- validation and lifecycle


@pytest.mark.parametrize(
    "task",
    [
        Task(ADD, "not an identifier", (Call(),)),
        Task(ADD, "add", (Call((float("nan"),)),)),
        Task(ADD, "add", (Call((object(),)),)),  # type: ignore[arg-type]
        Task(ADD, "add", (Call(),), files={"../escape": "x"}),
        Task(ADD, "add", (Call(),), files={"/abs": "x"}),
        Task(ADD, "add", (Call(),), Limits(timeout_s=0)),
    ],
)
def test_invalid_tasks_are_rejected_before_running(sb: ForkServerSandbox, task: Task) -> None:
    with pytest.raises(ValueError):
        sb.run(task)


def test_describe_says_what_it_guarantees(sb: ForkServerSandbox) -> None:
    info = sb.describe()
    assert info["mode"] == sb.mode
    assert info["guarantees"] and info["does_not_stop"]
    assert info["seccomp"] in (True, False)


def test_a_dead_fork_server_is_restarted(sb: ForkServerSandbox) -> None:
    assert sb._server is not None
    os.kill(sb._server.launched.fs_pid, signal.SIGKILL)
    result = run(sb, ADD, Call((2, 2)), entry="add")
    assert result.calls[0].value == 4


def test_a_wedged_fork_server_is_replaced_and_the_task_fails(sb: ForkServerSandbox) -> None:
    assert sb._server is not None
    fs_pid = sb._server.launched.fs_pid
    restarts = sb.restarts
    timer = threading.Timer(0.1, os.kill, (fs_pid, signal.SIGSTOP))
    timer.start()
    start = time.monotonic()
    result = run(sb, "import time\ndef f():\n    time.sleep(30)\n", limits=Limits(timeout_s=0.5))
    timer.join()
    assert result.calls[0].status == "timeout"
    assert time.monotonic() - start < 0.5 + 2.0 + 2.0
    assert sb.restarts == restarts + 1
    assert run(sb, ADD, Call((1, 1)), entry="add").calls[0].value == 2


def test_closed_sandbox_refuses_work() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodexSafetyWarning)
        box = open_sandbox("process")
    box.close()
    box.close()
    with pytest.raises(SandboxError):
        box.run(Task(ADD, "add", (Call((1, 2)),)))


def test_opened_from_a_short_lived_thread_survives_it() -> None:
    # bwrap's --die-with-parent follows the spawning *thread*: it must not be this one.
    require_bwrap()
    boxes = []
    thread = threading.Thread(target=lambda: boxes.append(open_sandbox("bwrap")))
    thread.start()
    thread.join()
    time.sleep(0.2)
    try:
        assert boxes[0].run(Task(ADD, "add", (Call((1, 2)),))).calls[0].value == 3
    finally:
        boxes[0].close()


def test_env_var_overrides_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEXSAFETY_SANDBOX", "process")
    monkeypatch.setattr(sandbox_pkg, "_warned", False)
    with pytest.warns(CodexSafetyWarning, match="does NOT stop") as record:
        box = open_sandbox()
        box.close()
        open_sandbox().close()  # once per process, not per sandbox
    assert box.mode == "process"
    assert len([w for w in record if issubclass(w.category, CodexSafetyWarning)]) == 1
    monkeypatch.setenv("CODEXSAFETY_SANDBOX", "sometimes")
    with pytest.raises(SandboxError, match="CODEXSAFETY_SANDBOX"):
        open_sandbox()


def test_unknown_mode() -> None:
    with pytest.raises(SandboxError):
        open_sandbox("docker")
    assert issubclass(SandboxError, CodexSafetyError)


def test_missing_bwrap_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_codexsafety.sandbox import bwrap

    monkeypatch.setattr(bwrap, "bwrap_path", lambda: None)
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        bwrap.BwrapLauncher()


def test_availability_is_cached_and_explained() -> None:
    ok, why = sandbox_available("bwrap")
    assert isinstance(ok, bool) and why
    start = time.monotonic()
    assert sandbox_available("bwrap") == (ok, why)
    assert time.monotonic() - start < 0.01
    assert sandbox_available("process")[0]


def test_shared_sandbox_is_one_per_process() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodexSafetyWarning)
        assert shared_sandbox("process") is shared_sandbox("process")
        assert shared_sandbox("process").run(Task(ADD, "add", (Call((1, 2)),))).calls[0].value == 3


def test_overlap_is_off_when_the_sandboxes_keep_every_cpu_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert overlap_for(2, cpus=2) is False
    assert overlap_for(3, cpus=2) is False
    assert overlap_for(1, cpus=2) is None  # the fork server judges from the gaps
    for value, workers in (("4", 4), ("", 1), ("lots", 1), ("0", 1)):
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", value)
        assert _xdist_workers() == workers


def test_the_fork_servers_process_checks() -> None:
    # What the fork server relies on to end a task early: a process that can still run
    # code is alive; a zombie or a vanished pid is not; children are found per thread.
    from pytest_codexsafety.sandbox import forkserver

    assert forkserver.alive(os.getpid())
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert sleeper.pid in forkserver.children_of(os.getpid())
        assert forkserver.alive(sleeper.pid)
        sleeper.kill()
        deadline = time.monotonic() + 5
        while forkserver.read_proc(f"/proc/{sleeper.pid}/stat").split()[2] != b"Z":
            assert time.monotonic() < deadline  # SIGKILLed: exiting, then a zombie
            time.sleep(0.01)
        assert not forkserver.alive(sleeper.pid)  # a zombie until reaped: runs no more code
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not forkserver.alive(sleeper.pid)  # gone
    assert forkserver.children_of(sleeper.pid) == []
    assert forkserver.read_proc(f"/proc/{sleeper.pid}/stat") == b""



@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="raw exit syscall number")
def test_a_process_whose_main_thread_ended_is_alive_while_another_thread_runs() -> None:
    # The fork server settles a single-threaded exiting process from one /proc read; with
    # more threads it must look at each.  Here the main thread exits alone (SYS_exit, not
    # exit_group): a zombie leader, and a thread that still runs.
    from pytest_codexsafety.sandbox import forkserver

    sys_exit = {"x86_64": 60, "aarch64": 93}[os.uname().machine]
    code = ("import ctypes, threading, time\n"
            "threading.Thread(target=time.sleep, args=(30,)).start()\n"
            f"ctypes.CDLL(None).syscall({sys_exit}, 0)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while (forkserver.task_stat(proc.pid, proc.pid) or [b"?"])[0] != b"Z":
            assert time.monotonic() < deadline, "the main thread did not exit"
            time.sleep(0.01)
        leader = forkserver.task_stat(proc.pid, proc.pid)
        assert leader is not None and not forkserver.runs(leader) and int(leader[17]) == 2
        assert forkserver.alive(proc.pid)
        assert forkserver.alive(proc.pid, leader)
    finally:
        proc.kill()
        proc.wait()
    assert not forkserver.alive(proc.pid)


# ---------------------------------------------------------------- the channel, directly


def test_decoder_accepts_the_protocol_and_nothing_else() -> None:
    import json
    import struct

    def frame(rec: dict[str, object]) -> bytes:
        data = json.dumps(rec).encode()
        return struct.pack(">I", len(data)) + data

    dec = ResultDecoder("tok", 2, 1000)
    recs = dec.feed(frame({"t": "tok", "k": "load", "s": "ok", "d": ""}))
    recs += dec.feed(frame({"t": "tok", "k": "call", "i": 0, "s": "returned", "v": [1]}))
    assert [r.kind for r in recs] == ["load", "call"] and recs[1].value == [1]
    assert dec.problem is None and not dec.complete
    assert dec.feed(frame({"t": "tok", "k": "call", "i": 0, "s": "returned", "v": 2})) == []
    assert dec.problem == "tampered"  # a second record for call 0

    for bad in (
        frame({"t": "other", "k": "load", "s": "ok", "d": ""}),
        frame({"t": "tok", "k": "call", "i": 0, "s": "returned", "v": 1}),  # before load
        frame({"t": "tok", "k": "load", "s": "ok", "d": "", "extra": 1}),
        b"\x00\x00\x00\x03{{{",
        struct.pack(">I", 19) + b'{"t":"tok","v":NaN}',
    ):
        dec = ResultDecoder("tok", 1, 1000)
        dec.feed(bad)
        assert dec.problem == "tampered", bad
    dec = ResultDecoder("tok", 1, 100)
    dec.feed(struct.pack(">I", 10**6))
    assert dec.problem == "oversize"


def test_strict_json_helpers() -> None:
    with pytest.raises(ValueError):
        loads_strict(b'{"a": 1, "a": 2}')
    with pytest.raises(ValueError):
        loads_strict(b"Infinity")
    with pytest.raises(ValueError):
        loads_strict(b"1" * 5000)
    assert plain_json_problem(1e999) is not None  # json.loads turns 1e999 into inf
    assert plain_json_problem({"a": [1, 2.5, None, True, "x"]}) is None
