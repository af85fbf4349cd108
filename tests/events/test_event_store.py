"""The durable event queue on SQLite: what one server accepted and did, the next one reads back."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from firebox.events import AsyncEvent, Fate, RetryPolicy, SqliteEventStore
from firebox.events.records import Delivery, Progress
from firebox.queues import MessageAttribute


def _event(n: int, function: str = "fn") -> AsyncEvent:
    return AsyncEvent(f"id-{n}", function, None, b'{"n": %d}' % n, received_at=1000.0 + n)


def test_an_accepted_event_is_committed_before_its_append_completes(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteEventStore(tmp_path / "events.db")
        await asyncio.gather(*(store.append(_event(n)) for n in range(100)))
        # Another connection (as a restarted server would open) sees all of them committed.
        count = sqlite3.connect(tmp_path / "events.db").execute("SELECT count(*) FROM events").fetchone()[0]
        assert count == 100
        store.close()

    asyncio.run(scenario())


def test_a_restart_resumes_the_unfinished_events_where_they_were(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteEventStore(tmp_path / "events.db")
        for n in range(4):
            await store.append(_event(n))
        store.save(Progress("id-0", due=2000.0, attempts=1, tries=2, last_outcome="function error"), now=1500.0)
        store.save(Progress("id-1", due=1500.0, attempts=1, tries=1, fate=Fate.SUCCEEDED), now=1500.0)
        owed = [Delivery("arn:aws:sqs:us-east-1:000000000000:q", b"{}", {"a": MessageAttribute("String", "b")})]
        store.save(Progress("id-2", due=1600.0, attempts=3, tries=3, fate=Fate.FAILED, deliveries=owed), now=1500.0)
        await asyncio.sleep(0)  # the turn of the loop that writes them
        store.close()

        again = SqliteEventStore(tmp_path / "events.db")
        unfinished = {p.request_id: p for p in again.unfinished()}
        assert sorted(unfinished) == ["id-0", "id-2", "id-3"]  # id-1 is finished
        assert (unfinished["id-0"].due, unfinished["id-0"].attempts, unfinished["id-0"].tries) == (2000.0, 1, 2)
        assert unfinished["id-2"].fate is Fate.FAILED and unfinished["id-2"].deliveries == owed
        assert (unfinished["id-3"].due, unfinished["id-3"].fate) == (1003.0, None)
        assert again.event("id-3") == _event(3)
        assert again.event("nope") is None
        summaries = again.summaries("fn", limit=10)
        assert [s.request_id for s in summaries] == ["id-3", "id-2", "id-1", "id-0"]  # newest first
        assert summaries[1].pending_deliveries == 1 and summaries[2].finished_at == 1500.0
        assert again.forget_finished(before=1501.0) == 1
        assert [s.request_id for s in again.summaries("fn", limit=10)] == ["id-3", "id-2", "id-0"]
        again.close()

    asyncio.run(scenario())


def test_an_append_that_cannot_commit_fails_and_the_store_goes_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteEventStore(tmp_path / "events.db")
        await store.append(_event(1))
        results = await asyncio.gather(store.append(_event(1)), return_exceptions=True)
        assert isinstance(results[0], sqlite3.IntegrityError)
        await store.append(_event(2))
        assert sorted(p.request_id for p in store.unfinished()) == ["id-1", "id-2"]
        store.close()

    asyncio.run(scenario())


def test_retry_delays_follow_lambdas_schedule_scaled_by_the_base_delay() -> None:
    aws = RetryPolicy()
    assert [aws.after_function_error(n) for n in (1, 2)] == [60.0, 120.0]
    assert [aws.backoff(n) for n in (1, 2, 3, 9, 20)] == [1.0, 2.0, 4.0, 256.0, 300.0]
    fast = RetryPolicy(retry_delay_s=0.6)
    assert fast.after_function_error(2) == 1.2
    assert fast.backoff(1) == 0.01 and fast.backoff(30) == 3.0
