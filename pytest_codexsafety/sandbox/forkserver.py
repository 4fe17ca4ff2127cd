"""The fork server: the program that runs INSIDE the sandbox.  Standard library only.

Started once per sandbox as ``python -I -S -B -c <this source> <config json>`` with a
scrubbed environment.  It preloads common modules and loads the seccomp filters into
itself (every child inherits them).  It keeps one *spare* child forked and half set up,
forked while the previous task runs, and hands each task to the spare: the fork is off the
critical path.  The child writes its records straight to a pipe the parent made for this
task alone; this server never relays, judges or even reads them.  A child that ends by
itself says so on a notice pipe just before it exits; once /proc confirms that it (and
anything it started) can run no more code, the task is over, without waiting for the
kernel to tear down its memory.

Control messages (parent <-> server) are a 4-byte big-endian length + JSON on a Unix
socket; a task message carries the write end of the task's result pipe (SCM_RIGHTS).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C core (no stub): see spare_main
import ctypes
import fcntl
import gc
import json
import os
import resource
import select
import signal
import socket
import stat
import struct
import sys
import time
from typing import Any, Callable, NoReturn

PRELOAD = (
    "array bisect collections copy dataclasses datetime decimal enum fractions functools hashlib "
    "heapq itertools math operator random re statistics string textwrap typing"
).split()
RESULT_FD = 3  # where a child finds its result pipe (the spare's socket waits there first)
NOTICE_FD = 4  # closed by a child that ends by itself, after its exit status byte
TMPFS_EMPTY_DIR = 40  # st_size of an empty directory on tmpfs (two 20-byte "entries")
HIGH_FD = 100  # the server's own long-lived descriptors sit above the child's fixed ones
MAX_DEPTH = 100  # nesting of a returned value
MAX_ERROR = 1000  # characters of an error message

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg2: int = 0) -> int:
    return int(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def compile_seccomp(program: bytes) -> Any:
    """A ready sock_fprog, built once in the server so that a child only calls prctl."""
    buf = ctypes.create_string_buffer(program)
    prog = _Fprog(len(program) // 8, ctypes.addressof(buf))
    prog.keep = buf  # the filter's memory must live as long as the struct
    return prog


def lock_down(prog: Any, own: Any = None) -> bool:
    """No new privileges, then the filters (if any), on this process and all it forks
    from now on.  True when all of it holds."""
    if _prctl(38, 1) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    for p in (prog, own):
        if p is not None and _libc.prctl(22, 2, ctypes.byref(p), 0, 0) != 0:  # SECCOMP_MODE_FILTER
            return False
    return True


# Syscalls that change ANOTHER process of the same uid without ptrace rights: its rlimits,
# nice value, scheduling policy, CPU affinity, I/O priority.  Inside bwrap the fork server
# has the candidate's uid, and whatever is done to it is inherited by every later task (a
# lowered hard rlimit even broke task setup for good); so a candidate may apply these to
# itself only.
_SELF_ONLY: dict[str, tuple[int, int, tuple[tuple[int, int], ...]]] = {
    # name: (x86_64 number, aarch64 number, the (argument, value) pairs that mean "myself")
    "prlimit64": (302, 261, ((0, 0),)),
    "sched_setparam": (142, 118, ((0, 0),)),
    "sched_setscheduler": (144, 119, ((0, 0),)),
    "sched_setaffinity": (203, 122, ((0, 0),)),
    "sched_setattr": (314, 274, ((0, 0),)),
    "setpriority": (141, 140, ((0, 0), (1, 0))),  # PRIO_PROCESS, who 0
    "ioprio_set": (251, 30, ((0, 1), (1, 0))),  # IOPRIO_WHO_PROCESS, who 0
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def self_only_program(machine: str) -> bytes | None:
    """A classic-BPF filter: the calls above with any other target get EPERM."""
    if machine not in _AUDIT_ARCH:
        return None
    ld, jeq, ret = 0x20, 0x15, 0x06
    allow, eperm = 0x7FFF0000, 0x00050001
    # [arch check] [per syscall: jeq nr -> its block] [allow] [blocks]
    rules: list[tuple[int, tuple[tuple[int, int], ...]]] = [
        (v[0] if machine == "x86_64" else v[1], v[2]) for v in _SELF_ONLY.values()
    ]
    head: list[tuple[int, int, int, int]] = [(ld, 0, 0, 4), (jeq, 1, 0, _AUDIT_ARCH[machine]),
                                             (ret, 0, 0, 0x00050026), (ld, 0, 0, 0)]
    blocks: list[list[tuple[int, int, int, int]]] = []
    for _nr, conds in rules:
        block: list[tuple[int, int, int, int]] = []
        for k, (arg, value) in enumerate(conds):
            left = len(conds) - k - 1  # conditions after this one
            block.append((ld, 0, 0, 16 + 8 * arg))  # the low 32 bits of the argument
            block.append((jeq, 0, 2 * left + 1, value))  # match: next condition; else EPERM
        block += [(ret, 0, 0, allow), (ret, 0, 0, eperm)]
        blocks.append(block)
    ndispatch = len(rules)
    prog = list(head)
    offset = 1  # the blocks start after the dispatch jumps and the allow
    for i, (nr, _conds) in enumerate(rules):
        to_block = (ndispatch - i - 1) + 1 + offset - 1
        prog.append((jeq, to_block, 0, nr))
        offset += len(blocks[i])
    prog.append((ret, 0, 0, allow))
    for block in blocks:
        prog += block
    return b"".join(struct.pack("HBBI", *i) for i in prog)


def _exc_text(exc: BaseException) -> str:
    try:
        text = "%s: %s" % (type(exc).__name__, exc)
    except BaseException:  # a hostile __str__
        text = "%s: <unprintable>" % (type(exc).__name__,)
    return text[:MAX_ERROR]


def _checker() -> Callable[[Any, int], str | None]:
    """The strict plain-JSON check, bound to the real builtins before any candidate code.
    It never calls a method of the value: exact types only, so no __eq__/__len__ runs."""
    _type, _len, _isfinite = type, len, __import__("math").isfinite
    scalars = {_type(None), bool, int, float, str}

    def check(value: Any, budget: int) -> str | None:
        size = 0
        stack = [(value, 0)]
        while stack:
            v, depth = stack.pop()
            t = _type(v)
            if depth > MAX_DEPTH:
                return "nested deeper than %d" % MAX_DEPTH
            if t in scalars:
                if t is float and not _isfinite(v):
                    return "non-finite float %r" % (v,)
                size += _len(v) + 2 if t is str else v.bit_length() // 3 + 2 if t is int else 5
            elif t is list:
                size += _len(v) + 2
                stack.extend((x, depth + 1) for x in v)
            elif t is dict:
                for k, x in v.items():
                    if _type(k) is not str:
                        return "dict key of type %s" % (_type(k).__name__,)
                    size += _len(k) + 4
                    stack.append((x, depth + 1))
            else:
                return "not plain JSON: %s" % (t.__name__,)
            if size > budget:
                return "larger than the %d bytes left on the result channel" % (budget,)
        return None

    return check


# ---------------------------------------------------------------- the child side


def spare_main(stdlib_fds: list[int], locked: bool) -> None:
    """A forked spare: half set up, it waits on RESULT_FD (a socket) for its one task.

    Back to back it is forked while the previous task still runs, as the same uid in
    bwrap.  So until its task arrives it blocks every signal it can, and drops what is
    pending before running anything; the server sends SIGCONT before the task (against
    SIGSTOP); and it acknowledges the task before running anything, so a spare killed
    while idle costs a retry, not a sample."""
    os.setsid()  # its own session and process group: killed as one
    # _signal, not signal: the wrappers turn each of the 64 numbers into an enum (real-time
    # signals by a caught ValueError): ~0.5 ms here and ~0.2 ms on the task's clock.
    mask = _signal.pthread_sigmask(signal.SIG_BLOCK, _signal.valid_signals())
    _signal.set_wakeup_fd(-1)
    _signal.signal(signal.SIGCHLD, _signal.SIG_DFL)
    _signal.signal(signal.SIGINT, _signal.default_int_handler)
    keep = []
    for n, fd in enumerate(stdlib_fds):
        os.dup2(fd, NOTICE_FD + 1 + n)
        keep.append(NOTICE_FD + 1 + n)
    os.closerange(NOTICE_FD + 1 + len(keep), 1 << 20)  # nothing of the server's is left
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    _warm_up()
    sock = socket.socket(fileno=RESULT_FD)
    buf, fds = b"", []
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        data, got, _flags, _addr = socket.recv_fds(sock, 1 << 16, 1)
        fds += got
        if not data:
            os._exit(0)  # the server let us go unused
        buf += data
    sock.sendall(b"!")  # taken: from here on a death is this task's
    sock.detach()
    _discard_pending()  # whatever the last task sent while we waited
    _signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.dup2(fds[0], RESULT_FD)  # the result pipe replaces the socket
    os.close(fds[0])
    run_child(json.loads(buf[4:]), locked, keep)


def _discard_pending() -> None:
    """Drop blocked, pending signals: a signal is discarded while its action is SIG_IGN."""
    for sig in _signal.sigpending():
        if sig != signal.SIGCONT:  # ours (harmless either way)
            old = _signal.signal(sig, _signal.SIG_IGN)
            _signal.signal(sig, old)


def _warm_up() -> None:
    """Touch what every task touches (JSON, compile, a call, the checker), so that its
    copy-on-write faults happen now, while this spare waits, not on the task's clock."""
    text = json.dumps({"token": "0" * 32, "code": "def f(a, b):\n    return a + b\n", "entry": "f",
                       "calls": [[[1, 2], {}]], "limits": {"timeout_s": 1.0}, "files": {}})
    task = json.loads(text)
    scope: dict[str, Any] = {}
    exec(compile(task["code"], "warm.py", "exec"), scope)
    value = scope["f"](*task["calls"][0][0])
    _checker()(value, 100)
    record = {"k": "call", "i": 0, "s": "returned", "t": task["token"]}
    json.dumps(record, allow_nan=False, separators=(",", ":"))
    struct.pack(">I", len(text))


