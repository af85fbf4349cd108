"""The MD5 digests SQS answers with, computed exactly as AWS does: SDKs compare them with their own.

For attributes, each one in order of name contributes its name, its data type, a transport byte (1 for
String and Number, 2 for Binary) and its value, every string and value preceded by its length as four
big-endian bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from firebox.queues.records import MessageAttribute

_STRING, _BINARY = b"\x01", b"\x02"


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, MessageAttribute]) -> str | None:
    """The digest of `attributes`; None when there are none (AWS then leaves the field out)."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        attribute = attributes[name]
        digest.update(_prefixed(name.encode()))
        digest.update(_prefixed(attribute.data_type.encode()))
        if attribute.binary_value is not None:
            digest.update(_BINARY + _prefixed(attribute.binary_value))
        else:
            digest.update(_STRING + _prefixed((attribute.string_value or "").encode()))
    return digest.hexdigest()


def _prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data
