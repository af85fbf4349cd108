"""Request and trace ids: unique, not secret.

They come from a PRNG seeded once from the operating system rather than from os.urandom per id: on this
path a getrandom() system call per id cost about 8 us each, three times per invocation. Nothing relies on
them being unguessable (a sandbox can reach only its own Runtime API).
"""

from __future__ import annotations

import random
import time
import uuid

_ids = random.Random()  # seeded from os.urandom when created


def request_id() -> str:
    """A random (version 4) UUID, as AWS's request ids are."""
    return str(uuid.UUID(int=_ids.getrandbits(128), version=4))


def trace_id() -> str:
    """An X-Ray trace header for an invocation that is not sampled."""
    return f"Root=1-{int(time.time()):08x}-{_ids.getrandbits(96):024x};Parent={_ids.getrandbits(64):016x};Sampled=0"
