"""The StateStore contract (firebox/store/base.py), checked against every implementation.

The suite is written once: each check is an async function of an open store. To run it against another
implementation, add an opener to `OPENERS` (or import `CHECKS` and `run_check` with a fixture of your own).
An opener opens the same underlying storage each time it is called, so durability can be checked too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from firebox.store import Entry, KeyExists, RevisionConflict, SqliteStore, StateStore

Opener = Callable[[], Awaitable[StateStore]]
Check = Callable[[StateStore, Opener], Awaitable[None]]


def _sqlite(tmp_path: Path) -> Opener:
    async def open_store() -> StateStore:
        return SqliteStore(tmp_path / "contract" / "state.db")

    return open_store


OPENERS: dict[str, Callable[[Path], Opener]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(OPENERS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return OPENERS[request.param](tmp_path)


def run_check(open_store: Opener, check: Check) -> None:
    async def main() -> None:
        store = await open_store()
        try:
            await check(store, open_store)
        finally:
            await store.close()

    asyncio.run(main())


# -- the contract ---------------------------------------------------------------------------------------


async def get_of_a_missing_key_is_none(store: StateStore, _: Opener) -> None:
    assert await store.get("absent") is None


async def create_then_get(store: StateStore, _: Opener) -> None:
    revision = await store.create("fn/a", b"\x00value\xff")
    assert isinstance(revision, int)
    assert await store.get("fn/a") == Entry("fn/a", b"\x00value\xff", revision)
    empty = await store.create("fn/empty", b"")
    assert await store.get("fn/empty") == Entry("fn/empty", b"", empty)


async def create_refuses_an_existing_key(store: StateStore, _: Opener) -> None:
    revision = await store.create("fn/a", b"first")
    with pytest.raises(KeyExists):
        await store.create("fn/a", b"second")
    assert await store.get("fn/a") == Entry("fn/a", b"first", revision)


async def update_at_the_read_revision(store: StateStore, _: Opener) -> None:
    first = await store.create("fn/a", b"one")
    second = await store.update("fn/a", b"two", first)
    assert second != first
    assert await store.get("fn/a") == Entry("fn/a", b"two", second)
    third = await store.update("fn/a", b"three", second)
    assert third not in (first, second)


async def update_at_a_stale_revision_conflicts(store: StateStore, _: Opener) -> None:
    first = await store.create("fn/a", b"one")
    second = await store.update("fn/a", b"two", first)
    with pytest.raises(RevisionConflict):
        await store.update("fn/a", b"lost", first)
    assert await store.get("fn/a") == Entry("fn/a", b"two", second)


async def update_of_a_missing_key_conflicts(store: StateStore, _: Opener) -> None:
    with pytest.raises(RevisionConflict):
        await store.update("absent", b"value", 1)
    assert await store.get("absent") is None


async def only_one_of_two_racing_updates_wins(store: StateStore, _: Opener) -> None:
    read = await store.create("fn/a", b"start")

    async def write(value: bytes) -> bool:
        try:
            await store.update("fn/a", value, read)
        except RevisionConflict:
            return False
        return True

    won = await asyncio.gather(write(b"left"), write(b"right"))
    assert sorted(won) == [False, True]
    entry = await store.get("fn/a")
    assert entry is not None
    assert entry.value == (b"left" if won[0] else b"right")


async def delete_reports_whether_the_key_was_there(store: StateStore, _: Opener) -> None:
    await store.create("fn/a", b"value")
    assert await store.delete("fn/a") is True
    assert await store.get("fn/a") is None
    assert await store.delete("fn/a") is False


async def delete_at_a_revision(store: StateStore, _: Opener) -> None:
    first = await store.create("fn/a", b"one")
    second = await store.update("fn/a", b"two", first)
    with pytest.raises(RevisionConflict):
        await store.delete("fn/a", expected_revision=first)
    assert await store.get("fn/a") == Entry("fn/a", b"two", second)
    assert await store.delete("fn/a", expected_revision=second) is True
    assert await store.get("fn/a") is None
    with pytest.raises(RevisionConflict):
        await store.delete("fn/a", expected_revision=second)


async def a_recreated_key_never_reuses_a_revision(store: StateStore, _: Opener) -> None:
    """A writer holding a revision read before a delete must not overwrite the key created after it."""
    old = await store.create("fn/a", b"old")
    await store.delete("fn/a")
    new = await store.create("fn/a", b"new")
    assert new != old
    with pytest.raises(RevisionConflict):
        await store.update("fn/a", b"from a stale reader", old)
    assert await store.get("fn/a") == Entry("fn/a", b"new", new)


async def scan_returns_a_prefix_in_key_order(store: StateStore, _: Opener) -> None:
    for key in ("ver/f/0000000002", "fn/b", "fn/a-1", "fn/_x", "fn/A", "fn/a", "fn", "fnx/a", "f", "ver/f/0000000001"):
        await store.create(key, key.encode())
    entries = await store.scan("fn/")
    assert [e.key for e in entries] == ["fn/A", "fn/_x", "fn/a", "fn/a-1", "fn/b"]
    assert all(e.value == e.key.encode() for e in entries)
    assert [e.key for e in await store.scan("ver/f/")] == ["ver/f/0000000001", "ver/f/0000000002"]
    assert await store.scan("nothing/") == []
    assert [e.key for e in await store.scan("")][:3] == ["f", "fn", "fn/A"]


async def scan_pages_with_start_after_and_limit(store: StateStore, _: Opener) -> None:
    keys = [f"fn/{name}" for name in ("a", "b", "c", "d", "e")]
    for key in reversed(keys):
        await store.create(key, b"")
    await store.create("fo/z", b"")
    assert [e.key for e in await store.scan("fn/", limit=2)] == keys[:2]
    assert [e.key for e in await store.scan("fn/", start_after="fn/b", limit=2)] == keys[2:4]
    assert [e.key for e in await store.scan("fn/", start_after="fn/d")] == keys[4:]
    assert [e.key for e in await store.scan("fn/", start_after="fn/bb")] == keys[2:]  # need not be a key
    assert await store.scan("fn/", start_after="fn/e") == []
    seen: list[str] = []
    after = ""
    while page := await store.scan("fn/", start_after=after, limit=2):
        seen += [e.key for e in page]
        after = page[-1].key
    assert seen == keys


async def scan_sees_the_latest_values(store: StateStore, _: Opener) -> None:
    first = await store.create("fn/a", b"one")
    second = await store.update("fn/a", b"two", first)
    await store.create("fn/b", b"gone")
    await store.delete("fn/b")
    assert await store.scan("fn/") == [Entry("fn/a", b"two", second)]


async def writes_survive_closing_and_reopening(store: StateStore, open_store: Opener) -> None:
    kept = await store.create("fn/kept", b"kept")
    changed = await store.update("fn/kept", b"changed", kept)
    await store.create("fn/dropped", b"dropped")
    await store.delete("fn/dropped")
    await store.close()
    reopened = await open_store()
    try:
        assert await reopened.get("fn/kept") == Entry("fn/kept", b"changed", changed)
        assert await reopened.get("fn/dropped") is None
        later = await reopened.create("fn/later", b"")
        assert later not in (kept, changed)
    finally:
        await reopened.close()
    # The suite's runner closes `store` once more: closing twice must be harmless.


CHECKS: list[Check] = [
    get_of_a_missing_key_is_none,
    create_then_get,
    create_refuses_an_existing_key,
    update_at_the_read_revision,
    update_at_a_stale_revision_conflicts,
    update_of_a_missing_key_conflicts,
    only_one_of_two_racing_updates_wins,
    delete_reports_whether_the_key_was_there,
    delete_at_a_revision,
    a_recreated_key_never_reuses_a_revision,
    scan_returns_a_prefix_in_key_order,
    scan_pages_with_start_after_and_limit,
    scan_sees_the_latest_values,
    writes_survive_closing_and_reopening,
]


@pytest.mark.parametrize("check", CHECKS, ids=[check.__name__ for check in CHECKS])
def test_state_store_contract(open_store: Opener, check: Check) -> None:
    run_check(open_store, check)
