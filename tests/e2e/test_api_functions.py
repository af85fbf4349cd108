"""CreateFunction, GetFunction(Configuration), UpdateFunctionCode/Configuration and DeleteFunction over boto3."""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ROLE
from tests.zips import make_zip

LAST_MODIFIED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
REVISION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
OTHER_CODE = make_zip({"app.py": "def handler(event, context):\n    return {'other': event}\n"})


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return bytes(reply.read())


def _create(client: Any, name: str, code: bytes = CODE, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": code}, **extra
    )
    return response


def test_create_function_answers_with_the_fields_aws_returns(lambda_client: Any, function_name: str) -> None:
    created = _create(lambda_client, function_name, Description="first")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == function_name
    assert created["FunctionArn"] == ARN + function_name  # $LATEST: unqualified
    assert created["Version"] == "$LATEST"
    assert created["CodeSha256"] == _sha256_b64(CODE)
    assert created["CodeSize"] == len(CODE)
    assert LAST_MODIFIED.match(created["LastModified"])
    assert REVISION_ID.match(created["RevisionId"])
    assert created["Runtime"] == "python3.11"
    assert created["Handler"] == "app.handler"
    assert created["Role"] == ROLE
    assert created["Description"] == "first"
    assert (created["Timeout"], created["MemorySize"], created["EphemeralStorage"]) == (3, 128, {"Size": 512})
    assert created["PackageType"] == "Zip"
    assert len(created["Architectures"]) == 1
    assert created["State"] == "Active"
    assert created["LastUpdateStatus"] == "Successful"


def test_get_function_hands_back_a_location_with_the_exact_zip(lambda_client: Any, function_name: str) -> None:
    created = _create(lambda_client, function_name)
    got = lambda_client.get_function(FunctionName=function_name)
    configuration = got["Configuration"]
    for field in ("FunctionArn", "CodeSha256", "CodeSize", "LastModified", "RevisionId", "Version"):
        assert configuration[field] == created[field], field
    assert got["Code"]["RepositoryType"] == "S3"
    downloaded = _download(got["Code"]["Location"])
    assert downloaded == CODE
    assert _sha256_b64(downloaded) == configuration["CodeSha256"]


def test_get_function_configuration_accepts_names_and_arns(lambda_client: Any, function_name: str) -> None:
    created = _create(lambda_client, function_name)
    created.pop("ResponseMetadata")
    for spelling in (function_name, ARN + function_name, f"000000000000:function:{function_name}"):
        configuration = lambda_client.get_function_configuration(FunctionName=spelling)
        configuration.pop("ResponseMetadata")
        assert configuration == created, spelling
    latest = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier="$LATEST")
    assert latest["Version"] == "$LATEST"
    assert latest["CodeSha256"] == created["CodeSha256"]


def test_update_function_configuration_changes_every_field(lambda_client: Any, function_name: str) -> None:
    created = _create(lambda_client, function_name)
    updated = lambda_client.update_function_configuration(
        FunctionName=function_name,
        MemorySize=512,
        Timeout=30,
        Environment={"Variables": {"GREETING": "hello", "Mode_2": "x"}},
        Handler="app.other",
        Runtime="provided.al2023",
        Description="second",
        EphemeralStorage={"Size": 1024},
    )
    assert (updated["MemorySize"], updated["Timeout"], updated["EphemeralStorage"]) == (512, 30, {"Size": 1024})
    assert updated["Environment"] == {"Variables": {"GREETING": "hello", "Mode_2": "x"}}
    assert (updated["Handler"], updated["Runtime"]) == ("app.other", "provided.al2023")
    assert updated["Description"] == "second"
    assert updated["RevisionId"] != created["RevisionId"]
    assert LAST_MODIFIED.match(updated["LastModified"])
    assert updated["LastModified"] >= created["LastModified"]
    assert updated["CodeSha256"] == created["CodeSha256"]
    stored = lambda_client.get_function_configuration(FunctionName=function_name)
    assert stored["RevisionId"] == updated["RevisionId"]
    assert stored["Environment"] == updated["Environment"]
    cleared = lambda_client.update_function_configuration(FunctionName=function_name, Environment={"Variables": {}})
    assert cleared.get("Environment", {}).get("Variables", {}) == {}
    assert cleared["RevisionId"] != updated["RevisionId"]


def test_update_function_code_replaces_the_zip(lambda_client: Any, function_name: str) -> None:
    created = _create(lambda_client, function_name)
    updated = lambda_client.update_function_code(FunctionName=function_name, ZipFile=OTHER_CODE)
    assert updated["CodeSha256"] == _sha256_b64(OTHER_CODE)
    assert updated["CodeSize"] == len(OTHER_CODE)
    assert updated["RevisionId"] != created["RevisionId"]
    assert updated["Version"] == "$LATEST"
    assert _download(lambda_client.get_function(FunctionName=function_name)["Code"]["Location"]) == OTHER_CODE


