"""What the asynchronous invocation queue keeps about each event, and what it reports of it."""

from __future__ import annotations

import enum

import msgspec

from firebox.queues import MessageAttribute


class AsyncEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An event accepted for asynchronous invocation: what Invoke with InvocationType=Event was handed."""

    request_id: str  # every attempt runs under this id, so its retries share it in the logs
    function_name: str
    qualifier: str | None
    payload: bytes
    received_at: float  # seconds since the epoch: the event's age counts from here
    client_context: str | None = None


class Fate(enum.StrEnum):
    """How an event ended, as `firebox events` reports it."""

    SUCCEEDED = "succeeded"  # the function ran without error
    FAILED = "failed"  # the function failed on its first try and on every retry
    EXPIRED = "expired"  # older than MaximumEventAgeInSeconds before it could run successfully
    DROPPED = "dropped"  # its function (or qualifier) was deleted before the event ran


class Delivery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A record owed to a destination or a dead-letter queue, kept until the target has it."""

    target: str  # the ARN of a function or a queue
    body: bytes
    attributes: dict[str, MessageAttribute] = msgspec.field(default_factory=dict)  # for a queue


class Progress(msgspec.Struct, forbid_unknown_fields=True):
    """Where an event stands: the part of its record that changes as it is worked on."""

    request_id: str
    due: float  # when it is next worked on (an attempt, or a delivery)
    attempts: int = 0  # times the function ran it
    tries: int = 0  # every try, throttled and failed ones included
    last_outcome: str = ""  # what the last try came to, in words
    fate: Fate | None = None  # set once the event's outcome is decided
    deliveries: list[Delivery] = msgspec.field(default_factory=list)  # still to make, once fate is set
    failed_deliveries: int = 0


class EventSummary(msgspec.Struct, frozen=True):
    """One event as `firebox events NAME` shows it."""

    request_id: str
    function_name: str
    qualifier: str | None
    received_at: float
    attempts: int
    tries: int
    last_outcome: str
    fate: str | None  # None while it is still being tried
    pending_deliveries: int
    failed_deliveries: int
    finished_at: float | None
