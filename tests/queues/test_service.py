"""The queue engine on a real SQLite file, with a clock the tests move by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from firebox.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidMessageContents,
    InvalidQueueParameter,
    MessageNotInFlight,
    MissingParameter,
    QueueNameTaken,
    QueueNotFound,
    ReceiptHandleInvalid,
)
from firebox.queues import MessageAttribute, OutgoingMessage, QueueService, SqliteQueueStorage, md5_of_attributes

ARN = "arn:aws:sqs:us-east-1:000000000000:"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Services:
    """Opens the service on one data file, again after closing the last one (a restart)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock
        self._running: list[tuple[QueueService, asyncio.Task[None]]] = []

    def __call__(self) -> QueueService:
        self.close()
        service = QueueService(SqliteQueueStorage(self._path), "us-east-1", "000000000000", clock=self._clock)
        self._running.append((service, asyncio.create_task(service.run())))
        return service

    def close(self) -> None:
        for service, task in self._running:
            task.cancel()
            service.close()
        self._running.clear()


Scenario = Callable[[Services, Clock], Awaitable[None]]


@pytest.fixture
def run(tmp_path: Path) -> Callable[[Scenario], None]:
    def run_scenario(scenario: Scenario) -> None:
        async def main() -> None:
            clock = Clock()
            services = Services(tmp_path / "queues.db", clock)
            try:
                await scenario(services, clock)
            finally:
                services.close()
                await asyncio.sleep(0)  # let the cancelled writers end

        asyncio.run(main())

    return run_scenario


MISSING_DLQ = f'{{"deadLetterTargetArn": "{ARN}missing", "maxReceiveCount": 1}}'


def attributed(name: str, kind: str, value: str) -> OutgoingMessage:
    return OutgoingMessage("x", {name: MessageAttribute(kind, value)})


def text(body: str, **extra: object) -> OutgoingMessage:
    return OutgoingMessage(body, {}, **extra)  # type: ignore[arg-type]


def test_a_message_goes_out_once_until_its_visibility_timeout_ends(run: Callable[[Scenario], None]) -> None:
    run(_a_message_goes_out_once_until_its_visibility_timeout_ends)