@pytest.mark.parametrize(
    "update",
    [
        lambda client, name, revision: client.update_function_code(
            FunctionName=name, ZipFile=OTHER_CODE, RevisionId=revision
        ),
        lambda client, name, revision: client.update_function_configuration(
            FunctionName=name, MemorySize=256, RevisionId=revision
        ),
        lambda client, name, revision: client.publish_version(FunctionName=name, RevisionId=revision),
    ],
    ids=["code", "configuration", "publish"],
)
def test_a_stale_revision_id_is_refused(
    lambda_client: Any, function_name: str, update: Callable[[Any, str, str], Any]
) -> None:
    stale = _create(lambda_client, function_name)["RevisionId"]
    current = lambda_client.update_function_configuration(FunctionName=function_name, Description="moved on")
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException) as caught:
        update(lambda_client, function_name, stale)
    assert "Revision Id" in caught.value.response["Error"]["Message"]
    after = lambda_client.get_function_configuration(FunctionName=function_name)
    assert after["RevisionId"] == current["RevisionId"]
    assert (after["CodeSha256"], after["MemorySize"]) == (_sha256_b64(CODE), 128)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=function_name, Qualifier="1")
    update(lambda_client, function_name, current["RevisionId"])  # the current one is accepted


def test_waiters_succeed(lambda_client: Any, function_name: str) -> None:
    fast = {"Delay": 1, "MaxAttempts": 3}
    _create(lambda_client, function_name)
    lambda_client.get_waiter("function_exists").wait(FunctionName=function_name, WaiterConfig=fast)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=function_name, WaiterConfig=fast)
    lambda_client.update_function_configuration(FunctionName=function_name, Timeout=10)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name, WaiterConfig=fast)
    version = lambda_client.publish_version(FunctionName=function_name)["Version"]
    lambda_client.get_waiter("published_version_active").wait(
        FunctionName=function_name, Qualifier=version, WaiterConfig=fast
    )


def test_delete_function_removes_it(lambda_client: Any, function_name: str) -> None:
    _create(lambda_client, function_name, Publish=True)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    assert lambda_client.delete_function(FunctionName=function_name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    for qualifier in ("$LATEST", "1", "live"):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.get_function(FunctionName=function_name, Qualifier=qualifier)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.delete_function(FunctionName=function_name)
    assert function_name in caught.value.response["Error"]["Message"]
    # The name is free again, without the old versions or aliases.
    _create(lambda_client, function_name)
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]
    assert lambda_client.list_aliases(FunctionName=function_name)["Aliases"] == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c, n: c.get_function(FunctionName=n),
        lambda c, n: c.get_function_configuration(FunctionName=n),
        lambda c, n: c.update_function_code(FunctionName=n, ZipFile=CODE),
        lambda c, n: c.update_function_configuration(FunctionName=n, Timeout=5),
        lambda c, n: c.publish_version(FunctionName=n),
        lambda c, n: c.list_versions_by_function(FunctionName=n),
        lambda c, n: c.list_aliases(FunctionName=n),
        lambda c, n: c.get_alias(FunctionName=n, Name="live"),
        lambda c, n: c.create_alias(FunctionName=n, Name="live", FunctionVersion="1"),
        lambda c, n: c.delete_function(FunctionName=n),
    ],
    ids=[
        "get",
        "get-config",
        "update-code",
        "update-config",
        "publish",
        "versions",
        "aliases",
        "get-alias",
        "create-alias",
        "delete",
    ],
)
def test_an_unknown_function_is_not_found(lambda_client: Any, function_name: str, call: Callable[..., Any]) -> None:
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        call(lambda_client, function_name)
    assert function_name in caught.value.response["Error"]["Message"]


def test_a_duplicate_name_conflicts_and_leaves_the_first(lambda_client: Any, function_name: str) -> None:
    first = _create(lambda_client, function_name)
    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as caught:
        _create(lambda_client, function_name, code=OTHER_CODE, MemorySize=256)
    assert function_name in caught.value.response["Error"]["Message"]
    stored = lambda_client.get_function_configuration(FunctionName=function_name)
    assert (stored["RevisionId"], stored["CodeSha256"], stored["MemorySize"]) == (
        first["RevisionId"],
        first["CodeSha256"],
        128,
    )


def test_get_account_settings(lambda_client: Any, function_name: str) -> None:
    _create(lambda_client, function_name)
    settings = lambda_client.get_account_settings()
    limits, usage = settings["AccountLimit"], settings["AccountUsage"]
    assert limits["CodeSizeZipped"] == 50 * 1024 * 1024
    assert limits["CodeSizeUnzipped"] == 250 * 1024 * 1024
    assert limits["ConcurrentExecutions"] >= limits["UnreservedConcurrentExecutions"] > 0
    assert usage["FunctionCount"] >= 1
    assert usage["TotalCodeSize"] >= len(CODE)
