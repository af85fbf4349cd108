"""The rules every batch request (SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch) keeps
as a whole, before any of its entries is looked at."""

from __future__ import annotations

import re
from collections.abc import Sequence

from firebox.errors import BatchEntryIdsNotDistinct, BatchTooLong, EmptyBatch, InvalidBatchEntryId, TooManyBatchEntries

MAX_ENTRIES = 10
MAX_BATCH_BYTES = 262_144
_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def check_batch(entry_ids: Sequence[str], entry_name: str) -> None:
    """`entry_name` is the entry shape's name, as AWS's message says it (SendMessageBatchRequestEntry)."""
    if not entry_ids:
        raise EmptyBatch(f"There should be at least one {entry_name} in the request.")
    if len(entry_ids) > MAX_ENTRIES:
        raise TooManyBatchEntries(
            f"Maximum number of entries per request are {MAX_ENTRIES}. You have sent {len(entry_ids)}."
        )
    seen: set[str] = set()
    for entry_id in entry_ids:
        if _ENTRY_ID.fullmatch(entry_id) is None:
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at"
                " most 80 letters long."
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


def check_batch_size(total_bytes: int) -> None:
    if total_bytes > MAX_BATCH_BYTES:
        raise BatchTooLong(
            f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total_bytes} bytes."
        )
