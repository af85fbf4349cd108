"""Request ids are version 4 UUIDs, formatted as uuid formats them."""

from __future__ import annotations

import uuid

from firebox.frontend import identifiers


def test_request_ids_are_what_uuid_makes_of_the_same_bits() -> None:
    generator = identifiers._ids
    for _ in range(1000):
        state = generator.getstate()
        made = identifiers.request_id()
        generator.setstate(state)
        assert made == str(uuid.UUID(int=generator.getrandbits(128), version=4))
        assert uuid.UUID(made).version == 4
