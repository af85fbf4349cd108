"""Checking request parameters against the API model's constraints, as AWS's front door does.

Every violation is reported at once, in the words AWS uses ("1 validation error detected: Value '100' at
'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"), and
raised as ConstraintViolated (ValidationException on the wire).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

import regex
from botocore.model import Shape

from firebox.errors import ConstraintViolated, InvalidRequestContent

# Limits Lambda enforces that the published model leaves wider (it also covers Lambda Managed Instances).
_TIGHTER_LIMITS: dict[str, dict[str, int]] = {
    "Timeout": {"min": 1, "max": 900},
    "MemorySize": {"min": 128, "max": 10240},
    "EphemeralStorageSize": {"min": 512, "max": 10240},
}


@cache
def _pattern(expression: str) -> regex.Pattern[str]:
    # The model's patterns are written for Java's dialect, Unicode classes such as \p{L} included: the
    # `regex` module reads those, where `re` refuses them. It may warn about style (a "-" after a range in a
    # character class), which changes nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return regex.compile(expression, regex.DOTALL)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shown(value: Any) -> str:
    """A value as AWS's (Java) messages print it: lists as [a, b], maps as {k=v}."""
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def validate(params: Mapping[str, Any], shape: Shape) -> None:
    problems: list[str] = []
    _check_structure(params, shape, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ConstraintViolated(f"{count} validation {noun} detected: " + "; ".join(problems))


def _check_structure(params: Mapping[str, Any], shape: Shape, path: str, problems: list[str]) -> None:
    members = shape.members
    for name in shape.required_members:
        if params.get(name) is None:
            problems.append(f"Value null at '{path}{_camel(name)}' failed to satisfy constraint: {_MUST}not be null")
    for name, value in params.items():
        member = members.get(name)
        if member is None or value is None:
            continue
        _check_value(value, member, f"{path}{_camel(name)}", problems)


_MUST = "Member must "


def _check_value(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    """Record each constraint `value` breaks, worded and placed as AWS words and places it."""
    kind = shape.type_name
    broken: list[str] = []
    if kind == "structure":
        _require(isinstance(value, dict), path, "an object")
        _check_structure(value, shape, path + ".", problems)
    elif kind == "list":
        _require(isinstance(value, list), path, "an array")
        broken = [_MUST + rule for rule in _length_rules(len(value), _limits(shape))]
        members = _element_rules(value, shape.member, f"{path}.{{}}.member", problems)
        if members:
            broken.append(f"{_MUST}satisfy constraint: [{members}]")
    elif kind == "map":
        _require(isinstance(value, dict), path, "an object")
        broken = [_MUST + rule for rule in _length_rules(len(value), _limits(shape))]
        keys = _element_rules(list(value), shape.key, f"{path}.{{}}.key", problems)
        if keys:
            broken.append(f"Map keys must satisfy constraint: [{keys}]")
        values = _element_rules(list(value.values()), shape.value, f"{path}.{{}}.value", problems)
        if values:
            broken.append(f"Map value must satisfy constraint: [{values}]")
    else:
        broken = [_MUST + rule for rule in _scalar_rules(value, shape, path)]
    if broken:
        # AWS never echoes a sensitive value (environment variables, code) in an error message.
        where = f"Value at '{path}'" if shape.metadata.get("sensitive") else f"Value '{_shown(value)}' at '{path}'"
        problems.extend(f"{where} failed to satisfy constraint: {rule}" for rule in broken)


def _element_rules(items: list[Any], shape: Shape, path: str, problems: list[str]) -> str:
    """The rules elements of a list or map break, joined; composite elements report on their own."""
    if shape.type_name in ("structure", "list", "map"):
        for index, item in enumerate(items):
            _check_value(item, shape, path.format(index + 1), problems)
        return ""
    rules: dict[str, None] = {}  # ordered and without repeats
    for item in items:
        rules.update(dict.fromkeys(_scalar_rules(item, shape, path.format("*"))))
    return ", ".join(_MUST + rule for rule in rules)


@cache  # the model's shapes are few and live as long as the server; every request checks some
def _limits(shape: Shape) -> Mapping[str, Any]:
    return {**shape.metadata, **_TIGHTER_LIMITS.get(shape.name, {})}


def _require(ok: bool, path: str, kind: str) -> None:
    if not ok:
        raise InvalidRequestContent(f"Could not parse request body: {path} must be {kind}")


def _scalar_rules(value: Any, shape: Shape, path: str) -> list[str]:
    kind = shape.type_name
    limits = _limits(shape)
    rules: list[str] = []
    if kind == "string":
        _require(isinstance(value, str), path, "a string")
        short = len(value) <= _REMEMBERED_LENGTH
        rules += _remembered_string_rules(value, shape) if short else _string_rules(value, shape)
    elif kind in ("integer", "long", "float", "double"):
        exact = kind in ("integer", "long")
        number = isinstance(value, int) if exact else isinstance(value, int | float)
        _require(number and not isinstance(value, bool), path, "an integer" if exact else "a number")
        if "min" in limits and value < limits["min"]:
            rules.append(f"have value greater than or equal to {limits['min']}")
        if "max" in limits and value > limits["max"]:
            rules.append(f"have value less than or equal to {limits['max']}")
    elif kind == "boolean":
        _require(isinstance(value, bool), path, "a boolean")
    elif kind == "blob":
        _require(isinstance(value, bytes | bytearray), path, "base64 data")
        rules += _length_rules(len(value), limits)
    return rules


def _string_rules(value: str, shape: Shape) -> tuple[str, ...]:
    limits = _limits(shape)
    rules = _length_rules(len(value), limits)
    if "pattern" in limits and _pattern(limits["pattern"]).fullmatch(value) is None:
        rules.append(f"satisfy regular expression pattern: {limits['pattern']}")
    if shape.enum and value not in shape.enum:
        rules.append(f"satisfy enum value set: [{', '.join(shape.enum)}]")
    return tuple(rules)


# Names, ARNs, qualifiers and enum values come again and again (every Invoke names its function), and the
# model's patterns are long: a short string's verdict is remembered rather than matched each time.
_remembered_string_rules = lru_cache(maxsize=4096)(_string_rules)
_REMEMBERED_LENGTH = 256


def _length_rules(length: int, limits: Mapping[str, Any]) -> list[str]:
    rules: list[str] = []
    if "min" in limits and length < limits["min"]:
        rules.append(f"have length greater than or equal to {limits['min']}")
    if "max" in limits and length > limits["max"]:
        rules.append(f"have length less than or equal to {limits['max']}")
    return rules
