"""Queues compatible with Amazon SQS: standard and FIFO queues, visibility timeouts, long polling, delays,
retention, redrive to dead-letter queues; durable in their own storage (SQLite by default).

Other packages send to a queue by its ARN with `QueueService.send` and check one exists with
`QueueService.exists`; the frontend serves the whole SQS API on top of `QueueService`.
"""

from firebox.queues.base import QueueStorage
from firebox.queues.batches import check_batch, check_batch_size
from firebox.queues.digests import md5_of_attributes
from firebox.queues.message_rules import message_size
from firebox.queues.records import (
    MessageAttribute,
    MessageRecord,
    OutgoingMessage,
    QueueCounts,
    ReceivedMessage,
    SentMessage,
)
from firebox.queues.service import QueueService
from firebox.queues.sqlite import SqliteQueueStorage, WriteStatistics

__all__ = [
    "MessageAttribute",
    "MessageRecord",
    "OutgoingMessage",
    "QueueCounts",
    "QueueService",
    "QueueStorage",
    "ReceivedMessage",
    "SentMessage",
    "SqliteQueueStorage",
    "WriteStatistics",
    "check_batch",
    "check_batch_size",
    "md5_of_attributes",
    "message_size",
]
