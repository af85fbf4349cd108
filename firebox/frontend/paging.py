"""Marker/MaxItems paging over lists the registry returns whole (versions, aliases)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from firebox.errors import InvalidParameter

T = TypeVar("T")


def page(
    items: Sequence[T], marker: str | None, max_items: int | None, default: int = 50
) -> tuple[list[T], str | None]:
    """One page of `items` from position `marker`, and the marker of the next page if there is one."""
    limit = default if max_items is None else max_items
    if not 1 <= limit <= 10000:
        raise InvalidParameter("MaxItems must be between 1 and 10000")
    try:
        start = int(marker) if marker else 0
    except ValueError as exc:
        raise InvalidParameter(f"Invalid Marker {marker!r}") from exc
    chunk = list(items[start : start + limit])
    return chunk, str(start + limit) if start + limit < len(items) else None
