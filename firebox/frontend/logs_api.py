"""A CloudWatch Logs subset (JSON 1.1 protocol) on the same endpoint, so `aws logs tail` and boto3's
`logs` client read function logs: DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import botocore.session
import msgspec
from aiohttp import web

from firebox.errors import FireboxError, InvalidParameter, ResourceNotFound, UnknownOperation
from firebox.frontend.authentication import Authenticator
from firebox.frontend.aws_errors import aws_error_of
from firebox.frontend.protocol import json_object
from firebox.frontend.validation import validate
from firebox.observability import LogEvent, LogStore
from firebox.store import Arns

TARGET_PREFIX = "Logs_20140328."
_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:logs:[^:]*:\d*:log-group:([^:]+)(?::\*)?$")
_MAX_EVENTS = 10_000

Params = dict[str, Any]


def _event(e: LogEvent) -> dict[str, Any]:
    return {
        "logStreamName": e.stream,
        "timestamp": e.timestamp_ms,
        "message": e.message,
        "ingestionTime": e.ingestion_ms,
        "eventId": str(e.event_id),
    }


def _group_of(params: Params) -> str:
    """The log group a request names, by logGroupName or by logGroupIdentifier (its name or its ARN)."""
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if (name is None) == (identifier is None):
        raise InvalidParameter("Should provide either logGroupName or logGroupIdentifier.")
    if name is not None:
        return str(name)
    found = _GROUP_ARN.match(str(identifier))
    return found.group(1) if found else str(identifier)


def _token(params: Params) -> int:
    token = params.get("nextToken")
    if token is None:
        return 0
    try:
        return int(token.removeprefix("f/").removeprefix("b/"))
    except ValueError as exc:
        raise InvalidParameter("The specified nextToken is invalid.") from exc


class LogsApi:
    def __init__(
        self,
        store: LogStore,
        flush_writers: Callable[[], Awaitable[None]],
        authenticator: Authenticator,
        arns: Arns,
    ) -> None:
        self._store = store
        self._auth = authenticator
        self._arns = arns
        self._flush_writers = flush_writers  # lines written in worker processes are stored before any read
        self._model = botocore.session.get_session().get_service_model("logs")
        self._operations: dict[str, Callable[[Params], Awaitable[Params]]] = {
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
        }

    async def handle(self, request: web.Request, target: str, request_id: str) -> web.Response:
        try:
            caller = await self._auth.caller(request, "logs")
            name = target.removeprefix(TARGET_PREFIX)
            operation = self._operations.get(name)
            if operation is None:
                raise UnknownOperation(f"Firebox does not serve the CloudWatch Logs operation {target}")
            params = json_object(await request.read())
            validate(params, self._model.operation_model(name).input_shape)
            group = _group_of(params) if name != "DescribeLogGroups" else "*"
            caller.require(f"logs:{name}", self._arns.log_group(group))
            await self._flush_writers()
            result = await operation(params)
        except FireboxError as error:
            code, status, message = aws_error_of(error)
            return web.json_response(
                {"__type": code, "message": message},
                status=400 if status < 500 else status,
                headers={"x-amzn-RequestId": request_id},
            )
        return web.Response(
            body=msgspec.json.encode(result),
            content_type="application/x-amz-json-1.1",
            headers={"x-amzn-RequestId": request_id},
        )

    def _existing_group(self, params: Params) -> str:
        group = _group_of(params)
        if group not in self._store.groups(group):
            raise ResourceNotFound("The specified log group does not exist.")
        return group

    async def describe_log_groups(self, params: Params) -> Params:
        groups = self._store.groups(params.get("logGroupNamePrefix", ""))
        return {"logGroups": [{"logGroupName": g, "arn": self._arns.log_group(g), "storedBytes": 0} for g in groups]}

    async def describe_log_streams(self, params: Params) -> Params:
        group = self._existing_group(params)
        streams = self._store.streams(group)
        prefix = params.get("logStreamNamePrefix")
        if prefix:
            streams = [s for s in streams if s.name.startswith(prefix)]
        if params.get("orderBy", "LogStreamName") == "LogStreamName":
            streams.sort(key=lambda s: s.name, reverse=bool(params.get("descending")))
        elif not params.get("descending"):
            streams.reverse()
        limit = params.get("limit", 50)
        return {
            "logStreams": [
                {
                    "logStreamName": s.name,
                    "creationTime": s.first_ms,
                    "firstEventTimestamp": s.first_ms,
                    "lastEventTimestamp": s.last_ms,
                    "lastIngestionTime": s.last_ms,
                    "storedBytes": s.stored_bytes,
                }
                for s in streams[:limit]
            ]
        }

    async def get_log_events(self, params: Params) -> Params:
        group = self._existing_group(params)
        limit = min(params.get("limit", _MAX_EVENTS), _MAX_EVENTS)
        after = _token(params)
        events = self._store.filter(
            group,
            start_ms=params.get("startTime", 0),
            end_ms=params.get("endTime"),
            streams=[params["logStreamName"]],
            after_id=after,
            limit=limit,
        )
        token = f"f/{events[-1].event_id if events else after}"
        return {"events": [_event(e) for e in events], "nextForwardToken": token, "nextBackwardToken": "b/0"}

    async def filter_log_events(self, params: Params) -> Params:
        group = self._existing_group(params)
        limit = min(params.get("limit", _MAX_EVENTS), _MAX_EVENTS)
        pattern = (params.get("filterPattern") or "").strip().strip('"') or None
        events = self._store.filter(
            group,
            start_ms=params.get("startTime", 0),
            end_ms=params.get("endTime"),
            streams=params.get("logStreamNames"),
            after_id=_token(params),
            contains=pattern,
            limit=limit,
        )
        result: Params = {"events": [_event(e) for e in events], "searchedLogStreams": []}
        if len(events) == limit:
            result["nextToken"] = str(events[-1].event_id)
        return result
