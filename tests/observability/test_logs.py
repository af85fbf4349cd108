"""LogStore: lines appended between flushes are all stored, in the order they were appended."""

from __future__ import annotations

from pathlib import Path

from firebox.observability import LogStore


def test_batches_are_stored_whole_and_in_order(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db")
    try:
        for batch in range(3):
            for line in range(500):
                store.append("/aws/lambda/f", "stream", f"{batch}-{line}", timestamp_ms=1)
            store.flush()
        store.append("/aws/lambda/g", "other", "elsewhere", timestamp_ms=1)
        events = store.filter("/aws/lambda/f")
        assert [event.message for event in events] == [f"{b}-{n}" for b in range(3) for n in range(500)]
        assert [event.message for event in store.filter("/aws/lambda/g")] == ["elsewhere"]
    finally:
        store.close()
