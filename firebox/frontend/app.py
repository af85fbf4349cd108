"""The HTTP face of Firebox: the Lambda REST API, the CloudWatch Logs subset, the SQS-compatible queue API,
and code downloads."""

from __future__ import annotations

import logging
import os
import re

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from firebox.code_signature import PROFILE_NAME_PATTERN, PROFILE_VERSION_PATTERN
from firebox.errors import InvalidParameter, PayloadTooLarge, RequestEntityTooLarge, ResourceNotFound
from firebox.frontend import identifiers
from firebox.frontend.access_keys import KeysApi
from firebox.frontend.account import Account
from firebox.frontend.aliases import Aliases
from firebox.frontend.authentication import Authenticator
from firebox.frontend.authorization import Authorization
from firebox.frontend.aws_errors import error_response
from firebox.frontend.code_signing_configs import CodeSigningConfigs
from firebox.frontend.concurrency import FunctionConcurrency
from firebox.frontend.context import Call, Frontend, Operation
from firebox.frontend.event_invoke_configs import EventInvokeConfigs
from firebox.frontend.function_code_signing import FunctionCodeSigning
from firebox.frontend.functions import Functions
from firebox.frontend.invoke import MAX_SYNC_PAYLOAD_BYTES, Invoke
from firebox.frontend.layer_permissions import LayerPermissions
from firebox.frontend.layers import Layers
from firebox.frontend.logs_api import LogsApi
from firebox.frontend.permissions import Permissions
from firebox.frontend.protocol import ServiceApi, parse_request, serialize_result
from firebox.frontend.provisioned import ProvisionedConcurrency
from firebox.frontend.queues_api import TARGET_PREFIX as QUEUES_TARGET
from firebox.frontend.queues_api import QueuesApi, is_query_request
from firebox.frontend.signing_profiles import SigningProfilesApi
from firebox.frontend.tags import Tags
from firebox.frontend.versions import Versions
from firebox.queues import QueueService

MAX_REQUEST_BYTES = 69_905_067  # AWS: a request must be smaller than this (4/3 of 50 MB: a base64-encoded zip)
_CODE_PATH = re.compile(r"^/firebox/code/([0-9a-f]{64})\.zip$")
_EVENTS_PATH = re.compile(r"^/firebox/events/([a-zA-Z0-9_-]{1,64})$")
_KEYS_PATH = re.compile(r"^/firebox/keys(?:/(AKIA[A-Z2-7]{16}))?$")
_SIGNING_PROFILES_PATH = re.compile(
    f"^/firebox/signing-profiles(?:/({PROFILE_NAME_PATTERN})/({PROFILE_VERSION_PATTERN})/revoke)?$"
)


