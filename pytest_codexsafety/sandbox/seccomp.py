"""The seccomp filter every task's child loads: built here, in the parent, as plain bytes.

It answers EPERM to syscalls no candidate needs and that could outlive the task or reach
outside it: SysV IPC and POSIX message queues (objects that survive their creator), kernel
keyrings, ptrace and cross-process memory access, perf, bpf, userfaultfd and io_uring (a
side door around this very filter).  The process mode also denies socket(): it has no
network namespace.  Foreign ABIs (32-bit or x32 syscalls on x86_64) are refused outright,
since their numbers would slip past the list.
"""

from __future__ import annotations

import os
import struct

_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# shmget semget msgget mq_open add_key request_key keyctl ptrace perf_event_open
# process_vm_readv process_vm_writev bpf userfaultfd io_uring_setup/enter/register
_DENY = {
    "x86_64": [29, 64, 68, 240, 248, 249, 250, 101, 298, 310, 311, 321, 323, 425, 426, 427],
    "aarch64": [194, 190, 186, 180, 217, 218, 219, 117, 241, 270, 271, 280, 282, 425, 426, 427],
}
_SOCKET = {"x86_64": 41, "aarch64": 198}

_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
EPERM, ENOSYS = 1, 38


def program(deny_socket: bool, machine: str | None = None) -> bytes | None:
    """The classic-BPF filter as bytes (None where the architecture is not supported)."""
    arch = machine or os.uname().machine
    if arch not in _ARCH:
        return None
    deny = _DENY[arch] + ([_SOCKET[arch]] if deny_socket else [])
    ins = [(_LD_ABS, 0, 0, 4), (_JEQ, 1, 0, _ARCH[arch]), (_RET, 0, 0, _ERRNO | ENOSYS)]
    ins.append((_LD_ABS, 0, 0, 0))  # the syscall number
    if arch == "x86_64":  # x32 numbers have bit 30 set
        ins += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _ERRNO | ENOSYS)]
    for nr in deny:
        ins += [(_JEQ, 0, 1, nr), (_RET, 0, 0, _ERRNO | EPERM)]
    ins.append((_RET, 0, 0, _ALLOW))
    return b"".join(struct.pack("HBBI", *i) for i in ins)


def config_value(deny_socket: bool) -> str | None:
    prog = program(deny_socket)
    return prog.hex() if prog is not None else None