async def _a_message_goes_out_once_until_its_visibility_timeout_ends(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("jobs", {"VisibilityTimeout": "5"}, {})
    sent = await service.send_message("jobs", text("one"))
    (first,) = await service.receive("jobs")
    assert (first.record.message_id, first.receive_count) == (sent.message_id, 1)
    assert await service.receive("jobs") == []
    clock.now += 5
    (again,) = await service.receive("jobs", limit=10)
    assert again.receive_count == 2 and again.first_receive_ms == first.first_receive_ms
    await service.delete_message("jobs", first.receipt_handle)  # a stale handle deletes nothing
    assert service.attributes("jobs", ["ApproximateNumberOfMessagesNotVisible"]) == {
        "ApproximateNumberOfMessagesNotVisible": "1"
    }
    await service.delete_message("jobs", again.receipt_handle)
    clock.now += 60
    assert await service.receive("jobs") == []


def test_everything_committed_survives_a_restart(run: Callable[[Scenario], None]) -> None:
    run(_everything_committed_survives_a_restart)


async def _everything_committed_survives_a_restart(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("kept", {"DelaySeconds": "10"}, {"team": "a"})
    await service.create_queue("kept.fifo", {"FifoQueue": "true"}, {})
    sent = [await service.send_message("kept", text(f"m{i}")) for i in range(3)]
    fifo = await service.send_message("kept.fifo", text("f", group_id="g", deduplication_id="d"))
    service = open_service()
    assert service.tags("kept") == {"team": "a"}
    assert service.attributes("kept", ["ApproximateNumberOfMessagesDelayed"]) == {
        "ApproximateNumberOfMessagesDelayed": "3"
    }
    clock.now += 10
    received = await service.receive("kept", limit=10)
    assert sorted(m.record.message_id for m in received) == sorted(s.message_id for s in sent)
    # The deduplication window outlives the restart too: a repeat answers with the original.
    repeat = await service.send_message("kept.fifo", text("f", group_id="g", deduplication_id="d"))
    assert (repeat.message_id, repeat.sequence_number) == (fifo.message_id, fifo.sequence_number)
    # A message's receipt outlives the restart as well.
    service = open_service()
    await service.delete_messages("kept", [m.receipt_handle for m in received])
    assert service.attributes("kept", ["All"])["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_fifo_groups_go_out_in_order_one_batch_at_a_time(run: Callable[[Scenario], None]) -> None:
    run(_fifo_groups_go_out_in_order_one_batch_at_a_time)


async def _fifo_groups_go_out_in_order_one_batch_at_a_time(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("o.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}, {})
    for index in range(4):
        await service.send_message("o.fifo", text(f"a{index}", group_id="a"))
    await service.send_message("o.fifo", text("b0", group_id="b"))
    first = await service.receive("o.fifo", limit=2)
    assert [m.record.body for m in first] == ["a0", "a1"]
    # Group a is held while a0 and a1 are in flight: only b comes next.
    assert [m.record.body for m in await service.receive("o.fifo", limit=10)] == ["b0"]
    assert await service.receive("o.fifo", limit=10) == []
    await service.delete_message("o.fifo", first[0].receipt_handle)
    assert await service.receive("o.fifo") == []  # a1 still in flight
    await service.change_visibility("o.fifo", first[1].receipt_handle, 0)
    assert [m.record.body for m in await service.receive("o.fifo", limit=10)] == ["a1", "a2", "a3"]
    duplicate = await service.send_message("o.fifo", text("a0", group_id="a"))
    assert duplicate.message_id == first[0].record.message_id
    clock.now += 301  # past the deduplication window
    await service.sweep()
    assert (await service.send_message("o.fifo", text("a0", group_id="a"))).message_id != duplicate.message_id


def test_a_message_received_too_often_moves_to_the_dead_letter_queue(run: Callable[[Scenario], None]) -> None:
    run(_a_message_received_too_often_moves_to_the_dead_letter_queue)


async def _a_message_received_too_often_moves_to_the_dead_letter_queue(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("dlq", {}, {})
    policy = f'{{"deadLetterTargetArn": "{ARN}dlq", "maxReceiveCount": "2"}}'
    await service.create_queue("work", {"RedrivePolicy": policy, "VisibilityTimeout": "1"}, {})
    sent = await service.send_message("work", text("poison"))
    for _ in range(2):
        assert len(await service.receive("work")) == 1
        clock.now += 1
    assert await service.receive("work") == []
    (dead,) = await service.receive("dlq")
    assert dead.record.message_id == sent.message_id
    assert dead.record.dead_letter_source_arn == f"{ARN}work"
    assert service.dead_letter_sources("dlq") == ["work"]


def test_retention_drops_old_messages(run: Callable[[Scenario], None]) -> None:
    run(_retention_drops_old_messages)


async def _retention_drops_old_messages(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("short", {"MessageRetentionPeriod": "60"}, {})
    await service.send_message("short", text("old"))
    clock.now += 60
    await service.sweep()
    assert service.attributes("short", ["ApproximateNumberOfMessages"]) == {"ApproximateNumberOfMessages": "0"}
    assert await service.receive("short") == []


def test_long_polling_wakes_when_a_message_arrives(run: Callable[[Scenario], None]) -> None:
    run(_long_polling_wakes_when_a_message_arrives)


async def _long_polling_wakes_when_a_message_arrives(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("wait", {}, {})
    waiting = asyncio.create_task(service.receive("wait", wait_s=20))
    await asyncio.sleep(0)
    assert not waiting.done()
    sent = await service.send_message("wait", text("now"))
    async with asyncio.timeout(5):
        (received,) = await waiting
    assert received.record.message_id == sent.message_id


def test_the_public_interface_sends_by_arn(run: Callable[[Scenario], None]) -> None:
    run(_the_public_interface_sends_by_arn)


async def _the_public_interface_sends_by_arn(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("events", {}, {})
    assert service.exists(f"{ARN}events") and not service.exists(f"{ARN}missing")
    message_id = await service.send(f"{ARN}events", '{"event": 1}')
    assert [m.record.message_id for m in await service.receive("events")] == [message_id]
    with pytest.raises(QueueNotFound):
        await service.send(f"{ARN}missing", "x")


def test_bad_requests_get_sqs_errors(run: Callable[[Scenario], None]) -> None:
    run(_bad_requests_get_sqs_errors)


async def _bad_requests_get_sqs_errors(open_service: Services, clock: Clock) -> None:
    service = open_service()
    await service.create_queue("q", {"VisibilityTimeout": "10"}, {})
    await service.create_queue("q", {"VisibilityTimeout": "10"}, {})  # the same again is fine
    refusals = [
        (QueueNameTaken, lambda: service.create_queue("q", {"VisibilityTimeout": "11"}, {})),
        (InvalidAttributeName, lambda: service.create_queue("r", {"Colour": "red"}, {})),
        (InvalidAttributeValue, lambda: service.create_queue("r", {"DelaySeconds": "901"}, {})),
        (InvalidQueueParameter, lambda: service.create_queue("bad name", {}, {})),
        (InvalidQueueParameter, lambda: service.create_queue("r", {"RedrivePolicy": MISSING_DLQ}, {})),
        (MissingParameter, lambda: service.send_message("q", text(""))),
        (InvalidMessageContents, lambda: service.send_message("q", text("nul \x00"))),
        (InvalidQueueParameter, lambda: service.send_message("q", text("x" * 262_145))),
        (InvalidQueueParameter, lambda: service.send_message("q", text("x", delay_seconds=901))),
        (InvalidQueueParameter, lambda: service.send_message("q", attributed("n", "Number", "abc"))),
        (InvalidQueueParameter, lambda: service.send_message("q", attributed("AWS.x", "String", "a"))),
        (InvalidQueueParameter, lambda: service.receive("q", limit=11)),
        (InvalidQueueParameter, lambda: service.receive("q", wait_s=21)),
        (ReceiptHandleInvalid, lambda: service.delete_message("q", "not-a-handle")),
        (QueueNotFound, lambda: service.receive("missing")),
    ]  # fmt: skip
    for error, call in refusals:
        with pytest.raises(error):
            await call()
    await service.send_message("q", text("x"))
    (message,) = await service.receive("q", visibility_timeout_s=0)
    with pytest.raises(MessageNotInFlight):
        await service.change_visibility("q", message.receipt_handle, 10)
    assert service.attributes("q", ["ApproximateNumberOfMessages"]) == {"ApproximateNumberOfMessages": "1"}


def test_message_attribute_digest_is_aws_s() -> None:
    # The digest AWS's SDKs compute for these two attributes (they check every send and receive against it).
    attributes = {"ordinal": MessageAttribute("Number", "1"), "category": MessageAttribute("String", "test")}
    assert md5_of_attributes(attributes) == "d21ae90c49061e927f57df5f5d72be1f"
    assert md5_of_attributes({}) is None
