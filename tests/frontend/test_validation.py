"""Model-constraint checks word their findings as AWS does, and wrong JSON types are refused as such."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from firebox.errors import ConstraintViolated, InvalidRequestContent
from firebox.frontend.validation import validate

MODEL = botocore.session.get_session().get_service_model("lambda")
CREATE = MODEL.operation_model("CreateFunction").input_shape
CREATE_ALIAS = MODEL.operation_model("CreateAlias").input_shape
GOOD: dict[str, Any] = {"FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Code": {"ZipFile": b"z"}}
PREFIX = "1 validation error detected: "


def _message(shape: Any, params: dict[str, Any]) -> str:
    with pytest.raises(ConstraintViolated) as caught:
        validate(params, shape)
    return caught.value.message


def test_valid_parameters_pass() -> None:
    validate(
        {
            **GOOD,
            "MemorySize": 10240,
            "Timeout": 900,
            "EphemeralStorage": {"Size": 512},
            "Environment": {"Variables": {"AB": "x"}},
            "Architectures": ["arm64"],
        },
        CREATE,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"MemorySize": 127},
            "Value '127' at 'memorySize' failed to satisfy constraint: "
            "Member must have value greater than or equal to 128",
        ),
        (
            {"Timeout": 901},
            "Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
        ),
        (
            {"EphemeralStorage": {"Size": 10241}},
            "Value '10241' at 'ephemeralStorage.size' failed to satisfy "
            "constraint: Member must have value less than or equal to 10240",
        ),
        (
            {"Description": "d" * 257},
            f"Value '{'d' * 257}' at 'description' failed to satisfy constraint: "
            "Member must have length less than or equal to 256",
        ),
        (
            {"Architectures": ["arm64", "arm64"]},
            "Value '[arm64, arm64]' at 'architectures' failed to satisfy "
            "constraint: Member must have length less than or equal to 1",
        ),
        (
            {"Architectures": ["mips"]},
            "Value '[mips]' at 'architectures' failed to satisfy constraint: Member "
            "must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
        ),
        (
            {"Environment": {"Variables": {"1X": "secret"}}},
            "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: "
            "[Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
        ),
    ],
    ids=["memory", "timeout", "storage", "description", "architectures-length", "architecture-enum", "env-key"],
)
def test_one_violation(extra: dict[str, Any], message: str) -> None:
    assert _message(CREATE, {**GOOD, **extra}) == PREFIX + message


def test_a_sensitive_value_is_never_echoed() -> None:
    message = _message(CREATE, {**GOOD, "Environment": {"Variables": {"-bad": "hunter2"}}})
    assert "hunter2" not in message
    assert "-bad" not in message


def test_every_violation_is_reported_at_once() -> None:
    message = _message(CREATE, {"FunctionName": "f", "MemorySize": 1, "Timeout": 0})
    assert message.startswith("4 validation errors detected: ")
    parts = message.removeprefix("4 validation errors detected: ").split("; ")
    assert parts == [
        "Value null at 'role' failed to satisfy constraint: Member must not be null",
        "Value null at 'code' failed to satisfy constraint: Member must not be null",
        "Value '1' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128",
        "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1",
    ]


def test_routing_weights_are_bounded() -> None:
    params = {
        "FunctionName": "f",
        "Name": "live",
        "FunctionVersion": "1",
        "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}},
    }
    assert _message(CREATE_ALIAS, params) == PREFIX + (
        "Value '{2=1.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must have value less than or equal to 1.0]"
    )
    validate({**params, "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5}}}, CREATE_ALIAS)


@pytest.mark.parametrize(
    "extra",
    [
        {"MemorySize": "128"},
        {"MemorySize": 128.0},
        {"MemorySize": True},
        {"Publish": "true"},
        {"Code": "zip"},
        {"Architectures": "x86_64"},
        {"Environment": {"Variables": ["AB=1"]}},
        {"Environment": {"Variables": {"AB": 1}}},
        {"Handler": 5},
        {"Code": {"ZipFile": "not bytes"}},
    ],
    ids=[
        "int-as-string",
        "int-as-float",
        "int-as-bool",
        "bool-as-string",
        "struct-as-string",
        "list-as-string",
        "map-as-list",
        "map-value-number",
        "string-as-number",
        "blob-as-string",
    ],
)
def test_wrong_json_types_are_unparseable_content(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestContent):
        validate({**GOOD, **extra}, CREATE)
