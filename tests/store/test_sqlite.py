"""The SQLite store's own behaviour beyond the contract: the entries it keeps in memory never hide a write."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from firebox.store import RevisionConflict, SqliteStore


def test_a_read_after_each_kind_of_write_sees_it(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "state.db")
        try:
            first = await store.create("fn/a", b"one")
            assert await store.get("fn/a") is await store.get("fn/a")  # kept: the same entry each time
            second = await store.update("fn/a", b"two", first)
            assert (await store.get("fn/a")) == (await store.get("fn/a"))
            entry = await store.get("fn/a")
            assert entry is not None and (entry.value, entry.revision) == (b"two", second)
            with pytest.raises(RevisionConflict):
                await store.update("fn/a", b"stale", first)
            assert (await store.get("fn/a")) == entry
            assert await store.delete("fn/a")
            assert await store.get("fn/a") is None
            third = await store.create("fn/a", b"three")
            again = await store.get("fn/a")
            assert again is not None and (again.value, again.revision) == (b"three", third)
        finally:
            await store.close()

    asyncio.run(main())
