"""PublishVersion, ListVersionsByFunction, DeleteFunction of a version, and the alias operations over boto3."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from tests.conftest import ROLE
from tests.zips import make_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
CODE = make_zip({"app.py": "def handler(event, context):\n    return 1\n"})
CODE_2 = make_zip({"app.py": "def handler(event, context):\n    return 2\n"})


def _create(client: Any, name: str, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": CODE}, **extra
    )
    return response


def _two_versions(client: Any, name: str) -> None:
    """Versions 1 (CODE) and 2 (CODE_2) of a new function."""
    _create(client, name)
    client.publish_version(FunctionName=name)
    client.update_function_code(FunctionName=name, ZipFile=CODE_2)
    client.publish_version(FunctionName=name)


def test_publish_version_snapshots_latest(lambda_client: Any, function_name: str) -> None:
    created = _create(lambda_client, function_name, Description="v1 code")
    published = lambda_client.publish_version(FunctionName=function_name, Description="first release")
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["Version"] == "1"
    assert published["FunctionArn"] == f"{ARN}{function_name}:1"
    assert published["Description"] == "first release"
    assert published["CodeSha256"] == created["CodeSha256"]
    assert published["RevisionId"] != created["RevisionId"]
    by_number = lambda_client.get_function(FunctionName=function_name, Qualifier="1")
    assert by_number["Configuration"]["FunctionArn"] == f"{ARN}{function_name}:1"
    assert by_number["Configuration"]["Version"] == "1"
    by_arn = lambda_client.get_function_configuration(FunctionName=f"{ARN}{function_name}:1")
    assert by_arn["RevisionId"] == published["RevisionId"]
    explicit_latest = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier="$LATEST")
    assert explicit_latest["FunctionArn"] == f"{ARN}{function_name}:$LATEST"
    assert explicit_latest["Version"] == "$LATEST"


def test_publishing_an_unchanged_latest_returns_the_existing_version(lambda_client: Any, function_name: str) -> None:
    _create(lambda_client, function_name)
    first = lambda_client.publish_version(FunctionName=function_name)
    again = lambda_client.publish_version(FunctionName=function_name)
    assert (again["Version"], again["RevisionId"]) == (first["Version"], first["RevisionId"])
    lambda_client.update_function_configuration(FunctionName=function_name, MemorySize=256)
    second = lambda_client.publish_version(FunctionName=function_name)
    assert (second["Version"], second["MemorySize"]) == ("2", 256)
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]


def test_publish_version_checks_code_sha256(lambda_client: Any, function_name: str) -> None:
    _create(lambda_client, function_name)
    wrong = base64.b64encode(hashlib.sha256(CODE_2).digest()).decode()
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.publish_version(FunctionName=function_name, CodeSha256=wrong)
    assert "CodeSha256" in caught.value.response["Error"]["Message"]
    assert [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]] == [
        "$LATEST"
    ]
    right = base64.b64encode(hashlib.sha256(CODE).digest()).decode()
    assert lambda_client.publish_version(FunctionName=function_name, CodeSha256=right)["Version"] == "1"


def test_create_function_with_publish_answers_with_version_1(lambda_client: Any, function_name: str) -> None:
    created = _create(lambda_client, function_name, Publish=True)
    assert (created["Version"], created["FunctionArn"]) == ("1", f"{ARN}{function_name}:1")
    updated = lambda_client.update_function_code(FunctionName=function_name, ZipFile=CODE_2, Publish=True)
    assert updated["Version"] == "2"


def test_list_versions_by_function_pages_with_qualified_arns(lambda_client: Any, function_name: str) -> None:
    _two_versions(lambda_client, function_name)
    everything = lambda_client.list_versions_by_function(FunctionName=function_name)
    assert "NextMarker" not in everything
    arns = [v["FunctionArn"] for v in everything["Versions"]]
    assert arns == [f"{ARN}{function_name}:{q}" for q in ("$LATEST", "1", "2")]
    assert everything["Versions"][2]["CodeSha256"] == base64.b64encode(hashlib.sha256(CODE_2).digest()).decode()
    seen: list[str] = []
    marker: str | None = None
    while True:
        page = lambda_client.list_versions_by_function(
            FunctionName=function_name, MaxItems=1, **({"Marker": marker} if marker else {})
        )
        assert len(page["Versions"]) == 1
        seen += [v["Version"] for v in page["Versions"]]
        marker = page.get("NextMarker")
        if marker is None:
            break
    assert seen == ["$LATEST", "1", "2"]
    paginated = lambda_client.get_paginator("list_versions_by_function").paginate(
        FunctionName=function_name, PaginationConfig={"PageSize": 2}
    )
    assert [v["Version"] for page in paginated for v in page["Versions"]] == ["$LATEST", "1", "2"]


def test_delete_a_version(lambda_client: Any, function_name: str) -> None:
    _two_versions(lambda_client, function_name)
    lambda_client.delete_function(FunctionName=function_name, Qualifier="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=function_name, Qualifier="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function(FunctionName=function_name, Qualifier="1")
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "2"]
    # A deleted number is never handed out again.
    lambda_client.update_function_configuration(FunctionName=function_name, Timeout=9)
    assert lambda_client.publish_version(FunctionName=function_name)["Version"] == "3"
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.delete_function(FunctionName=function_name, Qualifier="$LATEST")
    lambda_client.get_function(FunctionName=function_name)  # $LATEST is still there


def test_a_version_an_alias_uses_cannot_be_deleted(lambda_client: Any, function_name: str) -> None:
    _two_versions(lambda_client, function_name)
    lambda_client.create_alias(
        FunctionName=function_name,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}},
    )
    for version in ("1", "2"):
        with pytest.raises(lambda_client.exceptions.ResourceConflictException) as caught:
            lambda_client.delete_function(FunctionName=function_name, Qualifier=version)
        assert "live" in caught.value.response["Error"]["Message"]
        assert lambda_client.get_function(FunctionName=function_name, Qualifier=version)["Configuration"]["Version"]
    lambda_client.update_alias(FunctionName=function_name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
    lambda_client.delete_function(FunctionName=function_name, Qualifier="1")


def test_alias_lifecycle_with_routing_weights(lambda_client: Any, function_name: str) -> None:
    _two_versions(lambda_client, function_name)
    created = lambda_client.create_alias(
        FunctionName=function_name,
        Name="live",
        FunctionVersion="1",
        Description="stable",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == f"{ARN}{function_name}:live"
    assert (created["Name"], created["FunctionVersion"], created["Description"]) == ("live", "1", "stable")
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    got = lambda_client.get_alias(FunctionName=function_name, Name="live")
    assert (got["RevisionId"], got["RoutingConfig"]) == (created["RevisionId"], created["RoutingConfig"])

    updated = lambda_client.update_alias(
        FunctionName=function_name,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        RevisionId=created["RevisionId"],
    )
    assert (updated["FunctionVersion"], updated["Description"]) == ("2", "stable")
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.5}}
    assert updated["RevisionId"] != created["RevisionId"]
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.update_alias(
            FunctionName=function_name, Name="live", Description="stale", RevisionId=created["RevisionId"]
        )
    assert lambda_client.get_alias(FunctionName=function_name, Name="live")["Description"] == "stable"

    lambda_client.create_alias(FunctionName=function_name, Name="edge", FunctionVersion="$LATEST")
    listed = lambda_client.list_aliases(FunctionName=function_name)["Aliases"]
    assert sorted(a["Name"] for a in listed) == ["edge", "live"]
    only_2 = lambda_client.list_aliases(FunctionName=function_name, FunctionVersion="2")["Aliases"]
    assert [a["Name"] for a in only_2] == ["live"]
    paginated = lambda_client.get_paginator("list_aliases").paginate(
        FunctionName=function_name, PaginationConfig={"PageSize": 1}
    )
    assert sorted(a["Name"] for page in paginated for a in page["Aliases"]) == ["edge", "live"]

    through_alias = lambda_client.get_function_configuration(FunctionName=function_name, Qualifier="live")
    assert (through_alias["Version"], through_alias["FunctionArn"]) == ("2", f"{ARN}{function_name}:live")

    deleted = lambda_client.delete_alias(FunctionName=function_name, Name="live")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.get_alias(FunctionName=function_name, Name="live")
    assert f"{function_name}:live" in caught.value.response["Error"]["Message"]
    assert [a["Name"] for a in lambda_client.list_aliases(FunctionName=function_name)["Aliases"]] == ["edge"]


def test_alias_mistakes_are_refused(lambda_client: Any, raw_lambda_client: Any, function_name: str) -> None:
    _two_versions(lambda_client, function_name)
    created = lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    refused = [
        # (exception, call)
        (
            "ResourceConflictException",
            lambda: lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="2"),
        ),
        (
            "ResourceNotFoundException",
            lambda: lambda_client.create_alias(FunctionName=function_name, Name="next", FunctionVersion="7"),
        ),
        (
            "ResourceNotFoundException",
            lambda: lambda_client.create_alias(
                FunctionName=function_name,
                Name="next",
                FunctionVersion="1",
                RoutingConfig={"AdditionalVersionWeights": {"7": 0.5}},
            ),
        ),
        (
            "InvalidParameterValueException",
            lambda: lambda_client.create_alias(
                FunctionName=function_name,
                Name="next",
                FunctionVersion="1",
                RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
            ),
        ),
        (
            "InvalidParameterValueException",
            lambda: lambda_client.create_alias(
                FunctionName=function_name,
                Name="next",
                FunctionVersion="$LATEST",
                RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
            ),
        ),
        (
            "ValidationException",
            lambda: raw_lambda_client.create_alias(
                FunctionName=function_name,
                Name="next",
                FunctionVersion="1",
                RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}},
            ),
        ),
        (
            "ValidationException",
            lambda: raw_lambda_client.create_alias(FunctionName=function_name, Name="123", FunctionVersion="1"),
        ),
        (
            "ResourceNotFoundException",
            lambda: lambda_client.update_alias(FunctionName=function_name, Name="nothere", FunctionVersion="1"),
        ),
        (
            "ResourceNotFoundException",
            lambda: lambda_client.update_alias(FunctionName=function_name, Name="live", FunctionVersion="9"),
        ),
    ]
    for code, call in refused:
        with pytest.raises(lambda_client.exceptions.ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code, caught.value.response["Error"]
        assert caught.value.response["Error"]["Message"]
    assert [a["Name"] for a in lambda_client.list_aliases(FunctionName=function_name)["Aliases"]] == ["live"]
    assert lambda_client.get_alias(FunctionName=function_name, Name="live")["RevisionId"] == created["RevisionId"]
