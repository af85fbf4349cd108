"""The AWS REST-JSON protocol, server side, driven by botocore's service model.

botocore knows how a client turns parameters into a request and a response back into a result; this
module does the reverse for each modelled operation: it finds the operation from method and path, reads
its parameters from the URI, query string, headers and body (typed by the model and checked against its
constraints), and writes a result back as the model says the client expects it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import botocore.session
import msgspec
from botocore.model import OperationModel, Shape
from multidict import MultiMapping

from firebox.errors import InvalidRequestContent, UnknownOperation
from firebox.frontend.validation import validate

_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Route:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    fixed_query: tuple[tuple[str, str], ...]  # e.g. ?List=ALL that tells two operations on one path apart


@dataclass(frozen=True, slots=True)
class Reply:
    """A serialised result: what the HTTP layer writes."""

    status: int
    headers: dict[str, str]
    body: bytes


def _route_pattern(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{"):
            name = piece[1:-1]
            greedy = name.endswith("+")
            parts.append(f"(?P<{name.rstrip('+')}>{'.+' if greedy else '[^/]+'})")
        else:
            parts.append(re.escape(piece))
    return re.compile("^" + "".join(parts).rstrip("/") + "/?$")


class ServiceApi:
    def __init__(self, service: str, operations: Iterable[str]) -> None:
        self.model = botocore.session.get_session().get_service_model(service)
        self._routes: list[Route] = []
        for name in operations:
            operation = self.model.operation_model(name)
            path, _, query = operation.http["requestUri"].partition("?")
            fixed = tuple(tuple(pair.split("=", 1)) for pair in query.split("&") if "=" in pair)
            self._routes.append(Route(operation, operation.http["method"], _route_pattern(path), fixed))
        # Routes that need a fixed query parameter are tried before the plain one on the same path.
        self._routes.sort(key=lambda route: -len(route.fixed_query))

    def match(self, method: str, path: str, query: Mapping[str, str]) -> tuple[OperationModel, dict[str, str]]:
        for route in self._routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found is None or any(query.get(k) != v for k, v in route.fixed_query):
                continue
            return route.operation, {k: unquote(v) for k, v in found.groupdict().items()}
        raise UnknownOperation(f"No Lambda operation at {method} {path}")


def parse_request(
    operation: OperationModel,
    uri_params: Mapping[str, str],
    query: MultiMapping[str],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    """Parameters of the request, typed and checked against the model."""
    shape = operation.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload_member = shape.serialization.get("payload")
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in uri_params:
                params[name] = _from_text(uri_params[wire], member, wire)
        elif location == "querystring":
            if member.type_name == "list":  # ?tagKeys=a&tagKeys=b
                if wire in query:
                    params[name] = [_from_text(value, member.member, wire) for value in query.getall(wire)]
            elif wire in query:
                params[name] = _from_text(query[wire], member, wire)
        elif location == "header":
            if wire in headers:
                params[name] = _from_text(headers[wire], member, wire)
        elif name == payload_member:
            if member.type_name == "blob":
                params[name] = body
            elif body:
                params[name] = _from_json(_decode_body(body), member)
        else:
            body_members[name] = member
    if body_members and body:
        document = json_object(body)
        for name, member in body_members.items():
            if name in document:
                params[name] = _from_json(document[name], member)
    validate(params, shape)
    return params


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object (an empty body is an empty one). A member that is null is
    left out, as AWS's JSON protocols read it: not given."""
    document = _decode_body(body) if body else {}
    if not isinstance(document, dict):
        raise InvalidRequestContent("Could not parse request body into json: the body must be a JSON object")
    return {name: value for name, value in document.items() if value is not None}


def _decode_body(body: bytes) -> Any:
    try:
        return _json_decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
    except RecursionError as exc:  # msgspec's answer to nesting deeper than the interpreter allows
        raise InvalidRequestContent("Could not parse request body into json: it is nested too deeply") from exc


def _from_text(text: str, shape: Shape, wire: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind == "boolean":
            return {"true": True, "false": False}[text.lower()]
    except (ValueError, KeyError) as exc:
        raise InvalidRequestContent(f"Could not read {wire}: {text!r} is not a valid {kind}") from exc
    return text


def _from_json(value: Any, shape: Shape) -> Any:
    """Turn JSON-decoded data into the model's Python types (blobs arrive as base64 text)."""
    kind = shape.type_name
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequestContent(f"Could not parse request body: {shape.name} is not valid base64") from exc
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _from_json(v, members[k]) if k in members else v for k, v in value.items() if v is not None}
    if kind == "list" and isinstance(value, list):
        return [_from_json(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_json(v, shape.value) for k, v in value.items()}
    return value


def serialize_result(operation: OperationModel, result: Mapping[str, Any]) -> Reply:
    status = int(operation.http.get("responseCode", 200))
    headers: dict[str, str] = {}
    shape = operation.output_shape
    if shape is None:
        return Reply(status, headers, b"")
    payload_member = shape.serialization.get("payload")
    document: dict[str, Any] = {}
    body = b""
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        location = member.serialization.get("location")
        if location == "statusCode":
            status = int(value)
        elif location == "header":
            headers[member.serialization.get("name", name)] = str(value)
        elif name == payload_member:
            body = bytes(value) if member.type_name == "blob" else _json_encode(_to_json(value, member))
        else:
            document[name] = _to_json(value, member)
    if status == 204:  # No Content: a body would break the HTTP framing of the reply
        return Reply(status, headers, b"")
    if payload_member is None:
        body = _json_encode(document)
    headers.setdefault("Content-Type", "application/json")
    return Reply(status, headers, body)


def _to_json(value: Any, shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "blob":
        return base64.b64encode(value).decode()
    if kind == "structure":
        members = shape.members
        return {k: _to_json(v, members[k]) for k, v in value.items() if k in members and v is not None}
    if kind == "list":
        return [_to_json(v, shape.member) for v in value]
    if kind == "map":
        return {k: _to_json(v, shape.value) for k, v in value.items()}
    return value
