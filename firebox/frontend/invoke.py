"""Invoke (RequestResponse, Event and DryRun) and the deprecated InvokeAsync."""

from __future__ import annotations

import base64
import time

import msgspec

from firebox.errors import InvalidRequestContent, PayloadTooLarge
from firebox.events import AsyncEvent
from firebox.frontend import identifiers
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import split_function_name, unqualified_name
from firebox.frontend.qualifiers import pick_version, resolve
from firebox.store import FunctionConfig
from firebox.worker import Invocation, InvocationResult

MAX_SYNC_PAYLOAD_BYTES = 6_291_456  # AWS: 6 MB for a synchronous request
MAX_ASYNC_PAYLOAD_BYTES = 1_048_576  # AWS: 1 MB for an event
_validate_json = msgspec.json.Decoder().decode


def _client_context(header: str | None) -> str | None:
    if header is None:
        return None
    try:
        decoded = base64.b64decode(header, validate=True).decode()
        msgspec.json.decode(decoded)
    # ValueError: not Base64 (binascii.Error), not UTF-8, or not even ASCII text to begin with.
    except (ValueError, msgspec.DecodeError, RecursionError) as exc:
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from exc
    return decoded


def _checked_payload(payload: bytes, limit: int) -> bytes:
    if len(payload) > limit:
        raise PayloadTooLarge(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
    try:
        _validate_json(payload)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise InvalidRequestContent(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc
    return payload


class FunctionCalls:
    """Running one invocation of a function: what sync Invoke does at once and async events do per try."""

    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    async def resolve(self, function_name: str, qualifier: str | None) -> FunctionConfig:
        """The configuration an invocation of the qualifier runs (an alias routes by its weights)."""
        version, alias = await resolve(self._f.registry, function_name, qualifier)
        if alias is not None:
            version = pick_version(alias)
        return await self._f.registry.get_config(function_name, version)

    async def invoke(self, config: FunctionConfig, event: AsyncEvent) -> InvocationResult:
        invocation = Invocation(
            request_id=event.request_id,
            payload=event.payload,
            invoked_arn=self._f.arns.function(event.function_name, event.qualifier),
            trace_id=identifiers.trace_id(),
            client_context=event.client_context,
        )
        return await self._f.assignment.invoke(config, invocation)


class Invoke:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend
        self._calls = FunctionCalls(frontend)

    def operations(self) -> dict[str, Operation]:
        return {"Invoke": self.invoke, "InvokeAsync": self.invoke_async}

    async def invoke(self, params: Params, call: Call) -> Result:
        name, qualifier = split_function_name(params["FunctionName"], params.get("Qualifier"))
        invocation_type = params.get("InvocationType", "RequestResponse")
        client_context = _client_context(params.get("ClientContext"))
        if invocation_type == "Event":
            payload = _checked_payload(params.get("Payload") or b"{}", MAX_ASYNC_PAYLOAD_BYTES)
            await self._accept(name, qualifier, payload, client_context, call)
            return {"StatusCode": 202}
        payload = _checked_payload(params.get("Payload") or b"{}", MAX_SYNC_PAYLOAD_BYTES)
        config = await self._calls.resolve(name, qualifier)
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        invocation = Invocation(
            request_id=call.request_id,
            payload=payload,
            invoked_arn=self._f.arns.function(name, qualifier),
            trace_id=identifiers.trace_id(),
            client_context=client_context,
            want_log_tail=params.get("LogType") == "Tail",
        )
        result = await self._f.assignment.invoke(config, invocation)
        reply: Result = {
            "StatusCode": 200,
            "Payload": result.payload,
            "ExecutedVersion": result.executed_version,
            "FunctionError": result.function_error,
        }
        if invocation.want_log_tail:
            reply["LogResult"] = base64.b64encode(result.log_tail).decode()
        return reply

    async def invoke_async(self, params: Params, call: Call) -> Result:
        """The deprecated InvokeAsync: an Event invocation of the unqualified function."""
        name = unqualified_name(params["FunctionName"])
        payload = _checked_payload(params.get("InvokeArgs") or b"{}", MAX_ASYNC_PAYLOAD_BYTES)
        await self._accept(name, None, payload, None, call)
        return {"Status": 202}

    async def _accept(
        self, name: str, qualifier: str | None, payload: bytes, client_context: str | None, call: Call
    ) -> None:
        """Queue the event durably, once its function and qualifier are known to exist."""
        await self._calls.resolve(name, qualifier)
        event = AsyncEvent(call.request_id, name, qualifier, payload, time.time(), client_context)
        await self._f.events.accept(event)