class _QuietAboutMalformedHttp(logging.Filter):
    """aiohttp logs each request it cannot parse as HTTP (a line too long, a control character in a header)
    at ERROR with a traceback, so anyone could fill the log with them; like any other refused request, such
    a one is worth a line at DEBUG and no more."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.msg, record.args = "Refused a malformed HTTP request: %s", (error.message,)
            record.exc_info = record.exc_text = None
        return record.levelno >= logging.getLogger(record.name).getEffectiveLevel()


_http_log = logging.getLogger("firebox.frontend.http")
_http_log.addFilter(_QuietAboutMalformedHttp())


class LambdaApi:
    def __init__(self, frontend: Frontend, queues: QueueService, authenticator: Authenticator, keys: KeysApi) -> None:
        self._frontend = frontend
        self._auth = authenticator
        self._authorization = Authorization(frontend.registry, frontend.arns)
        self._keys = keys
        self._signing_profiles = SigningProfilesApi(frontend.signing_profiles, frontend.arns)
        self._operations: dict[str, Operation] = {}
        resources = (
            Functions(frontend),
            Versions(frontend),
            Aliases(frontend),
            Invoke(frontend),
            Account(frontend),
            FunctionConcurrency(frontend),
            ProvisionedConcurrency(frontend),
            EventInvokeConfigs(frontend),
            Tags(frontend),
            Permissions(frontend),
            Layers(frontend),
            LayerPermissions(frontend),
            CodeSigningConfigs(frontend),
            FunctionCodeSigning(frontend),
        )
        for resource in resources:
            self._operations.update(resource.operations())
        self._api = ServiceApi("lambda", self._operations)
        self._logs = LogsApi(frontend.log_store, frontend.assignment.flush_logs, authenticator, frontend.arns)
        self._queues = QueuesApi(queues, authenticator)

    def application(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_REQUEST_BYTES - 1, handler_args={"access_log": None, "logger": _http_log}
        )
        # Every path, those with a newline in them included: they get the API's own 404, not aiohttp's.
        app.router.add_route("*", r"/{path:[\s\S]*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        request_id = identifiers.request_id()
        try:
            target = request.headers.get("X-Amz-Target")
            if target is not None and target.startswith(QUEUES_TARGET):
                return await self._queues.handle_json(request, target, request_id)
            if target is not None:
                return await self._logs.handle(request, target, request_id)
            if is_query_request(request):
                return await self._queues.handle_query(request, request_id)
            if request.path.startswith("/firebox/"):
                return await self._firebox_route(request)
            return await self._lambda_operation(request, request_id)
        except web.HTTPRequestEntityTooLarge:
            too_large = RequestEntityTooLarge(f"Request must be smaller than {MAX_REQUEST_BYTES} bytes")
            return error_response(too_large, request_id)
        except Exception as error:  # the one catch-all: anything unexpected is a logged ServiceException
            return error_response(error, request_id)

    async def _lambda_operation(self, request: web.Request, request_id: str) -> web.Response:
        # The raw path: the route splits it at real slashes, and each parameter is decoded exactly once.
        operation, uri_params = self._api.match(request.method, request.rel_url.raw_path, request.query)
        if operation.name == "Invoke" and (request.content_length or 0) > MAX_SYNC_PAYLOAD_BYTES:
            raise PayloadTooLarge(
                f"Request must be smaller than {MAX_SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
            )
        try:
            caller = await self._auth.caller(request, "lambda")
        except web.HTTPRequestEntityTooLarge as exc:
            raise RequestEntityTooLarge(
                f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the {operation.name} operation"
            ) from exc
        params = parse_request(operation, uri_params, request.query, request.headers, await request.read())
        await self._authorization.check(caller, operation.name, params)
        call = Call(request_id=request_id, base_url=f"{request.scheme}://{request.host}", caller=caller)
        result = await self._operations[operation.name](params, call)
        reply = serialize_result(operation, result)
        reply.headers["x-amzn-RequestId"] = request_id
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def _firebox_route(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/firebox/health":
            return web.json_response({"status": "ok", "pid": os.getpid()})
        keys_path = _KEYS_PATH.match(request.path)
        if keys_path is not None:
            return await self._keys.handle(request, await self._auth.caller(request, "lambda"), keys_path.group(1))
        profiles_path = _SIGNING_PROFILES_PATH.match(request.path)
        if profiles_path is not None:
            caller = await self._auth.caller(request, "lambda")
            return await self._signing_profiles.handle(request, caller, *profiles_path.groups())
        events_of = _EVENTS_PATH.match(request.path)
        if request.method == "GET" and events_of is not None:
            caller = await self._auth.caller(request, "lambda")
            caller.require("lambda:GetFunction", self._frontend.arns.function(events_of.group(1)))
            summaries = self._frontend.events.summaries(events_of.group(1), _events_limit(request.query.get("limit")))
            return web.Response(body=msgspec.json.encode(summaries), content_type="application/json")
        found = _CODE_PATH.match(request.path)
        if request.method == "GET" and found is not None:
            path = self._frontend.code_store.path(found.group(1))
            if path.exists():
                return web.FileResponse(path, headers={"Content-Type": "application/zip"})
        raise ResourceNotFound(f"Nothing at {request.method} {request.path}")


def _events_limit(text: str | None) -> int:
    try:
        limit = int(text) if text is not None else 50
    except ValueError as exc:
        raise InvalidParameter(f"limit must be a number, not {text!r}") from exc
    if not 1 <= limit <= 10_000:
        raise InvalidParameter("limit must be between 1 and 10000")
    return limit
