"""Layers and their versions: control-plane state kept as records in a StateStore.

Layout of keys: `layer/NAME` holds the number the layer's next version takes, and stays when its last version
is deleted, so a number is never given twice; `lver/NAME/0000000007` holds each version, with its policy.
A publish takes its number from the layer key first, then writes the version: a crash in between costs a
number, never reuses one. The content itself is in the code store, where it stays for the functions using it.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from firebox.errors import ResourceConflict, ResourceNotFound, RevisionMismatch
from firebox.store.arns import Arns
from firebox.store.base import KeyExists, RevisionConflict, StateStore
from firebox.store.records import (
    CodeRef,
    LayerRecord,
    LayerVersionRecord,
    decode_layer,
    decode_layer_version,
    encode,
)
from firebox.store.registry import new_revision_id, now_last_modified

_CAS_ATTEMPTS = 16  # concurrent writers to one layer retry this often before giving up


def _layer_key(name: str) -> str:
    return f"layer/{name}"


def _version_key(name: str, version: int) -> str:
    return f"lver/{name}/{version:010d}"


class LayerRegistry:
    def __init__(self, store: StateStore, arns: Arns) -> None:
        self._store = store
        self._arns = arns

    async def publish(
        self,
        name: str,
        content: CodeRef,
        *,
        description: str = "",
        license_info: str | None = None,
        compatible_runtimes: tuple[str, ...] = (),
        compatible_architectures: tuple[str, ...] = (),
    ) -> LayerVersionRecord:
        """Store `content` as the next version of the layer `name`."""
        number = await self._take_number(name)
        published = LayerVersionRecord(
            name=name,
            version=number,
            content=content,
            created=now_last_modified(),
            policy_revision_id=new_revision_id(),
            description=description,
            license_info=license_info,
            compatible_runtimes=compatible_runtimes,
            compatible_architectures=compatible_architectures,
        )
        await self._store.create(_version_key(name, number), encode(published))
        return published

    async def _take_number(self, name: str) -> int:
        key = _layer_key(name)
        for _ in range(_CAS_ATTEMPTS):
            entry = await self._store.get(key)
            try:
                if entry is None:
                    await self._store.create(key, encode(LayerRecord(name=name, next_version=2)))
                    return 1
                record = decode_layer(entry.value)
                bumped = msgspec.structs.replace(record, next_version=record.next_version + 1)
                await self._store.update(key, encode(bumped), entry.revision)
                return record.next_version
            except (KeyExists, RevisionConflict):
                continue
        raise ResourceConflict(f"The layer {name} is being changed by another request. Try again.")

    async def get(self, name: str, version: int) -> LayerVersionRecord | None:
        entry = await self._store.get(_version_key(name, version))
        return decode_layer_version(entry.value) if entry is not None else None

    async def versions(self, name: str) -> list[LayerVersionRecord]:
        """Every version of the layer that is not deleted, oldest first."""
        return [decode_layer_version(entry.value) for entry in await self._store.scan(f"lver/{name}/")]

    async def names(self) -> list[str]:
        """Every layer ever published, in name order (some may have no version left)."""
        return [decode_layer(entry.value).name for entry in await self._store.scan("layer/")]

    async def delete(self, name: str, version: int) -> None:
        await self._store.delete(_version_key(name, version))

    async def change_policy(
        self,
        name: str,
        version: int,
        change: Callable[[LayerVersionRecord], LayerVersionRecord],
        expected_revision_id: str | None = None,
    ) -> LayerVersionRecord:
        """Apply `change` to the version's policy; the policy gets a new revision id."""
        key = _version_key(name, version)
        for _ in range(_CAS_ATTEMPTS):
            entry = await self._store.get(key)
            if entry is None:
                raise ResourceNotFound(f"Layer version {self._arns.layer(name, version)} does not exist.")
            current = decode_layer_version(entry.value)
            if expected_revision_id is not None and expected_revision_id != current.policy_revision_id:
                raise RevisionMismatch(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetLayerPolicy API to retrieve the latest Revision Id"
                )
            changed = msgspec.structs.replace(change(current), policy_revision_id=new_revision_id())
            try:
                await self._store.update(key, encode(changed), entry.revision)
            except RevisionConflict:
                continue
            return changed
        raise ResourceConflict(f"The layer version {self._arns.layer(name, version)} is being changed. Try again.")
