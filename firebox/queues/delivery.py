"""Messages in and out of queues: send (with FIFO deduplication), receive (with long polling, visibility
timeouts and redrive to a dead-letter queue), delete, and change visibility.

A send is answered once its message is committed, and only then can a receiver see it; a receive, a
delete or a visibility change takes effect in memory at once and is answered once committed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import msgspec

from firebox.errors import (
    InvalidQueueParameter,
    MessageNotInFlight,
    MissingParameter,
    QueueNotFound,
    QueueRequestRejected,
    ReceiptHandleInvalid,
)
from firebox.queues.attributes import RedrivePolicy, redrive_policy
from firebox.queues.base import QueueStorage
from firebox.queues.digests import md5_of_attributes, md5_of_body
from firebox.queues.message_rules import check_attributes, check_body, message_size, too_large
from firebox.queues.order import Message
from firebox.queues.queue import LiveQueue
from firebox.queues.records import (
    Change,
    Deduplication,
    DeduplicationRecorded,
    DeliveryChanged,
    DeliveryState,
    MessageAdded,
    MessageAttribute,
    MessageRecord,
    MessageRemoved,
    OutgoingMessage,
    ReceivedMessage,
    SentMessage,
    StoredMessage,
)

DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000
MAX_RECEIVE = 10
MAX_WAIT_S = 20
MAX_VISIBILITY_TIMEOUT_S = 43_200
MAX_DELAY_S = 900
# MessageGroupId and MessageDeduplicationId: 1 to 128 of letters, digits and ASCII punctuation.
_FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")
T = TypeVar("T")


def _range_error(parameter: str, value: int, low: int, high: int) -> InvalidQueueParameter:
    return InvalidQueueParameter(
        f"Value {value} for parameter {parameter} is invalid. Reason: Must be between {low} and {high}, if provided."
    )


def _check_range(parameter: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise _range_error(parameter, value, low, high)


class Delivery:
    def __init__(self, storage: QueueStorage, clock: Callable[[], float], region: str, account_id: str) -> None:
        self._storage = storage
        self._clock = clock
        self.region = region
        self.account_id = account_id
        self._queues: dict[str, LiveQueue] = {}
        self._last_sequence = 0
        self._tokens = random.Random()  # receipt tokens tell receipts apart; they guard nothing secret

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def name_of_arn(self, arn: str) -> str | None:
        prefix = f"arn:aws:sqs:{self.region}:{self.account_id}:"
        return arn.removeprefix(prefix) if arn.startswith(prefix) else None

    def queue(self, name: str) -> LiveQueue:
        queue = self._queues.get(name)
        if queue is None:
            raise QueueNotFound("The specified queue does not exist.")
        return queue

    def note_sequence(self, record: MessageRecord) -> None:
        if record.sequence_number is not None:
            self._last_sequence = max(self._last_sequence, int(record.sequence_number))

    def removal(self, queue: LiveQueue, message: Message) -> Change:
        queue.remove(message)
        return MessageRemoved(queue.name, message.record.message_id)

    # Sending

    async def send_message(self, name: str, outgoing: OutgoingMessage) -> SentMessage:
        (sent,) = await self.send_messages(name, [outgoing])
        if isinstance(sent, QueueRequestRejected):
            raise sent
        return sent

    async def send_messages(
        self, name: str, batch: Sequence[OutgoingMessage]
    ) -> list[SentMessage | QueueRequestRejected]:
        """Send each message of `batch` in one commit; each one's outcome, in order."""
        queue = self.queue(name)
        now = self.now_ms()
        results: list[SentMessage | QueueRequestRejected] = []
        accepted: list[Message] = []
        changes: list[Change] = []
        reserved: list[str] = []
        for outgoing in batch:
            try:
                message, duplicate_of = self._prepared(queue, outgoing, now)
            except QueueRequestRejected as error:
                results.append(error)
                continue
            if duplicate_of is not None:
                results.append(_sent(message.record, duplicate_of))
                continue
            record = message.record
            if record.deduplication_id is not None and record.sequence_number is not None:
                key = self._deduplication_key(queue, record)
                entry = Deduplication(
                    queue.name, key, record.message_id, record.sequence_number, now + DEDUPLICATION_WINDOW_MS
                )
                queue.deduplications[key] = entry  # a repeat arriving before the commit is a duplicate too
                reserved.append(key)
                changes.append(DeduplicationRecorded(entry))
            changes.append(MessageAdded(StoredMessage(queue.name, record, message.state)))
            accepted.append(message)
            results.append(_sent(record, None))
        try:
            await self._storage.commit(changes)
        except BaseException:
            for key in reserved:
                queue.deduplications.pop(key, None)
            raise
        after = self.now_ms()
        for message in accepted:
            queue.add(message, after)
        return results

    def _prepared(self, queue: LiveQueue, outgoing: OutgoingMessage, now: int) -> tuple[Message, Deduplication | None]:
        """The message `outgoing` makes, checked; and the earlier send it repeats, if it is a FIFO duplicate."""
        check_body(outgoing.body)
        check_attributes(outgoing.attributes)
        limit = queue.record.number("MaximumMessageSize")
        if message_size(outgoing.body, outgoing.attributes) > limit:
            raise too_large(limit)
        fifo = queue.record.fifo
        deduplication_id = self._fifo_checks(queue, outgoing) if fifo else self._standard_checks(outgoing)
        trace = outgoing.trace_header
        delay_s = queue.record.number("DelaySeconds") if outgoing.delay_seconds is None else outgoing.delay_seconds
        record = MessageRecord(
            message_id=_message_id(),
            body=outgoing.body,
            sent_ms=now,
            md5_of_body=md5_of_body(outgoing.body),
            attributes=outgoing.attributes,
            md5_of_attributes=md5_of_attributes(outgoing.attributes),
            trace_header=trace,
            md5_of_system_attributes=(
                md5_of_attributes({"AWSTraceHeader": MessageAttribute("String", trace)}) if trace else None
            ),
            group_id=outgoing.group_id,
            deduplication_id=deduplication_id,
        )
        if fifo:
            earlier = queue.deduplications.get(self._deduplication_key(queue, record))
            if earlier is not None and earlier.expires_ms > now:
                return Message(record, DeliveryState(0, now)), earlier
            record = msgspec.structs.replace(record, sequence_number=self._next_sequence(now))
        return Message(record, DeliveryState(0, now + delay_s * 1000)), None

    @staticmethod
    def _standard_checks(outgoing: OutgoingMessage) -> None:
        if outgoing.deduplication_id is not None:
            raise _not_for_this_queue_type("MessageDeduplicationId", outgoing.deduplication_id)
        if outgoing.group_id is not None:
            _check_fifo_id("MessageGroupId", outgoing.group_id)
        _check_range("DelaySeconds", outgoing.delay_seconds, 0, MAX_DELAY_S)

    @staticmethod
    def _fifo_checks(queue: LiveQueue, outgoing: OutgoingMessage) -> str:
        """Check what a FIFO queue requires of a message; its deduplication id."""
        if outgoing.delay_seconds is not None:
            raise _not_for_this_queue_type("DelaySeconds", str(outgoing.delay_seconds))
        if outgoing.group_id is None:
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        _check_fifo_id("MessageGroupId", outgoing.group_id)
        deduplication_id = outgoing.deduplication_id
        if deduplication_id is None:
            if queue.record.attributes.get("ContentBasedDeduplication") != "true":
                raise InvalidQueueParameter(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId"
                    " provided explicitly"
                )
            deduplication_id = hashlib.sha256(outgoing.body.encode()).hexdigest()
        _check_fifo_id("MessageDeduplicationId", deduplication_id)
        return deduplication_id

    @staticmethod
    def _deduplication_key(queue: LiveQueue, record: MessageRecord) -> str:
        assert record.deduplication_id is not None
        if queue.record.attributes.get("DeduplicationScope") == "messageGroup":
            return f"{record.group_id}\n{record.deduplication_id}"
        return record.deduplication_id

    def _next_sequence(self, now_ms: int) -> str:
        # Increasing across restarts too: a new server starts from the clock, past any number it gave before.
        self._last_sequence = max(self._last_sequence + 1, now_ms * 1_000_000)
        return f"{self._last_sequence:020d}"

    # Receiving

    async def receive(
        self, name: str, *, limit: int = 1, visibility_timeout_s: int | None = None, wait_s: int | None = None
    ) -> list[ReceivedMessage]:
        """Up to `limit` messages; with a wait, the first to arrive within `wait_s` seconds (or the queue's
        ReceiveMessageWaitTimeSeconds) rather than nothing."""
        _check_range("MaxNumberOfMessages", limit, 1, MAX_RECEIVE)
        _check_range("VisibilityTimeout", visibility_timeout_s, 0, MAX_VISIBILITY_TIMEOUT_S)
        _check_range("WaitTimeSeconds", wait_s, 0, MAX_WAIT_S)
        queue = self.queue(name)
        wait = queue.record.number("ReceiveMessageWaitTimeSeconds") if wait_s is None else wait_s
        deadline = time.monotonic() + wait
        while True:
            now = self.now_ms()
            received, changes = self._take(queue, limit, visibility_timeout_s, now)
            if changes:
                await self._storage.commit(changes)
            remaining = deadline - time.monotonic()
            if received or remaining <= 0:
                return received
            next_change = queue.order.next_change_ms(now)
            await queue.wait_for_change(
                remaining if next_change is None else min(remaining, (next_change - now) / 1000)
            )
            if self._queues.get(name) is not queue:
                raise QueueNotFound("The specified queue does not exist.")

    def _take(
        self, queue: LiveQueue, limit: int, visibility_timeout_s: int | None, now: int
    ) -> tuple[list[ReceivedMessage], list[Change]]:
        timeout_s = queue.record.number("VisibilityTimeout") if visibility_timeout_s is None else visibility_timeout_s
        oldest_kept = now - queue.record.number("MessageRetentionPeriod") * 1000
        redrive = self._redrive_target(queue)
        received: list[ReceivedMessage] = []
        changes: list[Change] = []
        while len(received) < limit:
            batch = queue.order.take(now, limit - len(received))
            dropped = False
            for message in batch:
                if message.record.sent_ms <= oldest_kept:
                    changes.append(self.removal(queue, message))
                    dropped = True
                elif redrive is not None and message.state.receive_count >= redrive[0].max_receive_count:
                    changes.extend(self._redrive(queue, redrive[1], message, now))
                    dropped = True
                else:
                    received.append(self._deliver(queue, message, timeout_s, now))
                    changes.append(DeliveryChanged(queue.name, message.record.message_id, message.state))
            # Only a batch that lost messages to retention or redrive leaves room worth another look; another
            # look otherwise could hand out again a message just given with a visibility timeout of 0.
            if not dropped:
                break
        return received, changes

    def _deliver(self, queue: LiveQueue, message: Message, timeout_s: int, now: int) -> ReceivedMessage:
        token = f"{self._tokens.getrandbits(64):016x}"
        state = message.state
        first = state.first_receive_ms if state.first_receive_ms is not None else now
        message.state = DeliveryState(state.receive_count + 1, now + timeout_s * 1000, first, token)
        queue.order.moved(message, now)
        handle = _receipt_handle(queue.name, message.record.message_id, token)
        return ReceivedMessage(message.record, handle, message.state.receive_count, first)

    def _redrive_target(self, queue: LiveQueue) -> tuple[RedrivePolicy, LiveQueue] | None:
        text = queue.record.attributes.get("RedrivePolicy")
        if not text:
            return None
        policy = redrive_policy(text)
        name = self.name_of_arn(policy.target_arn)
        target = self._queues.get(name) if name is not None else None
        return (policy, target) if target is not None and target is not queue else None

    def _redrive(self, source: LiveQueue, target: LiveQueue, message: Message, now: int) -> list[Change]:
        """Move `message` to the dead-letter queue `target`: same id and body, received afresh there."""
        removed = self.removal(source, message)
        record = msgspec.structs.replace(message.record, dead_letter_source_arn=self.arn(source.name))
        moved = Message(record, DeliveryState(0, now))
        target.add(moved, now)
        return [removed, MessageAdded(StoredMessage(target.name, record, moved.state))]

    # Deleting and changing visibility

    async def delete_message(self, name: str, receipt_handle: str) -> None:
        (outcome,) = await self.delete_messages(name, [receipt_handle])
        if outcome is not None:
            raise outcome

    async def delete_messages(self, name: str, receipt_handles: Sequence[str]) -> list[QueueRequestRejected | None]:
        """Delete the message each handle holds (a stale handle deletes nothing, as in SQS)."""
        queue = self.queue(name)
        return await self._each(receipt_handles, lambda handle: self._deletion(queue, handle))

    def _deletion(self, queue: LiveQueue, receipt_handle: str) -> Change | None:
        message_id, token = _parse_receipt_handle(queue.name, receipt_handle)
        message = queue.messages.get(message_id)
        if message is None or message.state.receipt_token != token:
            return None
        return self.removal(queue, message)

    async def change_visibility(self, name: str, receipt_handle: str, timeout_s: int) -> None:
        (outcome,) = await self.change_visibilities(name, [(receipt_handle, timeout_s)])
        if outcome is not None:
            raise outcome

    async def change_visibilities(
        self, name: str, entries: Sequence[tuple[str, int]]
    ) -> list[QueueRequestRejected | None]:
        queue = self.queue(name)
        now = self.now_ms()
        return await self._each(entries, lambda entry: self._visibility_change(queue, *entry, now))

    def _visibility_change(self, queue: LiveQueue, receipt_handle: str, timeout_s: int, now: int) -> Change:
        _check_range("VisibilityTimeout", timeout_s, 0, MAX_VISIBILITY_TIMEOUT_S)
        message_id, token = _parse_receipt_handle(queue.name, receipt_handle)
        message = queue.messages.get(message_id)
        if message is None or message.state.receipt_token != token:
            raise InvalidQueueParameter(
                f"Value {receipt_handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or"
                " is not available for visibility timeout change."
            )
        if not message.in_flight(now):
            raise MessageNotInFlight("Message does not exist or is not available for visibility timeout change.")
        message.state = msgspec.structs.replace(message.state, visible_at_ms=now + timeout_s * 1000)
        queue.order.moved(message, now)
        if timeout_s == 0:
            queue.wake_receivers()
        return DeliveryChanged(queue.name, message_id, message.state)

    async def _each(
        self, entries: Sequence[T], change_of: Callable[[T], Change | None]
    ) -> list[QueueRequestRejected | None]:
        """Apply `change_of` to each entry and commit what they changed; each entry's refusal, or None."""
        outcomes: list[QueueRequestRejected | None] = []
        changes: list[Change] = []
        for entry in entries:
            try:
                change = change_of(entry)
            except QueueRequestRejected as error:
                outcomes.append(error)
                continue
            outcomes.append(None)
            if change is not None:
                changes.append(change)
        if changes:
            await self._storage.commit(changes)
        return outcomes


