"""Events: asynchronous invocation (a durable queue, retries, event age, dead-letter queues, destinations)."""

from firebox.events.invocations import AsyncInvocations, FunctionInvoker
from firebox.events.policy import RetryPolicy
from firebox.events.records import AsyncEvent, EventSummary, Fate
from firebox.events.store import EventStore, SqliteEventStore

__all__ = [
    "AsyncEvent",
    "AsyncInvocations",
    "EventStore",
    "EventSummary",
    "Fate",
    "FunctionInvoker",
    "RetryPolicy",
    "SqliteEventStore",
]
