"""What a message may hold: its body's characters, its attributes' names, types and values, and its size.

Each rule broken raises the error, and in the words, that SQS uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from firebox.errors import InvalidMessageContents, InvalidQueueParameter, MissingParameter
from firebox.queues.records import MessageAttribute

MAX_ATTRIBUTES = 10
# The characters XML 1.0 allows; everything else (NUL, most control characters, lone surrogates) is refused.
_NOT_ALLOWED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.\S+)?")
_RESERVED_PREFIXES = ("aws.", "amazon.")


def check_body(body: str) -> None:
    if body == "":
        raise MissingParameter("The request must contain the parameter MessageBody.")
    found = _NOT_ALLOWED.search(body)
    if found is not None:
        raise InvalidMessageContents(
            f"Invalid binary character '#x{ord(found.group()):X}' was found in the message body, the set of allowed"
            " characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )


def check_attributes(attributes: Mapping[str, MessageAttribute]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidQueueParameter(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    for name, attribute in attributes.items():
        _check_attribute(name, attribute)


def _check_attribute(name: str, attribute: MessageAttribute) -> None:
    lowered = name.lower()
    if (
        _ATTRIBUTE_NAME.fullmatch(name) is None
        or lowered.startswith(_RESERVED_PREFIXES)
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
    ):
        raise InvalidQueueParameter(
            f"Message (user) attribute name '{name}' is invalid. The attribute name can contain A-Z, a-z, 0-9,"
            " underscore (_), hyphen (-), and period (.) characters."
        )
    kind = attribute.data_type
    found = _DATA_TYPE.fullmatch(kind) if len(kind) <= 256 else None
    if found is None:
        raise InvalidQueueParameter(
            f"The type of message (user) attribute '{name}' is invalid. You must use only the following supported"
            " type prefixes: Binary, Number, String."
        )
    if found.group(1) == "Binary":
        if not attribute.binary_value or attribute.string_value is not None:
            raise _empty_value(name, kind)
        return
    if not attribute.string_value or attribute.binary_value is not None:
        raise _empty_value(name, kind)
    bad_character = _NOT_ALLOWED.search(attribute.string_value)
    if bad_character is not None:
        raise InvalidMessageContents(f"Invalid binary character in the value of message attribute '{name}'.")
    if found.group(1) == "Number":
        try:
            number = Decimal(attribute.string_value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise InvalidQueueParameter(f"Can't cast the value of message (user) attribute '{name}' to a number.")


def _empty_value(name: str, kind: str) -> InvalidQueueParameter:
    return InvalidQueueParameter(
        f"The message attribute '{name}' must contain non-empty message attribute value for message attribute"
        f" type '{kind.split('.', 1)[0]}'."
    )


def message_size(body: str, attributes: Mapping[str, MessageAttribute]) -> int:
    """Bytes counted against the queue's MaximumMessageSize: the body, and each attribute's name, type and value."""
    size = len(body.encode())
    for name, attribute in attributes.items():
        value = (
            attribute.binary_value if attribute.binary_value is not None else (attribute.string_value or "").encode()
        )
        size += len(name.encode()) + len(attribute.data_type.encode()) + len(value)
    return size


def too_large(limit: int) -> InvalidQueueParameter:
    return InvalidQueueParameter(
        f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
    )