def _sent(record: MessageRecord, duplicate_of: Deduplication | None) -> SentMessage:
    return SentMessage(
        message_id=record.message_id if duplicate_of is None else duplicate_of.message_id,
        md5_of_body=record.md5_of_body,
        md5_of_attributes=record.md5_of_attributes,
        md5_of_system_attributes=record.md5_of_system_attributes,
        sequence_number=record.sequence_number if duplicate_of is None else duplicate_of.sequence_number,
    )


def _message_id() -> str:
    return str(uuid.uuid4())


def _not_for_this_queue_type(parameter: str, value: str) -> InvalidQueueParameter:
    return InvalidQueueParameter(
        f"Value {value} for parameter {parameter} is invalid. Reason: The request include parameter that is not"
        " valid for this queue type."
    )


def _check_fifo_id(parameter: str, value: str) -> None:
    if _FIFO_ID.fullmatch(value) is None:
        raise InvalidQueueParameter(
            f"Value {value} for parameter {parameter} is invalid. Reason: {parameter} can only include alphanumeric"
            " and punctuation characters. 1 to 128 in length."
        )


def _receipt_handle(queue: str, message_id: str, token: str) -> str:
    return base64.urlsafe_b64encode(f"{queue}/{message_id}/{token}".encode()).decode()


def _parse_receipt_handle(queue: str, receipt_handle: str) -> tuple[str, str]:
    """(message id, token) of a handle this service gave for `queue`."""
    try:
        parts = base64.urlsafe_b64decode(receipt_handle.encode()).decode().split("/")
    except (binascii.Error, UnicodeError, ValueError):
        parts = []
    if len(parts) != 3 or parts[0] != queue:
        raise ReceiptHandleInvalid(f'The input receipt handle "{receipt_handle}" is not a valid receipt handle.')
    return parts[1], parts[2]
