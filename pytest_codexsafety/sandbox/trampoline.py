"""Root-only step before bwrap, when the interpreter lives where uid 65534 cannot reach it
(a pyenv under /root, mode 0700).  Standard library only; run as ``python -I -S -c``.

It enters a private mount namespace (the host's mounts are untouched), covers each
unreachable ancestor with a small tmpfs and binds the interpreter's directories back at
their own paths, then drops to uid 65534 and execs bwrap.  So bwrap, and everything in the
sandbox, is an unprivileged uid on the host too -- not root mapped to a fake uid.
"""

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def main() -> None:
    cfg = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    mount = libc.mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    # Descriptors now (a bind source must be in our new namespace) and before the tmpfs
    # below hides the paths they are opened by.
    fds = {d: os.open(d, os.O_PATH | os.O_DIRECTORY) for d in cfg["expose"]}
    for top in cfg["cover"]:
        _check(mount(b"tmpfs", top.encode(), b"tmpfs", 0, b"mode=0755,size=1m"), "tmpfs on " + top)
    for d, fd in fds.items():
        os.makedirs(d, mode=0o755, exist_ok=True)
        src = ("/proc/self/fd/%d" % fd).encode()
        _check(mount(src, d.encode(), None, MS_BIND | MS_REC, None), "binding " + d)
        os.close(fd)
    uid = int(cfg["uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    os.execv(cfg["argv"][0], cfg["argv"])


if __name__ == "__main__":
    main()
