"""Request and trace ids: unique, not secret.

They come from a PRNG seeded once from the operating system rather than from os.urandom per id: on this
path a getrandom() system call per id cost about 8 us each, three times per invocation. Nothing relies on
them being unguessable (a sandbox can reach only its own Runtime API).
"""

from __future__ import annotations

import random
import time

_ids = random.Random()  # seeded from os.urandom when created


_VERSION_4 = (0xC000 << 48, 0x8000 << 48, 0xF000 << 64, 4 << 76)  # RFC 4122 variant and version bits


def request_id() -> str:
    """A random (version 4) UUID, as AWS's request ids are (what uuid.UUID(int=..., version=4) gives, at a
    third of its cost)."""
    variant_mask, variant, version_mask, version = _VERSION_4
    bits = (_ids.getrandbits(128) & ~variant_mask & ~version_mask) | variant | version
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def trace_id() -> str:
    """An X-Ray trace header for an invocation that is not sampled."""
    return f"Root=1-{int(time.time()):08x}-{_ids.getrandbits(96):024x};Parent={_ids.getrandbits(64):016x};Sampled=0"
