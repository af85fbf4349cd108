"""Put, Update, Get, Delete and ListFunctionEventInvokeConfig(s): how a function's asynchronous invocations
are retried and where their outcomes go."""

from __future__ import annotations

import time

import msgspec

from firebox.errors import InvalidParameter, ResourceNotFound
from firebox.frontend.context import Call, Frontend, Operation, Params, Result
from firebox.frontend.names import split_function_name, unqualified_name
from firebox.frontend.paging import page
from firebox.frontend.qualifiers import resolve_config
from firebox.frontend.targets import check_destination
from firebox.store import LATEST, EventInvokeConfigRecord

_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


class EventInvokeConfigs:
    def __init__(self, frontend: Frontend) -> None:
        self._f = frontend

    def operations(self) -> dict[str, Operation]:
        return {
            "PutFunctionEventInvokeConfig": self.put,
            "UpdateFunctionEventInvokeConfig": self.update,
            "GetFunctionEventInvokeConfig": self.get,
            "DeleteFunctionEventInvokeConfig": self.delete,
            "ListFunctionEventInvokeConfigs": self.list,
        }

    async def _target(self, params: Params) -> tuple[str, str]:
        """(function, qualifier) the request names; both must exist."""
        name, qualifier = split_function_name(params["FunctionName"], params.get("Qualifier"))
        await resolve_config(self._f.registry, name, qualifier)
        return name, qualifier or LATEST

    async def put(self, params: Params, call: Call) -> Result:
        """Replace the whole configuration: what the request leaves out takes its default."""
        name, qualifier = await self._target(params)
        record = _apply(EventInvokeConfigRecord(name, qualifier, last_modified=time.time()), params)
        await self._f.registry.put_event_invoke_config(record)
        return self._shape(record)

    async def update(self, params: Params, call: Call) -> Result:
        """Change only what the request names."""
        name, qualifier = await self._target(params)
        current = await self._f.registry.get_event_invoke_config(name, qualifier)
        if current is None:
            raise self._not_found(name, qualifier)
        record = _apply(msgspec.structs.replace(current, last_modified=time.time()), params)
        await self._f.registry.put_event_invoke_config(record)
        return self._shape(record)

    async def get(self, params: Params, call: Call) -> Result:
        name, qualifier = await self._target(params)
        record = await self._f.registry.get_event_invoke_config(name, qualifier)
        if record is None:
            raise self._not_found(name, qualifier)
        return self._shape(record)

    async def delete(self, params: Params, call: Call) -> Result:
        name, qualifier = await self._target(params)
        if not await self._f.registry.delete_event_invoke_config(name, qualifier):
            raise self._not_found(name, qualifier)
        return {}

    async def list(self, params: Params, call: Call) -> Result:
        name = unqualified_name(params["FunctionName"])
        records = await self._f.registry.list_event_invoke_configs(name)
        chunk, next_marker = page(records, params.get("Marker"), params.get("MaxItems"))
        result: Result = {"FunctionEventInvokeConfigs": [self._shape(r) for r in chunk]}
        if next_marker is not None:
            result["NextMarker"] = next_marker
        return result

    def _shape(self, record: EventInvokeConfigRecord) -> Result:
        return {
            "LastModified": record.last_modified,
            "FunctionArn": self._f.arns.function(record.function_name, record.qualifier),
            "MaximumRetryAttempts": record.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": record.maximum_event_age_s,
            "DestinationConfig": {
                "OnSuccess": {"Destination": record.on_success} if record.on_success else {},
                "OnFailure": {"Destination": record.on_failure} if record.on_failure else {},
            },
        }

    def _not_found(self, name: str, qualifier: str) -> ResourceNotFound:
        arn = self._f.arns.function(name, qualifier)
        return ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")


def _apply(record: EventInvokeConfigRecord, params: Params) -> EventInvokeConfigRecord:
    if not any(setting in params for setting in _SETTINGS):
        raise InvalidParameter("You must specify at least one of error handling or destination setting.")
    changes: dict[str, object] = {}
    if "MaximumRetryAttempts" in params:
        changes["maximum_retry_attempts"] = params["MaximumRetryAttempts"]
    if "MaximumEventAgeInSeconds" in params:
        changes["maximum_event_age_s"] = params["MaximumEventAgeInSeconds"]
    destinations = params.get("DestinationConfig", {})
    for member, field in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
        if member in destinations:
            target = destinations[member].get("Destination") or None
            if target is not None:
                check_destination(target)
            changes[field] = target
    return msgspec.structs.replace(record, **changes)
