"""Secrets in the state store, sealed: AES-GCM (the `cryptography` library) under a key the operator holds.

Each sealed value is bound to what it belongs to (its context, such as a function version), so a value
copied into another record does not open there. The key is a file of 32 random bytes: made in the data
directory on the first start, or given by the operator (`--state-key-file`) to keep it elsewhere.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firebox.store.base import StateStore
from firebox.store.files import write_whole

_KEY_BYTES = 32
_NONCE_BYTES = 12  # AES-GCM's standard nonce; random, as each key seals far fewer than 2**32 values


class WrongStateKey(Exception):
    """A sealed value does not open with this key: the key is not the one the data was sealed with."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise WrongStateKey(f"A state key is {_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path, *, create: bool) -> Sealer:
        """The key in `path`; when `create` and there is none, a new one written there first (0600)."""
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, secrets.token_bytes(_KEY_BYTES))  # a crash never leaves half a key
        return cls(path.read_bytes())

    def seal(self, plain: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise WrongStateKey(f"A sealed value of {context} does not open with this state key") from None


_CHECK_KEY = "meta/state-key-check"
_CHECK = b"firebox state key"


async def check_state_key(store: StateStore, sealer: Sealer) -> None:
    """Make sure `sealer` holds the key this store's values were sealed with (raises WrongStateKey): a value
    sealed on the first start must open. Started with another key, Firebox would otherwise find out only
    when it first reads a function's variables."""
    entry = await store.get(_CHECK_KEY)
    if entry is None:
        await store.create(_CHECK_KEY, sealer.seal(_CHECK, _CHECK_KEY))
    elif sealer.open(entry.value, _CHECK_KEY) != _CHECK:
        raise WrongStateKey("The state key check value is not what was sealed")
