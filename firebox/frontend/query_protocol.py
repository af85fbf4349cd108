"""The AWS query protocol of SQS, server side: form fields in, XML out, driven by botocore's SQS model.

botocore's SQS model is the JSON protocol's, which no longer carries the query protocol's wire names; the
two tables below restore them. A flattened list is numbered from 1 under its element's name
(`AttributeName.1`), a map is numbered entries of a name and a value (`Attribute.1.Name`,
`Attribute.1.Value`), and a structure's members follow their parent's name (`MessageAttribute.1.Value.DataType`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import Shape

from firebox.errors import InvalidQueueParameter
from firebox.frontend.aws_errors import SqsError

_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
# List shape -> the name each element travels under (otherwise the element shape's own name).
_LIST_ELEMENTS = {
    "AttributeNameList": "AttributeName",
    "MessageSystemAttributeList": "MessageSystemAttributeName",
    "MessageAttributeNameList": "MessageAttributeName",
    "TagKeyList": "TagKey",
    "StringList": "StringListValue",
    "BinaryList": "BinaryListValue",
    "QueueUrlList": "QueueUrl",
    "AWSAccountIdList": "AWSAccountId",
    "ActionNameList": "ActionName",
}
# Map shape -> (entry name, key name, value name).
_MAP_ENTRIES = {
    "QueueAttributeMap": ("Attribute", "Name", "Value"),
    "MessageSystemAttributeMap": ("Attribute", "Name", "Value"),
    "TagMap": ("Tag", "Key", "Value"),
    "MessageBodyAttributeMap": ("MessageAttribute", "Name", "Value"),
    "MessageBodySystemAttributeMap": ("MessageSystemAttribute", "Name", "Value"),
}


def _wire_name(member: str, shape: Shape) -> str:
    if shape.type_name == "list":
        return _LIST_ELEMENTS.get(shape.name, str(shape.member.name))
    if shape.type_name == "map":
        return _MAP_ENTRIES[shape.name][0]
    return member


def parse_form(shape: Shape | None, form: Mapping[str, str]) -> dict[str, Any]:
    """The parameters `form` holds for an operation whose input is `shape`, typed by the model."""
    if shape is None:
        return {}
    present: set[str] = set()  # every dotted prefix of every field name: what is there to read
    for key in form:
        parts = key.split(".")
        present.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    parsed = _read(shape, "", form, present)
    return parsed if isinstance(parsed, dict) else {}


def _read(shape: Shape, key: str, form: Mapping[str, str], present: set[str]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if key and key not in present:
            return None
        values = {}
        for name, member in shape.members.items():
            wire = _wire_name(name, member)
            value = _read(member, f"{key}.{wire}" if key else wire, form, present)
            if value is not None:
                values[name] = value
        return values
    if kind == "list":
        items: list[Any] = []
        while f"{key}.{len(items) + 1}" in present:
            items.append(_read(shape.member, f"{key}.{len(items) + 1}", form, present))
        return items or None
    if kind == "map":
        _, key_name, value_name = _MAP_ENTRIES[shape.name]
        entries: dict[str, Any] = {}
        index = 1
        while f"{key}.{index}" in present:
            name = form.get(f"{key}.{index}.{key_name}")
            if name is not None:
                entries[name] = _read(shape.value, f"{key}.{index}.{value_name}", form, present)
            index += 1
        return entries or None
    text = form.get(key)
    return None if text is None else _scalar(text, shape, key)


def _scalar(text: str, shape: Shape, key: str) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise InvalidQueueParameter(
                f"Value {text} for parameter {key} is invalid. Reason: Must be an integer."
            ) from None
    if kind == "boolean":
        return text.lower() == "true"
    if kind == "blob":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidQueueParameter(
                f"Value for parameter {key} is invalid. Reason: It is not valid base64."
            ) from None
    return text


def xml_result(operation: str, shape: Shape | None, result: Mapping[str, Any], request_id: str) -> bytes:
    out = [f'<?xml version="1.0"?><{operation}Response xmlns="{_NAMESPACE}">']
    if shape is not None and shape.members:
        out.append(f"<{operation}Result>")
        _write_members(shape, result, out)
        out.append(f"</{operation}Result>")
    out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>")
    return "".join(out).encode()


def xml_error(error: SqsError, request_id: str) -> bytes:
    return (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{_NAMESPACE}"><Error><Type>{error.fault}</Type>'
        f"<Code>{_text(error.code)}</Code><Message>{_text(error.message)}</Message><Detail/></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def _write_members(shape: Shape, values: Mapping[str, Any], out: list[str]) -> None:
    for name, member in shape.members.items():
        value = values.get(name)
        if value is None:
            continue
        wire = _wire_name(name, member)
        if member.type_name == "list":
            for item in value:
                out.append(f"<{wire}>")
                _write_value(member.member, item, out)
                out.append(f"</{wire}>")
        elif member.type_name == "map":
            _, key_name, value_name = _MAP_ENTRIES[member.name]
            for key, item in value.items():
                out.append(f"<{wire}><{key_name}>{_text(key)}</{key_name}><{value_name}>")
                _write_value(member.value, item, out)
                out.append(f"</{value_name}></{wire}>")
        else:
            out.append(f"<{wire}>")
            _write_value(member, value, out)
            out.append(f"</{wire}>")


def _write_value(shape: Shape, value: Any, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _write_members(shape, value, out)
    elif kind == "blob":
        out.append(base64.b64encode(value).decode())
    elif kind == "boolean":
        out.append("true" if value else "false")
    else:
        out.append(_text(str(value)))


def _text(value: str) -> str:
    # A carriage return is escaped as well: an XML parser would otherwise turn it into a line feed.
    return escape(value, {"\r": "&#xD;"})
