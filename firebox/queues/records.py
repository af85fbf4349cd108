"""What the queue service stores and hands across its boundary: queues, messages, and their changes.

Stored records are msgspec structs (encoded with msgpack); a message's changing delivery state (receive
count, when it is visible again, its current receipt) is kept beside its immutable record so that a
receive rewrites a few numbers, never the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class MessageAttribute(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One message attribute: `data_type` is String, Number or Binary, optionally with a custom suffix."""

    data_type: str
    string_value: str | None = None
    binary_value: bytes | None = None


class QueueRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A queue as stored. `attributes` holds every settable attribute by its AWS name, as text."""

    name: str
    created_s: int
    modified_s: int
    attributes: dict[str, str]
    tags: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def number(self, attribute: str) -> int:
        return int(self.attributes[attribute])


class MessageRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The part of a message that never changes once sent."""

    message_id: str
    body: str
    sent_ms: int
    md5_of_body: str
    attributes: dict[str, MessageAttribute] = msgspec.field(default_factory=dict)
    md5_of_attributes: str | None = None
    trace_header: str | None = None  # the AWSTraceHeader message system attribute
    md5_of_system_attributes: str | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence_number: str | None = None  # FIFO queues only
    dead_letter_source_arn: str | None = None  # set when a redrive moved the message here


class DeliveryState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a message stands: how often it was received, when it may be received next, and the token of
    the receipt handle that now holds it (None until first received)."""

    receive_count: int
    visible_at_ms: int
    first_receive_ms: int | None = None
    receipt_token: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    queue: str
    record: MessageRecord
    state: DeliveryState


@dataclass(frozen=True, slots=True)
class Deduplication:
    """A FIFO send remembered for the deduplication window: a repeat answers with the original."""

    queue: str
    deduplication_id: str
    message_id: str
    sequence_number: str
    expires_ms: int


@dataclass(frozen=True, slots=True)
class QueueState:
    """Everything the storage holds, as read at start-up."""

    queues: list[QueueRecord]
    messages: list[StoredMessage]
    deduplications: list[Deduplication]


# The changes the queue service commits. One commit holds any number of them, applied in order.


@dataclass(frozen=True, slots=True)
class QueueSaved:
    record: QueueRecord


@dataclass(frozen=True, slots=True)
class QueueDropped:
    name: str


@dataclass(frozen=True, slots=True)
class QueuePurged:
    name: str


@dataclass(frozen=True, slots=True)
class MessageAdded:
    message: StoredMessage


@dataclass(frozen=True, slots=True)
class DeliveryChanged:
    """A message's delivery state changed (received, visibility changed)."""

    queue: str
    message_id: str
    state: DeliveryState


@dataclass(frozen=True, slots=True)
class MessageRemoved:
    queue: str
    message_id: str


@dataclass(frozen=True, slots=True)
class DeduplicationRecorded:
    entry: Deduplication


Change = (
    QueueSaved | QueueDropped | QueuePurged | MessageAdded | DeliveryChanged | MessageRemoved | DeduplicationRecorded
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What a send answers with."""

    message_id: str
    md5_of_body: str
    md5_of_attributes: str | None
    md5_of_system_attributes: str | None
    sequence_number: str | None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to send, before the queue service has checked it."""

    body: str
    attributes: dict[str, MessageAttribute]
    trace_header: str | None = None
    delay_seconds: int | None = None
    group_id: str | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message as one receive hands it out."""

    record: MessageRecord
    receipt_handle: str
    receive_count: int
    first_receive_ms: int


@dataclass(frozen=True, slots=True)
class QueueCounts:
    visible: int
    in_flight: int
    delayed: int
