"""What an event's outcome sends where: invocation records for destinations, messages for a dead-letter queue.

Both follow AWS's formats, so code written against Lambda's destinations and DLQs reads them unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from firebox.events.records import AsyncEvent, Delivery, Fate
from firebox.queues import MessageAttribute
from firebox.store import EventInvokeConfigRecord, FunctionConfig
from firebox.worker import InvocationResult

_CONDITIONS = {Fate.SUCCEEDED: "Success", Fate.FAILED: "RetriesExhausted", Fate.EXPIRED: "EventAgeExceeded"}
_MAX_ERROR_MESSAGE = 1024  # what a DLQ message's ErrorMessage attribute holds at most


def deliveries(
    fate: Fate,
    event: AsyncEvent,
    attempts: int,
    function_arn: str,
    config: FunctionConfig,
    settings: EventInvokeConfigRecord,
    result: InvocationResult | None,
    error_code: int,
) -> list[Delivery]:
    """Everything owed for an event that ended as `fate`; `result` is its last run, if it ever ran."""
    destination = settings.on_success if fate is Fate.SUCCEEDED else settings.on_failure
    owed: list[Delivery] = []
    if destination and fate in _CONDITIONS:
        record = invocation_record(_CONDITIONS[fate], event, attempts, function_arn, result)
        owed.append(Delivery(destination, record))
    if fate in (Fate.FAILED, Fate.EXPIRED) and config.dead_letter_target:
        owed.append(_dead_letter(config.dead_letter_target, event, result, error_code))
    return owed


def invocation_record(
    condition: str, event: AsyncEvent, attempts: int, function_arn: str, result: InvocationResult | None
) -> bytes:
    """The invocation record a destination receives."""
    now = datetime.now(UTC)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(event.payload),
    }
    if result is not None:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": result.executed_version}
        if result.function_error is not None:
            response["functionError"] = result.function_error
        record["responseContext"] = response
        record["responsePayload"] = _json_or_text(result.payload)
    return msgspec.json.encode(record)


def _dead_letter(target: str, event: AsyncEvent, result: InvocationResult | None, error_code: int) -> Delivery:
    """Lambda's DLQ message: the event's own payload, with what went wrong in its attributes."""
    error = _error_message(result.payload) if result is not None else "The event was not processed in time"
    attributes = {
        "RequestID": MessageAttribute("String", event.request_id),
        "ErrorCode": MessageAttribute("Number", str(error_code)),
        "ErrorMessage": MessageAttribute("String", error),
    }
    return Delivery(target, event.payload, attributes=attributes)


def _error_message(payload: bytes) -> str:
    document = _json_or_text(payload)
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        return str(document["errorMessage"])[:_MAX_ERROR_MESSAGE]
    return payload[:_MAX_ERROR_MESSAGE].decode(errors="replace")


def _json_or_text(data: bytes) -> Any:
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return data.decode(errors="replace")