def run_child(task: dict[str, Any], locked: bool, keep: list[int]) -> None:
    """Load the candidate, run the calls, write one record each; never returns."""
    token = task["token"]
    dumps, pack, write, close, _exit = json.dumps, struct.pack, os.write, os.close, os._exit

    def exit_(code: int) -> None:
        close(RESULT_FD)  # EOF for the parent now, not after the address space is torn down
        try:  # the server need not wait for the teardown either (it checks /proc first)
            write(NOTICE_FD, bytes((code,)))
            close(NOTICE_FD)
        except OSError:
            pass
        _exit(code)

    budget = int(task["limits"]["max_output_bytes"])

    def send(rec: dict[str, Any], raw_value: str | None = None) -> None:
        rec["t"] = token
        text = dumps(rec, allow_nan=False, separators=(",", ":"))
        if raw_value is not None:  # the value is already encoded: splice it in
            text = text[:-1] + ',"v":' + raw_value + "}"
        data = text.encode("utf-8")
        view = memoryview(pack(">I", len(data)) + data)
        while view:
            view = view[write(RESULT_FD, view):]

    try:
        _finish_setup(task, locked, keep)
    except BaseException as exc:
        send({"k": "setup_error", "d": _exc_text(exc)})
        exit_(70)
    check = _checker()
    module = type(sys)("candidate")
    module.__file__ = "candidate.py"
    sys.modules["candidate"] = module
    try:
        compiled = compile(task["code"], "candidate.py", "exec")
    except BaseException as exc:
        kind = "syntax_error" if isinstance(exc, (SyntaxError, ValueError)) else "load_error"
        send({"k": "load", "s": kind, "d": _exc_text(exc)})
        exit_(0)
    fn: Any = None
    try:
        exec(compiled, module.__dict__)
        fn = module.__dict__.get(task["entry"])
        status = "ok" if callable(fn) else "missing_entry_point"
        detail = "" if callable(fn) else "no function %r defined at module level" % (task["entry"],)
    except ImportError as exc:
        status, detail = "import_error", _exc_text(exc)
    except BaseException as exc:  # SystemExit at load time is a failed load, not a pass
        status, detail = "load_error", _exc_text(exc)
    send({"k": "load", "s": status, "d": detail})
    if status != "ok":
        exit_(0)
    for i, (args, kwargs) in enumerate(task["calls"]):
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # SystemExit too: "raised", never a pass
            send({"k": "call", "i": i, "s": "raised", "e": _exc_text(exc)})
            continue
        problem = check(value, budget)
        text = ""
        if problem is None:
            try:
                text = dumps(value, allow_nan=False, separators=(",", ":"))
                if len(text) > budget:
                    problem = "larger than the %d bytes left on the result channel" % budget
            except BaseException as exc:  # an int too long to print, say
                problem = _exc_text(exc)
        if problem is not None:
            send({"k": "call", "i": i, "s": "invalid", "e": problem[:MAX_ERROR]})
            continue
        budget -= len(text)
        send({"k": "call", "i": i, "s": "returned"}, text)
    exit_(0)


