"""Tying a child process's life to its parent's: run in the child between fork and exec."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent ends, even by SIGKILL (Linux; no-op elsewhere)."""
    if _libc is not None and hasattr(_libc, "prctl"):
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
