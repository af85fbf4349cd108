"""Queue attributes: which exist, which a caller may set, the values each accepts, and their defaults.

Attributes travel as text (SQS's wire form) and are stored that way, normalised: numbers as decimal
digits, booleans as "true"/"false", a redrive policy as compact JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from firebox.errors import InvalidAttributeName, InvalidAttributeValue

DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "262144",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
}
FIFO_DEFAULTS = {"ContentBasedDeduplication": "false", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"}
_RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 262_144),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
_BOOLEANS = {"FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"}
_CHOICES = {"DeduplicationScope": ("messageGroup", "queue"), "FifoThroughputLimit": ("perQueue", "perMessageGroupId")}
_FIFO_ONLY = {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
# Kept as given and answered back: Firebox enforces no access policy and encrypts nothing itself.
_AS_GIVEN = {"Policy", "KmsMasterKeyId"}
_JSON = {"RedrivePolicy", "RedriveAllowPolicy"}
SETTABLE = frozenset({*_RANGES, *_BOOLEANS, *_CHOICES, *_AS_GIVEN, *_JSON})
COMPUTED = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "QueueArn",
    }
)
READABLE = SETTABLE | COMPUTED
_MAX_RECEIVE_COUNT = 1000


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    target_arn: str
    max_receive_count: int


def checked_attributes(given: Mapping[str, str], *, fifo: bool, creating: bool) -> dict[str, str]:
    """`given` normalised, or the error AWS gives for the first attribute it refuses. An empty
    RedrivePolicy (or Policy) is kept empty: it means "remove it"."""
    checked: dict[str, str] = {}
    for name, value in given.items():
        if name not in SETTABLE or (name in _FIFO_ONLY and not fifo):
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name == "FifoQueue" and not creating:
            raise InvalidAttributeValue(
                f"Invalid value for the parameter {name}. Reason: Modifying queue type is not supported."
            )
        checked[name] = _checked_value(name, value)
    return checked


def _invalid(name: str, reason: str | None = None) -> InvalidAttributeValue:
    suffix = f" Reason: {reason}" if reason else ""
    return InvalidAttributeValue(f"Invalid value for the parameter {name}.{suffix}")


def _checked_value(name: str, value: str) -> str:
    if name in _RANGES:
        low, high = _RANGES[name]
        if not value.strip().lstrip("-").isdigit() or not low <= int(value) <= high:
            raise _invalid(name)
        return str(int(value))
    if name in _BOOLEANS:
        if value.lower() not in ("true", "false"):
            raise _invalid(name)
        return value.lower()
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise _invalid(name)
        return value
    if name == "RedrivePolicy":
        return "" if value == "" else _redrive_json(redrive_policy(value))
    if name == "RedriveAllowPolicy" and value:
        _redrive_allow(value)
    return value


def redrive_policy(text: str) -> RedrivePolicy:
    """The policy `text` states, or InvalidAttributeValue naming what is wrong with it."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _invalid("RedrivePolicy", "Redrive policy is not a valid JSON map.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("deadLetterTargetArn"), str):
        raise _invalid("RedrivePolicy", "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    count = document.get("maxReceiveCount")
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= _MAX_RECEIVE_COUNT:
        raise _invalid("RedrivePolicy", f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000.")
    return RedrivePolicy(document["deadLetterTargetArn"], count)


def _redrive_json(policy: RedrivePolicy) -> str:
    return json.dumps(
        {"deadLetterTargetArn": policy.target_arn, "maxReceiveCount": policy.max_receive_count}, separators=(",", ":")
    )


def _redrive_allow(text: str) -> None:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise _invalid("RedriveAllowPolicy", "Redrive allow policy is not a valid JSON map.") from exc
    if not isinstance(document, dict) or document.get("redrivePermission") not in ("allowAll", "denyAll", "byQueue"):
        raise _invalid(
            "RedriveAllowPolicy", "Amazon SQS can't create the redrive allow policy, as it's in an unsupported format."
        )


def requested_names(names: Iterable[str]) -> set[str]:
    """The attribute names a GetQueueAttributes asks for ("All" means every one)."""
    wanted: set[str] = set()
    for name in names:
        if name == "All":
            return set(READABLE)
        if name not in READABLE:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        wanted.add(name)
    return wanted
