"""The environment journal on the embedded state store: what one server writes, the next one reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from firebox.journal import EnvironmentJournal, EnvironmentState
from firebox.store import CodeRef, FunctionConfig, SqliteStore


def _config(version: str, revision_id: str) -> FunctionConfig:
    return FunctionConfig(
        name="fn",
        version=version,
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/r",
        code=CodeRef(digest="a" * 64, size=10),
        last_modified="2026-12-03T00:00:00.000+0000",
        revision_id=revision_id,
    )


async def _reopened(path: Path) -> list[tuple[str, EnvironmentState, str]]:
    store = SqliteStore(path)
    try:
        return sorted((r.env_id, r.state, r.worker_id) for r in await EnvironmentJournal(store).load())
    finally:
        await store.close()


def test_a_successor_reads_the_latest_state_of_every_live_environment(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "state.db")
        journal = EnvironmentJournal(store)
        assert await journal.load() == []
        journal.started("a", "local-1", _config("$LATEST", "r1"))
        journal.started("b", "local-2", _config("1", "r2"), provisioned=True)
        journal.started("c", "local-1", _config("$LATEST", "r1"))
        await journal.flush()
        journal.moved("a", EnvironmentState.BUSY)
        journal.moved("b", EnvironmentState.IDLE)
        journal.gone("c")
        journal.moved("unknown", EnvironmentState.IDLE)  # never started here: ignored
        await journal.flush()
        journal.moved("a", EnvironmentState.IDLE)
        journal.moved("a", EnvironmentState.FROZEN)  # both within one flush: only the last is written
        await journal.flush()
        await store.close()

    asyncio.run(scenario())
    assert asyncio.run(_reopened(tmp_path / "state.db")) == [
        ("a", EnvironmentState.FROZEN, "local-1"),
        ("b", EnvironmentState.IDLE, "local-2"),
    ]


def test_changes_not_yet_flushed_are_written_when_the_journal_stops(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "state.db")
        journal = EnvironmentJournal(store)
        running = asyncio.create_task(journal.run())
        journal.started("a", "local-1", _config("$LATEST", "r1"))
        journal.started("b", "local-1", _config("$LATEST", "r1"))
        await asyncio.sleep(0)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        journal.gone("b")  # after the flusher stopped: never written
        await store.close()

    asyncio.run(scenario())
    assert [r[0] for r in asyncio.run(_reopened(tmp_path / "state.db"))] == ["a", "b"]


def test_a_successor_that_writes_an_adopted_environment_off_removes_it(tmp_path: Path) -> None:
    async def first() -> None:
        store = SqliteStore(tmp_path / "state.db")
        journal = EnvironmentJournal(store)
        journal.started("a", "local-1", _config("$LATEST", "r1"))
        journal.started("b", "local-1", _config("$LATEST", "r1"))
        await journal.flush()
        await store.close()

    async def second() -> None:
        store = SqliteStore(tmp_path / "state.db")
        journal = EnvironmentJournal(store)
        assert len(await journal.load()) == 2
        journal.gone("a")
        journal.moved("b", EnvironmentState.BUSY)
        await journal.flush()
        assert [r.env_id for r in journal.records()] == ["b"]
        await store.close()

    asyncio.run(first())
    asyncio.run(second())
    assert asyncio.run(_reopened(tmp_path / "state.db")) == [("b", EnvironmentState.BUSY, "local-1")]


def test_an_environment_back_in_the_state_last_written_costs_no_write(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "state.db")
        journal = EnvironmentJournal(store)
        journal.started("a", "local-1", _config("$LATEST", "r1"))
        journal.moved("a", EnvironmentState.IDLE)
        await journal.flush()
        written = await store.get("env/a")
        assert written is not None
        journal.moved("a", EnvironmentState.BUSY)
        journal.moved("a", EnvironmentState.IDLE)  # an invocation within one interval: nothing to write
        await journal.flush()
        unchanged = await store.get("env/a")
        assert unchanged is not None and unchanged.revision == written.revision
        journal.moved("a", EnvironmentState.BUSY)  # still busy at the next flush: written
        await journal.flush()
        changed = await store.get("env/a")
        assert changed is not None and changed.revision > written.revision
        await store.close()

    asyncio.run(scenario())
    assert asyncio.run(_reopened(tmp_path / "state.db")) == [("a", EnvironmentState.BUSY, "local-1")]
