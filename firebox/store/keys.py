"""Access keys: who may call Firebox's APIs, kept as records in the StateStore under `akey/ID`.

A key belongs to a principal (a user name) and carries that principal's policy, an IAM policy document.
The secret is stored because SigV4 verification needs it: the server recomputes each request's signature.
"""

from __future__ import annotations

import secrets
import string
import time

import msgspec

from firebox.store.base import KeyExists, StateStore

_ID_ALPHABET = string.ascii_uppercase + "234567"  # AWS's access key ids are base32 after their prefix
_encode = msgspec.msgpack.Encoder().encode


class AccessKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    access_key_id: str
    secret_access_key: str
    principal: str
    policy: str  # an IAM policy document, as JSON text
    created: float  # seconds since the epoch


_decode = msgspec.msgpack.Decoder(AccessKey).decode


def _key(access_key_id: str) -> str:
    return f"akey/{access_key_id}"


class AccessKeys:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def create(self, principal: str, policy: str) -> AccessKey:
        while True:
            key = AccessKey(
                access_key_id="AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16)),
                secret_access_key=secrets.token_urlsafe(30),  # 40 characters, as AWS's secrets have
                principal=principal,
                policy=policy,
                created=time.time(),
            )
            try:
                await self._store.create(_key(key.access_key_id), _encode(key))
            except KeyExists:  # one chance in 32^16: draw again
                continue
            return key

    async def get(self, access_key_id: str) -> AccessKey | None:
        entry = await self._store.get(_key(access_key_id))
        return _decode(entry.value) if entry is not None else None

    async def list(self) -> list[AccessKey]:
        return [_decode(entry.value) for entry in await self._store.scan("akey/")]

    async def delete(self, access_key_id: str) -> bool:
        return await self._store.delete(_key(access_key_id))
