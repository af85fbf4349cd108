"""Loading the sandbox's seccomp filter (standard library only, Python 3.9+).

The worker compiles the filter into classic BPF (`firebox/sandbox/seccomp.py`, with libseccomp, which the
function's interpreter may lack); this module only hands those bytes to the kernel, in a sandbox's first
process once its namespaces, mounts and identity are final.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from typing import NoReturn

_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1
_SOCK_FILTER_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
_BPF_MAXINSNS = 4096  # the most instructions the kernel accepts in one filter

# glibc has no wrapper for seccomp(2), and only seccomp(2) can apply a filter to every thread at once.
_SECCOMP_SYSCALL = {"x86_64": 317, "aarch64": 277}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program: bytes) -> None:
    """Set no_new_privs, then filter every system call of every thread of this process through `program`.

    `program` is an array of struct sock_filter in native byte order, as `compile_filter()` returns it.
    Raises ValueError when it is not a whole number of instructions, OSError when the kernel refuses.
    The filter cannot be removed: it stays with this process and everything it starts.
    """
    count, remainder = divmod(len(program), _SOCK_FILTER_SIZE)
    if remainder or not 0 < count <= _BPF_MAXINSNS:
        raise ValueError(
            f"a seccomp filter is 1 to {_BPF_MAXINSNS} instructions of {_SOCK_FILTER_SIZE} bytes each,"
            f" not {len(program)} bytes"
        )
    number = _SECCOMP_SYSCALL.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"Firebox cannot load a seccomp filter on {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    libc.prctl.restype = ctypes.c_int
    libc.syscall.argtypes = (ctypes.c_long, ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p)
    libc.syscall.restype = ctypes.c_long

    # Without no_new_privs the kernel refuses a filter from an unprivileged process: a setuid program it
    # then ran would keep the filter while gaining privileges, and could be fooled by refused calls.
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _raise_errno("prctl(PR_SET_NO_NEW_PRIVS)")
    instructions = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(count, ctypes.cast(instructions, ctypes.c_void_p))
    # TSYNC: a thread started before this call (by the runtime, or a library at import) gets the filter too.
    result = int(libc.syscall(number, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(fprog)))
    if result < 0:
        _raise_errno("seccomp(SECCOMP_SET_MODE_FILTER)")
    if result > 0:  # with TSYNC, the id of a thread that could not take the filter; nothing was installed
        raise OSError(errno.EBUSY, f"seccomp: thread {result} runs under another filter and cannot take this one")


def _raise_errno(call: str) -> NoReturn:
    code = ctypes.get_errno()
    raise OSError(code, f"{call}: {os.strerror(code)}")
