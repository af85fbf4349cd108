"""Invoke: synchronous (RequestResponse) and DryRun invocations."""

from __future__ import annotations

import base64
import binascii

import msgspec

from firebox.errors import InvalidParameter, InvalidRequestContent, PayloadTooLarge
from firebox.frontend import identifiers
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import split_function_name
from firebox.frontend.qualifiers import pick_version, resolve
from firebox.worker import Invocation

MAX_SYNC_PAYLOAD_BYTES = 6_291_456  # AWS: 6 MB for a synchronous request
_validate_json = msgspec.json.Decoder().decode


def _client_context(header: str | None) -> str | None:
    if header is None:
        return None
    try:
        decoded = base64.b64decode(header, validate=True).decode()
        msgspec.json.decode(decoded)
    except (binascii.Error, UnicodeDecodeError, msgspec.DecodeError, RecursionError) as exc:
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from exc
    return decoded


class Invoke:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {"Invoke": self.invoke}

    async def invoke(self, params: Params, call: Call) -> Result:
        name, qualifier = split_function_name(params["FunctionName"], params.get("Qualifier"))
        payload: bytes = params.get("Payload") or b"{}"
        if len(payload) > MAX_SYNC_PAYLOAD_BYTES:
            raise PayloadTooLarge(
                f"Request must be smaller than {MAX_SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
            )
        try:
            _validate_json(payload)
        except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise InvalidRequestContent(
                f"Could not parse request body into json: Could not parse payload into json: {exc}"
            ) from exc
        invocation_type = params.get("InvocationType", "RequestResponse")
        version, alias = await resolve(self._f.registry, name, qualifier)
        if alias is not None:
            version = pick_version(alias)
        config = await self._f.registry.get_config(name, version)
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        if invocation_type != "RequestResponse":
            raise InvalidParameter("Asynchronous invocation (InvocationType=Event) is not supported by Firebox yet")
        invocation = Invocation(
            request_id=call.request_id,
            payload=payload,
            invoked_arn=self._f.arns.function(name, qualifier),
            trace_id=identifiers.trace_id(),
            client_context=_client_context(params.get("ClientContext")),
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