def _finish_setup(task: dict[str, Any], locked: bool, keep: list[int]) -> None:
    if not locked:
        raise OSError("could not set no_new_privs or load the seccomp filter")
    os.chdir(task["dir"])
    uid, gid = task["uid"], task["gid"]
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    for rel, text in task["files"].items():
        if os.path.dirname(rel):
            os.makedirs(os.path.dirname(rel), exist_ok=True)
        with open(rel, "w", encoding="utf-8") as f:
            f.write(text)
    lim = task["limits"]
    cpu = int(float(lim["timeout_s"]) * (len(task["calls"]) + 1)) + 1
    mb = 1024 * 1024
    for res, val in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_AS, int(lim["memory_mb"]) * mb),
        (resource.RLIMIT_NPROC, int(lim["max_processes"])),
        (resource.RLIMIT_FSIZE, int(lim["max_file_mb"]) * mb),
        (resource.RLIMIT_NOFILE, int(lim["max_open_files"])),
    ):
        hard = val + 1 if res == resource.RLIMIT_CPU else val  # SIGXCPU first, then SIGKILL
        resource.setrlimit(res, (val, hard))
    if keep:  # imports go through kept descriptors: the prefix may be unreadable to this uid
        sys.path[:] = ["/proc/self/fd/%d" % fd for fd in keep]
        sys.path_importer_cache.clear()


