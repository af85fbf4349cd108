"""What CreateFunction and the update operations refuse, how they say so, and that nothing half-done remains.

These use `raw_lambda_client` where botocore would refuse first, so the server's own checks answer.
"""

from __future__ import annotations

import io
import os
import platform
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE
from tests.zips import make_zip

CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
HOST_ARCHITECTURE = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
OTHER_ARCHITECTURE = "x86_64" if HOST_ARCHITECTURE == "arm64" else "arm64"


def _corrupt_zip() -> bytes:
    """A readable directory over data that fails its checksum: only unzipping every member finds it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 'AAAAAAAAAAAAAAAA'\n")
    return buffer.getvalue().replace(b"AAAAAAAAAAAAAAAA", b"BBBBBBBBBBBBBBBB")


CORRUPT_ZIP = _corrupt_zip()
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024


def _constraint(value: str, field: str, rule: str) -> str:
    return f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must {rule}"


ENV_NAME_RULE = (
    "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
    "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
)

# (case id, extra CreateFunction parameters, AWS error code, exact message or None)
MODEL_VIOLATIONS = [
    ("memory-low", {"MemorySize": 100}, _constraint("100", "memorySize", "have value greater than or equal to 128")),
    (
        "memory-high",
        {"MemorySize": 10241},
        _constraint("10241", "memorySize", "have value less than or equal to 10240"),
    ),
    ("timeout-low", {"Timeout": 0}, _constraint("0", "timeout", "have value greater than or equal to 1")),
    ("timeout-high", {"Timeout": 901}, _constraint("901", "timeout", "have value less than or equal to 900")),
    (
        "storage-low",
        {"EphemeralStorage": {"Size": 511}},
        _constraint("511", "ephemeralStorage.size", "have value greater than or equal to 512"),
    ),
    (
        "storage-high",
        {"EphemeralStorage": {"Size": 10241}},
        _constraint("10241", "ephemeralStorage.size", "have value less than or equal to 10240"),
    ),
    (
        "handler-pattern",
        {"Handler": "app handler"},
        _constraint("app handler", "handler", "satisfy regular expression pattern: [^\\s]+"),
    ),
    ("env-name-digit", {"Environment": {"Variables": {"1ST": "x"}}}, ENV_NAME_RULE),
    ("env-name-short", {"Environment": {"Variables": {"A": "x"}}}, ENV_NAME_RULE),
    ("env-name-dash", {"Environment": {"Variables": {"MY-VAR": "x"}}}, ENV_NAME_RULE),
    (
        "two-architectures",
        {"Architectures": ["x86_64", "arm64"]},
        _constraint("[x86_64, arm64]", "architectures", "have length less than or equal to 1"),
    ),
    (
        "unknown-architecture",
        {"Architectures": ["sparc"]},
        _constraint(
            "[sparc]", "architectures", "satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]"
        ),
    ),
]

PARAMETER_REFUSALS = [
    ("runtime-not-installed", {"Runtime": "nodejs20.x"}, "nodejs20.x"),
    ("runtime-retired", {"Runtime": "python2.7"}, "python2.7"),
    ("reserved-env", {"Environment": {"Variables": {"AWS_REGION": "eu-west-1", "MINE": "x"}}}, "AWS_REGION"),
    ("env-over-4kb", {"Environment": {"Variables": {f"VAR_{i}": "x" * 100 for i in range(40)}}}, "4KB"),
    ("foreign-architecture", {"Architectures": [OTHER_ARCHITECTURE]}, OTHER_ARCHITECTURE),
    ("garbage-zip", {"Code": {"ZipFile": b"this is not a zip file"}}, "Could not unzip uploaded file"),
    ("empty-zip", {"Code": {"ZipFile": b""}}, "Could not unzip uploaded file"),
    ("corrupt-member", {"Code": {"ZipFile": CORRUPT_ZIP}}, "Could not unzip uploaded file"),
    ("s3-code", {"Code": {"S3Bucket": "bucket", "S3Key": "code.zip"}}, "ZipFile"),
]


def _create(client: Any, name: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": CODE},
        **extra,
    }
    response: dict[str, Any] = client.create_function(**params)
    return response


def _refusal(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def _assert_absent(client: Any, name: str) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=name)


@pytest.fixture(scope="module")
def oversized_zip() -> bytes:
    """Just over the 50 MB zipped limit: stored, so its size is its content's."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("noise.bin", os.urandom(MAX_ZIPPED))
    assert len(buffer.getvalue()) > MAX_ZIPPED
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """About 1 MB zipped, 251 MB unzipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
        with archive.open("zeros.bin", "w") as out:
            chunk = bytes(1 << 20)
            for _ in range(MAX_UNZIPPED // len(chunk) + 1):
                out.write(chunk)
    return buffer.getvalue()


@pytest.fixture
def existing(lambda_client: Any, function_name: str) -> Iterator[dict[str, Any]]:
    """A function whose configuration a refused update must leave exactly as it was."""
    created = _create(lambda_client, function_name, Environment={"Variables": {"KEEP": "me"}})
    created.pop("ResponseMetadata")
    yield created
    after = lambda_client.get_function_configuration(FunctionName=function_name)
    after.pop("ResponseMetadata")
    assert after == created


@pytest.mark.parametrize(
    ("extra", "message"), [case[1:] for case in MODEL_VIOLATIONS], ids=[case[0] for case in MODEL_VIOLATIONS]
)
def test_create_refuses_model_violations(
    raw_lambda_client: Any, function_name: str, extra: dict[str, Any], message: str
) -> None:
    assert _refusal(lambda: _create(raw_lambda_client, function_name, **extra)) == ("ValidationException", message, 400)
    _assert_absent(raw_lambda_client, function_name)


@pytest.mark.parametrize(
    ("extra", "mentions"), [case[1:] for case in PARAMETER_REFUSALS], ids=[case[0] for case in PARAMETER_REFUSALS]
)
def test_create_refuses_unacceptable_values(
    raw_lambda_client: Any, function_name: str, extra: dict[str, Any], mentions: str
) -> None:
    with pytest.raises(raw_lambda_client.exceptions.InvalidParameterValueException) as caught:
        _create(raw_lambda_client, function_name, **extra)
    assert mentions in caught.value.response["Error"]["Message"]
    _assert_absent(raw_lambda_client, function_name)


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        (
            "has space",
            "ValidationException",
            "at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern",
        ),
        (
            "n" * 65,
            "InvalidParameterValueException",
            _constraint("n" * 65, "functionName", "have length less than or equal to 64"),
        ),
        ("", "ValidationException", "Member must have length greater than or equal to 1"),
    ],
    ids=["pattern", "too-long", "empty"],
)
def test_create_refuses_bad_names(raw_lambda_client: Any, name: str, code: str, message: str) -> None:
    got_code, got_message, status = _refusal(lambda: _create(raw_lambda_client, name))
    assert (got_code, status) == (code, 400)
    assert message in got_message


def test_create_refuses_an_unknown_runtime(raw_lambda_client: Any, function_name: str) -> None:
    code, message, _ = _refusal(lambda: _create(raw_lambda_client, function_name, Runtime="cobol85"))
    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value 'cobol85' at 'runtime' failed to satisfy "
        "constraint: Member must satisfy enum value set: ["
    )
    _assert_absent(raw_lambda_client, function_name)


def test_limits_themselves_are_accepted(lambda_client: Any, function_name: str) -> None:
    name = function_name[:40] + "x" * (64 - len(function_name[:40]))
    created = _create(
        lambda_client,
        name,
        MemorySize=10240,
        Timeout=900,
        EphemeralStorage={"Size": 10240},
        Architectures=[HOST_ARCHITECTURE],
        Environment={"Variables": {"AB": "x" * 4000}},
    )
    assert (created["FunctionName"], created["MemorySize"], created["Timeout"]) == (name, 10240, 900)
    assert created["Architectures"] == [HOST_ARCHITECTURE]
    updated = lambda_client.update_function_configuration(
        FunctionName=name, MemorySize=128, Timeout=1, EphemeralStorage={"Size": 512}
    )
    assert (updated["MemorySize"], updated["Timeout"], updated["EphemeralStorage"]) == (128, 1, {"Size": 512})


def test_zipped_code_over_50_mb_is_too_large(raw_lambda_client: Any, function_name: str, oversized_zip: bytes) -> None:
    code, message, status = _refusal(lambda: _create(raw_lambda_client, function_name, Code={"ZipFile": oversized_zip}))
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    assert message == "Request must be smaller than 69905067 bytes for the CreateFunction operation"
    _assert_absent(raw_lambda_client, function_name)


def test_code_over_250_mb_unzipped_is_refused(raw_lambda_client: Any, function_name: str, zip_bomb: bytes) -> None:
    with pytest.raises(raw_lambda_client.exceptions.InvalidParameterValueException) as caught:
        _create(raw_lambda_client, function_name, Code={"ZipFile": zip_bomb})
    assert "Unzipped size must be smaller than" in caught.value.response["Error"]["Message"]
    _assert_absent(raw_lambda_client, function_name)


@pytest.mark.parametrize(
    "extra",
    [
        {"MemorySize": 64},
        {"Timeout": 1000},
        {"EphemeralStorage": {"Size": 100}},
        {"Handler": "a b"},
        {"Runtime": "cobol85"},
        {"Runtime": "nodejs20.x"},
        {"Environment": {"Variables": {"AWS_LAMBDA_FUNCTION_NAME": "x"}}},
        {"Environment": {"Variables": {"9LIVES": "x"}}},
        {"Description": "d" * 257},
        {"Role": "not-a-role"},
        {"MemorySize": 256, "Timeout": 0},
    ],
    ids=[
        "memory",
        "timeout",
        "storage",
        "handler",
        "runtime-unknown",
        "runtime-missing",
        "env-reserved",
        "env-name",
        "description",
        "role",
        "one-good-one-bad",
    ],
)
def test_a_refused_configuration_update_changes_nothing(
    raw_lambda_client: Any, existing: dict[str, Any], extra: dict[str, Any]
) -> None:
    code, message, status = _refusal(
        lambda: raw_lambda_client.update_function_configuration(FunctionName=existing["FunctionName"], **extra)
    )
    assert code in ("ValidationException", "InvalidParameterValueException")
    assert status == 400 and message


@pytest.mark.parametrize("kind", ["garbage", "oversized", "bomb", "architecture"])
def test_a_refused_code_update_changes_nothing(
    raw_lambda_client: Any, existing: dict[str, Any], kind: str, request: pytest.FixtureRequest
) -> None:
    extra: dict[str, Any] = {
        "garbage": {"ZipFile": b"PK\x03\x04 but not really"},
        "oversized": {"ZipFile": request.getfixturevalue("oversized_zip")} if kind == "oversized" else {},
        "bomb": {"ZipFile": request.getfixturevalue("zip_bomb")} if kind == "bomb" else {},
        "architecture": {"ZipFile": CODE, "Architectures": [OTHER_ARCHITECTURE]},
    }[kind]
    code, message, status = _refusal(
        lambda: raw_lambda_client.update_function_code(FunctionName=existing["FunctionName"], **extra)
    )
    expected = (
        ("RequestEntityTooLargeException", 413) if kind == "oversized" else ("InvalidParameterValueException", 400)
    )
    assert (code, status) == expected, message
