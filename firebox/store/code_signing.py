"""Code signing state: code signing configurations and the signing profile versions they trust.

Layout of keys: `csc/ID` holds each code signing configuration, `sigprof/NAME/VERSION` each signing profile
version (its public key; the private key never reaches the server). Which configuration a function uses is
part of the function's own record (`FunctionRegistry.set_code_signing_config`).
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec

from firebox.errors import ResourceConflict, ResourceNotFound
from firebox.store.arns import Arns
from firebox.store.base import KeyExists, RevisionConflict, StateStore
from firebox.store.records import (
    CodeSigningConfigRecord,
    SigningProfileRecord,
    decode_code_signing_config,
    decode_signing_profile,
    encode,
)
from firebox.store.registry import now_last_modified

_CAS_ATTEMPTS = 16
_Record = TypeVar("_Record")
_CONFIG_ID_ALPHABET = string.ascii_lowercase + string.digits  # what the model's ARN pattern allows
_VERSION_ALPHABET = string.ascii_letters + string.digits


def _config_key(config_id: str) -> str:
    return f"csc/{config_id}"


def _profile_key(name: str, version: str) -> str:
    return f"sigprof/{name}/{version}"


def _draw(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


async def _create_fresh(store: StateStore, draw: Callable[[], tuple[str, _Record]]) -> _Record:
    """Store the record `draw` makes under the key it names, drawing again while the key is taken (a random
    id or version collides about never: 36^17 and 62^10 of them)."""
    while True:
        key, record = draw()
        try:
            await store.create(key, encode(record))
        except KeyExists:
            continue
        return record


async def _change(
    store: StateStore, key: str, decode: Callable[[bytes], _Record], change: Callable[[_Record], _Record]
) -> _Record | None:
    """Store what `change` makes of the record at `key`, retrying when a concurrent writer got there first;
    None when there is no such key."""
    for _ in range(_CAS_ATTEMPTS):
        entry = await store.get(key)
        if entry is None:
            return None
        changed = change(decode(entry.value))
        try:
            await store.update(key, encode(changed), entry.revision)
        except RevisionConflict:
            continue
        return changed
    raise ResourceConflict(f"{key} is being changed by another request. Try again.")


class CodeSigningConfigRegistry:
    def __init__(self, store: StateStore, arns: Arns) -> None:
        self._store = store
        self._arns = arns

    async def create(
        self, allowed_publishers: tuple[str, ...], policy: str, description: str, tags: dict[str, str]
    ) -> CodeSigningConfigRecord:
        def draw() -> tuple[str, CodeSigningConfigRecord]:
            config_id = "csc-" + _draw(_CONFIG_ID_ALPHABET, 17)
            record = CodeSigningConfigRecord(
                config_id=config_id,
                allowed_publishers=allowed_publishers,
                last_modified=now_last_modified(),
                untrusted_artifact_on_deployment=policy,
                description=description,
                tags=tags,
            )
            return _config_key(config_id), record

        return await _create_fresh(self._store, draw)

    async def get(self, config_id: str) -> CodeSigningConfigRecord | None:
        entry = await self._store.get(_config_key(config_id))
        return decode_code_signing_config(entry.value) if entry is not None else None

    async def change(
        self, config_id: str, change: Callable[[CodeSigningConfigRecord], CodeSigningConfigRecord]
    ) -> CodeSigningConfigRecord:
        """Store what `change` makes of the configuration."""
        changed = await _change(self._store, _config_key(config_id), decode_code_signing_config, change)
        if changed is None:
            raise ResourceNotFound(f"Code signing configuration not found: {self._arns.code_signing_config(config_id)}")
        return changed

    async def delete(self, config_id: str) -> bool:
        return await self._store.delete(_config_key(config_id))

    async def list(self, marker: str, limit: int) -> tuple[list[CodeSigningConfigRecord], str | None]:
        """A page of configurations in order of id, after the one `marker` names; and the next page's marker."""
        entries = await self._store.scan("csc/", start_after=_config_key(marker) if marker else "", limit=limit + 1)
        records = [decode_code_signing_config(entry.value) for entry in entries[:limit]]
        return records, (records[-1].config_id if len(entries) > limit else None)


class SigningProfileRegistry:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def create(self, name: str, public_key: bytes) -> SigningProfileRecord:
        """A new version of the profile `name` (a profile gets one more with each call), trusting `public_key`."""

        def draw() -> tuple[str, SigningProfileRecord]:
            version = _draw(_VERSION_ALPHABET, 10)
            return _profile_key(name, version), SigningProfileRecord(name, version, public_key, time.time())

        return await _create_fresh(self._store, draw)

    async def get(self, name: str, version: str) -> SigningProfileRecord | None:
        entry = await self._store.get(_profile_key(name, version))
        return decode_signing_profile(entry.value) if entry is not None else None

    async def list(self) -> list[SigningProfileRecord]:
        return [decode_signing_profile(entry.value) for entry in await self._store.scan("sigprof/")]

    async def revoke(self, name: str, version: str) -> SigningProfileRecord | None:
        """Mark the version revoked (None when there is no such version); revoking it again changes nothing."""

        def revoke(record: SigningProfileRecord) -> SigningProfileRecord:
            return record if record.revoked is not None else msgspec.structs.replace(record, revoked=time.time())

        return await _change(self._store, _profile_key(name, version), decode_signing_profile, revoke)
