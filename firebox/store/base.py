"""The state-store contract: a small revisioned key-value store.

Every piece of control-plane state is a key whose value is an encoded record. Writes are create-only or
compare-and-set on the revision the writer read, so concurrent writers never lose each other's changes.
A key never gets a revision it had before, even once deleted and created again, so a writer holding an
old revision cannot overwrite its successor.
This is the whole contract, chosen so that the embedded SQLite store and a JetStream KV bucket are two
implementations of the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    value: bytes
    revision: int


class KeyExists(Exception):
    """`create` found the key already there."""


class RevisionConflict(Exception):
    """`update` or `delete` found another revision than the one the caller read (or no key at all)."""


class StateStore(Protocol):
    async def get(self, key: str) -> Entry | None: ...

    async def create(self, key: str, value: bytes) -> int:
        """Store a new key; returns its revision. Raises KeyExists."""
        ...

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Replace a key's value if it is still at `expected_revision`. Raises RevisionConflict."""
        ...

    async def delete(self, key: str, expected_revision: int | None = None) -> bool:
        """Remove a key (only at `expected_revision` when given); False when it was absent."""
        ...

    async def scan(self, prefix: str, start_after: str = "", limit: int | None = None) -> list[Entry]:
        """Keys starting with `prefix`, in key order, strictly after `start_after`."""
        ...

    async def close(self) -> None:
        """Release the store; closing it again does nothing."""
        ...