# ---------------------------------------------------------------- the server side


class Server:
    def __init__(self, config: dict[str, Any]) -> None:
        self.cfg = config
        self.ctrl = socket.socket(fileno=high_fd(config["ctrl_fd"]))
        self.inbuf = b""
        self.fds: list[int] = []  # descriptors received, oldest first
        # Only there are the whole of /tmp, /dev/shm and /work the task's, to wipe.
        self.pidns = bool(config["pidns"]) and os.getpid() == 1
        self.wake_r, self.wake_w = (high_fd(fd) for fd in os.pipe())
        os.set_blocking(self.wake_w, False)
        self.stdlib_fds: list[int] = []
        self.prog: Any = None
        self.own: Any = None  # the self-only filter, loaded after the parent's
        self.locked = False  # no_new_privs and the filters hold here, so in every child
        self.pid = os.getpid()
        self.children_lists = os.path.exists("/proc/%d/task/%d/children" % (self.pid, self.pid))
        self.own_stat = task_stat(self.pid, self.pid)  # its thread count (one) is all that is used
        self.tmpfs = tmpfs_mounts()
        self.spare: tuple[int, socket.socket, int] | None = None  # pid, its socket, its notice pipe
        self.current: dict[str, Any] | None = None
        # Tasks back to back (cached samples): fork the next spare while a task runs, and
        # end a task as soon as its child is exiting -- both are then off the next task's
        # path.  With gaps between tasks (a model call before each), keep the CPU free for
        # the task and for pytest reading its results: fork in the gap, and let the child
        # finish exiting while the server waits.
        self.fork_s: float | None = None  # how long forking a spare takes (moving average)
        self.last_done: float | None = None  # when the last task ended
        self.gaps: list[float] = []  # the last 3 waits from the end of our work for a task to the next

    def start(self) -> None:
        _prctl(4, 0)  # PR_SET_DUMPABLE=0: candidates may not ptrace us or open our /proc files
        if os.getpid() != 1:
            _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans come back to us to be killed
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for name in PRELOAD:
            __import__(name)
        if self.cfg["uid"] is not None:
            for path in sys.path:
                if os.path.isdir(path):
                    self.stdlib_fds.append(high_fd(os.open(path, os.O_RDONLY | os.O_DIRECTORY)))
        if self.cfg["seccomp"]:  # built by the parent (seccomp.py); only loaded here
            prog = compile_seccomp(bytes.fromhex(self.cfg["seccomp"]))
            own_code = self_only_program(os.uname().machine)
            own = compile_seccomp(own_code) if own_code is not None else None
            if self._probe(prog, own):
                self.prog, self.own = prog, own
            elif self._probe(prog, None):
                self.prog = prog
        # Loaded here once, and inherited by every child: a child loading (and the kernel
        # compiling) the filters itself cost a task about 0.3 ms of CPU.  Nothing this server
        # does needs a call they deny.
        self.locked = lock_down(self.prog, self.own)
        gc.collect()
        gc.freeze()  # keep the preloaded heap shared (copy-on-write) across children
        self.make_spare()
        self.send({"op": "ready", "seccomp": self.prog is not None, "self_only": self.own is not None,
                   "pidns": self.pidns,
                   "python": sys.version.split()[0]})

    def _probe(self, prog: Any, own: Any) -> bool:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if lock_down(prog, own) else 1)
        return os.waitpid(pid, 0)[1] == 0

    def make_spare(self) -> None:
        start = time.monotonic()
        self._fork_spare()
        took = time.monotonic() - start
        self.fork_s = took if self.fork_s is None else 0.8 * self.fork_s + 0.2 * took

    def _fork_spare(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        notice_r, notice_w = (high_fd(fd) for fd in os.pipe())
        pid = os.fork()
        if pid == 0:
            try:
                ours.detach()  # closed by spare_main's closerange, never by a late GC
                os.dup2(theirs.detach(), RESULT_FD)
                os.dup2(notice_w, NOTICE_FD)
                spare_main(self.stdlib_fds, self.locked)
            finally:
                os._exit(71)
        theirs.close()
        os.close(notice_w)
        self.spare = (pid, ours, notice_r)

    def drop_spare(self) -> None:
        if self.spare is not None:
            pid, sock, notice = self.spare
            self.spare = None
            sock.close()
            os.close(notice)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- control channel
    def send(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode("utf-8")
        self.ctrl.sendall(struct.pack(">I", len(data)) + data)

    def pending(self) -> bool:
        """A whole control message is already buffered."""
        return len(self.inbuf) >= 4 and len(self.inbuf) >= 4 + struct.unpack(">I", self.inbuf[:4])[0]

    def recv(self) -> dict[str, Any] | None:
        """The next control message, or None at EOF (the parent is gone)."""
        while True:
            if len(self.inbuf) >= 4:
                (n,) = struct.unpack(">I", self.inbuf[:4])
                if len(self.inbuf) >= 4 + n:
                    body, self.inbuf = self.inbuf[4:4 + n], self.inbuf[4 + n:]
                    msg: dict[str, Any] = json.loads(body)
                    return msg
            data, fds, _flags, _addr = socket.recv_fds(self.ctrl, 1 << 16, 4)
            self.fds.extend(fds)
            if not data:
                return None
            self.inbuf += data

    def idle_wake(self) -> bool:
        """Wait for a control message or a child's exit; True for the exit."""
        return self.wake_r in select.select([self.ctrl.fileno(), self.wake_r], [], [])[0]

    def serve(self) -> None:
        while True:
            # Between tasks, reap what the last one left exiting (zombies count against
            # the process limit); recv() below returns a buffered message without waiting.
            while not self.pending() and self.idle_wake():
                os.read(self.wake_r, 4096)
                self.reap()
            msg = self.recv()
            if self.last_done is not None:
                self.gaps = self.gaps[-2:] + [time.monotonic() - self.last_done]
            if msg is None:
                break
            if msg.get("op") == "task":
                self.run_task(msg, self.fds.pop(0))
            elif msg.get("op") == "clean":
                self.cleanup(msg["id"], keep=False, scratch=False)
            # a "kill" for a task that already ended is stale: ignore it
        self.shut_down()

    def shut_down(self) -> NoReturn:
        self.drop_spare()
        self.kill_all(time.monotonic() + 2)
        sys.exit(0)

    # -- one task
    def run_task(self, msg: dict[str, Any], result_fd: int) -> None:
        tdir = os.path.join(self.cfg["work_root"], str(msg["id"]))
        os.mkdir(tdir, 0o700)
        if self.cfg["uid"] is not None:
            os.chown(tdir, self.cfg["uid"], self.cfg["gid"])
        task = {k: msg[k] for k in ("token", "code", "entry", "calls", "limits", "files")}
        task.update(dir=tdir, uid=self.cfg["uid"], gid=self.cfg["gid"])
        body = json.dumps(task).encode("utf-8")
        overlap = self.overlap(msg.get("overlap"))
        pid, notice = self.dispatch(body, result_fd, overlap)
        os.close(result_fd)
        self.current = {"pid": pid, "status": None}
        if not overlap:
            os.close(notice)
        by_parent, killed, said = self.await_end(msg["id"], pid, notice if overlap else None)
        status = self.current["status"]
        leftovers, wedged = self.kill_all(time.monotonic() + 2)
        self.current = None
        code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        if status is None and said:
            code = said[-1]
        # Every process of the task is gone or inside its exit: say so now; the wipe (and,
        # with gaps between tasks, the next spare) follow while the parent reads, and are
        # done before the next message is read.
        self.send({"op": "done", "id": msg["id"], "by_parent": by_parent, "leftovers": leftovers + killed,
                   "wedged": wedged, "exit": code,
                   "signal": os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None})
        self.cleanup(msg["id"], keep=bool(msg.get("keep")), scratch=True)
        if self.spare is None and not self.pending():
            self.make_spare()  # in the gap before the next task
        self.last_done = time.monotonic()

    def overlap(self, choice: Any) -> bool:
        """Fork the next spare beside this task and end it once its child is exiting?
        Yes when tasks come within a fork's time of each other (a fork after each task
        would delay the next one; the median of 3 gaps, so one slow turn in pytest changes
        nothing), unless the parent chose."""
        if choice is not None:
            return bool(choice)
        gap = sorted(self.gaps)[len(self.gaps) // 2] if self.gaps else float("inf")
        return self.fork_s is not None and gap < 1.5 * self.fork_s

    def await_end(self, task_id: int, pid: int, notice: int | None) -> tuple[bool, int, bytes]:
        """Wait until the task's child has exited, or (watching ``notice``) is exiting, or
        the parent had it killed.  Returns (killed by the parent, processes killed then,
        the exit status byte the child sent on the notice pipe)."""
        assert self.current is not None
        by_parent, killed = False, 0
        said = b""
        ended = False  # it called exit and can run no more code: no need to wait for its teardown
        watch_until = 0.0  # after the notice: look in /proc until then for the exit to begin
        while self.current["status"] is None and not ended:
            watched = [self.ctrl.fileno(), self.wake_r] + ([notice] if notice is not None else [])
            r, _, _ = select.select(watched, [], [], 0.0001 if watch_until else None)
            if self.wake_r in r:
                os.read(self.wake_r, 4096)
                self.reap()
            if notice is not None and notice in r:
                data = os.read(notice, 64)
                said += data[-1:]
                if not data:  # EOF: closed by the child (or by its exit)
                    os.close(notice)
                    notice = None
                    # It closes the notice just before exit(): give it a moment to get there.
                    watch_until = time.monotonic() + 0.002 if said else 0.0
            if watch_until and self.current["status"] is None:
                ended = not alive(pid)
                if not ended and time.monotonic() >= watch_until:
                    watch_until = 0.0  # not exiting after all: wait for its exit status
            if self.ctrl.fileno() in r:
                got = self.recv()
                if got is None:  # the parent is gone: leave nothing behind
                    self.shut_down()
                if got.get("op") == "kill" and got.get("id") == task_id:
                    by_parent = True
                    killed += self.kill_all(time.monotonic() + 2)[0]
        if notice is not None:
            os.close(notice)
        return by_parent, killed, said

    def dispatch(self, body: bytes, result_fd: int, overlap: bool) -> tuple[int, int]:
        """Hand the task to the spare; its pid and notice pipe once it has taken it.
        With ``overlap`` the next spare is forked while this one wakes up and acknowledges."""
        for _ in range(3):
            if self.spare is None:
                self.make_spare()
            assert self.spare is not None
            pid, sock, notice = self.spare
            self.spare = None
            try:
                os.kill(pid, signal.SIGCONT)  # the last task may have stopped it
                socket.send_fds(sock, [struct.pack(">I", len(body))], [result_fd])
                sock.sendall(body)
                sent = True
            except OSError:
                sent = False
            if sent and overlap:
                # result_fd stays open until the ack (a retry resends it), so this spare
                # inherits it until its closerange: the parent's EOF can wait for that.
                self.make_spare()
            try:
                sock.settimeout(2.0)
                if sent and sock.recv(1) == b"!":
                    return pid, notice
            except OSError:
                pass
            finally:
                sock.close()
            os.close(notice)  # the spare died idle (or was killed): use a fresh one
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise OSError("no spare child could take the task")

    def reap(self) -> bool:
        """Reap every exited child; False when we have no children left at all."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if self.current is not None and pid == self.current["pid"]:
                self.current["status"] = status

    def kill_all(self, deadline: float) -> tuple[int, bool]:
        """SIGKILL every process of the task, orphans included: (how many, still running?).

        Everything below this server but the idle spare is the task's.  A process that
        ended by itself and is still tearing down its memory (or is a zombie) runs no more
        code: it is not waited for, provided two scans agree that nothing else is there (a
        process seen exiting could have forked just before)."""
        seen: set[int] = set()
        settled: set[int] | None = None
        while self.reap():
            victims = self.victims()
            running = [pid for pid, runs_code in victims.items() if runs_code]
            # What we killed is waited for until reaped (it holds the process limit the
            # next task starts with); only a child that ended by itself is not.
            if not running and not victims.keys() & seen:
                if victims.keys() == settled:
                    break
                settled = set(victims)
                continue
            settled = None
            seen.update(running)
            for pid in running:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return len(seen), True
            time.sleep(0.0005)
        if self.current is not None:
            seen.discard(self.current["pid"])
        return len(seen), False

    def victims(self) -> dict[int, bool]:
        """Our descendants but the idle spare (orphans are re-parented to us: we are pid 1
        or a subreaper), each with whether it can still run code.
        Walked down the kernel's children lists where it keeps them (the process mode
        shares /proc with every process on the machine), else found in a scan of /proc."""
        spare = self.spare[0] if self.spare is not None else None
        if not self.children_lists:
            return {pid: alive(pid) for pid in self.scan_victims() if pid != spare}
        out: dict[int, bool] = {}
        stack = children_of(self.pid, self.own_stat)  # one read: this server has one thread
        while stack:
            pid = stack.pop()
            if pid == spare:
                continue  # the idle spare has no children
            fields = task_stat(pid, pid)
            out[pid] = fields is not None and alive(pid, fields)
            if fields is not None:
                stack.extend(children_of(pid, fields))
        return out

    def scan_victims(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                data = read_proc("/proc/%s/stat" % name)
                if data:
                    ppid = int(data[data.rindex(b")") + 2:].split()[1])
                    children.setdefault(ppid, []).append(int(name))
        out, stack = [], [os.getpid()]
        while stack:
            for c in children.get(stack.pop(), ()):
                out.append(c)
                stack.append(c)
        return out

    def empty_tmpfs(self, top: str) -> bool:
        """Whether ``top`` is a tmpfs directory with nothing in it: on tmpfs a directory's
        size counts its entries (40 bytes when empty), so one lstat tells."""
        if top not in self.tmpfs:
            return False
        st = os.lstat(top)
        return stat.S_ISDIR(st.st_mode) and st.st_size == TMPFS_EMPTY_DIR and st.st_nlink == 2

    def cleanup(self, task_id: int, keep: bool, scratch: bool) -> None:
        """Remove what a task left: its dir (unless the parent reads it first) and, in a
        private namespace, everything in the writable places (/tmp, /dev/shm, /work)."""
        if self.pidns:
            for top in self.cfg["scratch"] if scratch else []:
                if not self.empty_tmpfs(top):
                    wipe_tree(top)
            if not keep:
                wipe_tree(self.cfg["work_root"])  # a mount point: it cannot be swapped
        elif not keep:
            path = os.path.join(self.cfg["work_root"], str(task_id))
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return
            if stat.S_ISDIR(st.st_mode):  # never chdir through a planted symlink
                wipe_tree(path)
                os.rmdir(path)
            else:
                os.unlink(path)


def task_stat(pid: int, tid: int) -> list[bytes] | None:
    """The fields of /proc/PID/task/TID/stat after the command name (state first), or
    None once that thread is gone."""
    data = read_proc("/proc/%d/task/%d/stat" % (pid, tid))
    return data[data.rindex(b")") + 2:].split() if data else None


def runs(fields: list[bytes]) -> bool:
    """Can this thread still run user code: neither a zombie nor exiting (PF_EXITING)?"""
    return fields[0] not in (b"Z", b"X", b"x") and not int(fields[6]) & 0x4


def alive(pid: int, fields: list[bytes] | None = None) -> bool:
    """Can any thread of this process still run user code?  False once every thread is a
    zombie or exiting, or the process is gone.  ``fields``: its main thread's stat, if
    just read.  Each /proc read costs tens of microseconds on a task's end, so a process
    whose only thread is exiting is settled by that one read (the thread count includes
    any thread not yet reaped, and an exiting thread starts no other)."""
    fields = task_stat(pid, pid) if fields is None else fields
    if fields is None:
        return False
    if runs(fields):
        return True
    if int(fields[17]) == 1:  # num_threads
        return False
    # Several threads: list them twice, as one seen exiting could have started another.
    base = "/proc/%d/task" % pid
    try:
        before = os.listdir(base)
        for tid in before:
            other = task_stat(pid, int(tid))
            if other is not None and runs(other):
                return True
        return sorted(os.listdir(base)) != sorted(before)
    except FileNotFoundError:
        return False


def children_of(pid: int, fields: list[bytes] | None = None) -> list[int]:
    """The children of every thread of ``pid`` (none once it is gone); ``fields``: its
    main thread's stat, if just read (one read then serves a single-threaded process)."""
    if fields is not None and int(fields[17]) == 1:
        tids = [str(pid)]
    else:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            return []
    return [int(c) for tid in tids for c in read_proc("/proc/%d/task/%s/children" % (pid, tid)).split()]


def tmpfs_mounts() -> set[str]:
    """Mount points of tmpfs file systems, from /proc/self/mountinfo."""
    found: set[str] = set()
    try:
        with open("/proc/self/mountinfo", "rb") as f:  # longer than read_proc reads
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return found
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) > 4 and right.split()[:1] == ["tmpfs"]:
            found.add(fields[4])
    return found


def read_proc(path: str) -> bytes:
    """A small /proc file, or b"" when it is gone (plain syscalls: this is on every task's path)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""
    finally:
        os.close(fd)


def high_fd(fd: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, HIGH_FD)
    os.close(fd)
    return new


def wipe_tree(top: str) -> None:
    """Delete everything under ``top`` without recursion and without following symlinks.

    Iterative with chdir, so a hostile tree (very deep, unreadable modes) cannot exhaust
    the stack or descriptors; modes are repaired on the way down (we own the files)."""
    os.chdir(top)
    os.chmod(".", 0o700)
    stack: list[str] = []
    try:
        while True:
            into = None
            with os.scandir(".") as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        into = e.name
                        break
                    os.unlink(e.name)
            if into is not None:
                if stat.S_IMODE(os.lstat(into).st_mode) & 0o700 != 0o700:
                    os.chmod(into, 0o700)
                os.chdir(into)
                stack.append(into)
                continue
            if not stack:
                break
            name = stack.pop()
            os.chdir("..")
            os.rmdir(name)
    finally:
        os.chdir("/")


def main() -> None:
    server = Server(json.loads(sys.argv[1]))
    server.start()
    server.serve()


if __name__ == "__main__":
    main()
