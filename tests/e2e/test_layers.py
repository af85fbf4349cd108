"""The layer API: publishing, reading, listing and deleting layer versions, their policies, and the
`Layers` of a function's configuration, with the errors AWS gives."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import urllib.request
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE
from tests.zips import make_zip

REGION_ACCOUNT = "us-east-1:000000000000"
CONTENT = make_zip({"python/shared.py": "VALUE = 1\n"})


def _error(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def _layer_arn(name: str, version: int | None = None) -> str:
    base = f"arn:aws:lambda:{REGION_ACCOUNT}:layer:{name}"
    return base if version is None else f"{base}:{version}"


@pytest.fixture
def publish(lambda_client: Any, function_name: str) -> Callable[..., dict[str, Any]]:
    def publish_version(content: bytes = CONTENT, name: str | None = None, **extra: Any) -> dict[str, Any]:
        response: dict[str, Any] = lambda_client.publish_layer_version(
            LayerName=name or function_name, Content={"ZipFile": content}, **extra
        )
        return response

    return publish_version


def test_publish_and_get_a_layer_version(lambda_client: Any, function_name: str, publish: Any) -> None:
    published = publish(
        Description="shared code",
        CompatibleRuntimes=["python3.11", "python3.12"],
        CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT",
    )
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["LayerArn"] == _layer_arn(function_name)
    assert published["LayerVersionArn"] == _layer_arn(function_name, 1)
    assert published["Version"] == 1
    assert published["Description"] == "shared code"
    assert published["CompatibleRuntimes"] == ["python3.11", "python3.12"]
    assert published["CompatibleArchitectures"] == ["x86_64"]
    assert published["LicenseInfo"] == "MIT"
    assert published["CreatedDate"].endswith("+0000")
    content = published["Content"]
    assert content["CodeSha256"] == base64.b64encode(hashlib.sha256(CONTENT).digest()).decode()
    assert content["CodeSize"] == len(CONTENT)
    with urllib.request.urlopen(content["Location"]) as download:
        assert download.read() == CONTENT

    got = lambda_client.get_layer_version(LayerName=function_name, VersionNumber=1)
    by_arn = lambda_client.get_layer_version_by_arn(Arn=_layer_arn(function_name, 1))
    by_layer_arn = lambda_client.get_layer_version(LayerName=_layer_arn(function_name), VersionNumber=1)
    for response in (got, by_arn, by_layer_arn):
        response.pop("ResponseMetadata")
    published.pop("ResponseMetadata")
    assert got == by_arn == by_layer_arn == published


def test_versions_count_up_and_never_reuse_a_number(lambda_client: Any, function_name: str, publish: Any) -> None:
    assert [publish()["Version"] for _ in range(3)] == [1, 2, 3]
    lambda_client.delete_layer_version(LayerName=function_name, VersionNumber=3)
    lambda_client.delete_layer_version(LayerName=function_name, VersionNumber=3)  # gone already: still fine
    assert publish()["Version"] == 4
    for version in (1, 2, 4):
        lambda_client.delete_layer_version(LayerName=function_name, VersionNumber=version)
    assert lambda_client.list_layer_versions(LayerName=function_name)["LayerVersions"] == []
    assert publish()["Version"] == 5


def test_list_layer_versions_newest_first_with_filters_and_paging(
    lambda_client: Any, function_name: str, publish: Any
) -> None:
    publish(CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["x86_64"])
    publish(CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["arm64"])
    publish(CompatibleRuntimes=["python3.11", "python3.12"])
    listed = lambda_client.list_layer_versions(LayerName=function_name)["LayerVersions"]
    assert [v["Version"] for v in listed] == [3, 2, 1]
    assert listed[0]["LayerVersionArn"] == _layer_arn(function_name, 3)
    assert "Content" not in listed[0]
    by_runtime = lambda_client.list_layer_versions(LayerName=function_name, CompatibleRuntime="python3.11")
    assert [v["Version"] for v in by_runtime["LayerVersions"]] == [3, 1]
    by_both = lambda_client.list_layer_versions(
        LayerName=function_name, CompatibleRuntime="python3.12", CompatibleArchitecture="arm64"
    )
    assert [v["Version"] for v in by_both["LayerVersions"]] == [2]

    first = lambda_client.list_layer_versions(LayerName=function_name, MaxItems=2)
    assert [v["Version"] for v in first["LayerVersions"]] == [3, 2]
    rest = lambda_client.list_layer_versions(LayerName=function_name, MaxItems=2, Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]
    assert "NextMarker" not in rest
    paginator = lambda_client.get_paginator("list_layer_versions")
    pages = paginator.paginate(LayerName=function_name, PaginationConfig={"PageSize": 1})
    assert [v["Version"] for page in pages for v in page["LayerVersions"]] == [3, 2, 1]
    assert lambda_client.list_layer_versions(LayerName=f"{function_name}-none")["LayerVersions"] == []


def test_list_layers_shows_the_latest_matching_version(lambda_client: Any, function_name: str, publish: Any) -> None:
    names = [f"{function_name}-a", f"{function_name}-b", f"{function_name}-c"]
    publish(name=names[0], CompatibleRuntimes=["python3.11"])
    publish(name=names[0], CompatibleRuntimes=["python3.12"])
    publish(name=names[1], CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["arm64"])
    publish(name=names[2])
    lambda_client.delete_layer_version(LayerName=names[2], VersionNumber=1)  # no version left: not listed

    def ours(**filters: Any) -> dict[str, int]:
        pages = lambda_client.get_paginator("list_layers").paginate(**filters, PaginationConfig={"PageSize": 2})
        layers = [layer for page in pages for layer in page["Layers"]]
        return {x["LayerName"]: x["LatestMatchingVersion"]["Version"] for x in layers if x["LayerName"] in names}

    assert ours() == {names[0]: 2, names[1]: 1}
    assert ours(CompatibleRuntime="python3.11") == {names[0]: 1, names[1]: 1}
    assert ours(CompatibleRuntime="python3.11", CompatibleArchitecture="arm64") == {names[1]: 1}
    layer = next(x for x in lambda_client.list_layers()["Layers"] if x["LayerName"] == names[0])
    assert layer["LayerArn"] == _layer_arn(names[0])
    assert layer["LatestMatchingVersion"]["LayerVersionArn"] == _layer_arn(names[0], 2)


def test_layer_version_errors(lambda_client: Any, raw_lambda_client: Any, function_name: str, publish: Any) -> None:
    missing = ("ResourceNotFoundException", "The resource you requested does not exist.")
    assert _error(lambda: lambda_client.get_layer_version(LayerName=function_name, VersionNumber=1)) == missing
    publish()
    assert _error(lambda: lambda_client.get_layer_version(LayerName=function_name, VersionNumber=2)) == missing
    assert _error(lambda: lambda_client.get_layer_version_by_arn(Arn=_layer_arn(function_name, 2))) == missing
    other_account = f"arn:aws:lambda:us-east-1:123456789012:layer:{function_name}:1"
    assert _error(lambda: lambda_client.get_layer_version_by_arn(Arn=other_account)) == missing
    assert _error(lambda: lambda_client.get_layer_version(LayerName=function_name, VersionNumber=0)) == (
        "InvalidParameterValueException",
        "Layer Version Cannot be less than 1",
    )
    code, _ = _error(lambda: raw_lambda_client.get_layer_version_by_arn(Arn=_layer_arn(function_name)))
    assert code == "ValidationException"
    code, _ = _error(
        lambda: raw_lambda_client.publish_layer_version(LayerName="bad name", Content={"ZipFile": CONTENT})
    )
    assert code == "ValidationException"
    code, _ = _error(
        lambda: raw_lambda_client.publish_layer_version(
            LayerName=function_name, Content={"ZipFile": CONTENT}, CompatibleRuntimes=["cobol"]
        )
    )
    assert code == "ValidationException"
    code, _ = _error(lambda: publish(content=b"not a zip"))
    assert code == "InvalidParameterValueException"
    code, _ = _error(
        lambda: lambda_client.publish_layer_version(
            LayerName=function_name, Content={"S3Bucket": "bucket", "S3Key": "layer.zip"}
        )
    )
    assert code == "InvalidParameterValueException"
    code, message = _error(lambda: publish(content=make_zip({"../escape.py": "x = 1\n"})))
    assert (code, message) == ("InvalidParameterValueException", "Zip entry '../escape.py' points outside the package")


def test_layer_version_policy(lambda_client: Any, function_name: str, publish: Any) -> None:
    publish()
    arn = _layer_arn(function_name, 1)
    assert _error(lambda: lambda_client.get_layer_version_policy(LayerName=function_name, VersionNumber=1)) == (
        "ResourceNotFoundException",
        "No policy is associated with the given resource.",
    )
    added = lambda_client.add_layer_version_permission(
        LayerName=function_name,
        VersionNumber=1,
        StatementId="xaccount",
        Action="lambda:GetLayerVersion",
        Principal="210987654321",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "xaccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "lambda:GetLayerVersion",
        "Resource": arn,
    }
    second = lambda_client.add_layer_version_permission(
        LayerName=function_name,
        VersionNumber=1,
        StatementId="org",
        Action="lambda:GetLayerVersion",
        Principal="*",
        OrganizationId="o-t194hfs8cz",
        RevisionId=added["RevisionId"],
    )
    policy = lambda_client.get_layer_version_policy(LayerName=function_name, VersionNumber=1)
    assert policy["RevisionId"] == second["RevisionId"] != added["RevisionId"]
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17"
    assert document["Id"] == "default"
    assert [s["Sid"] for s in document["Statement"]] == ["xaccount", "org"]
    assert document["Statement"][1]["Principal"] == "*"
    assert document["Statement"][1]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-t194hfs8cz"}}

    def add(statement_id: str, **extra: Any) -> Any:
        fields = {"Action": "lambda:GetLayerVersion", "Principal": "*", **extra}
        return lambda_client.add_layer_version_permission(
            LayerName=function_name, VersionNumber=1, StatementId=statement_id, **fields
        )

    code, message = _error(lambda: add("xaccount"))
    assert code == "ResourceConflictException"
    assert "The statement id (xaccount) provided already exists" in message
    assert _error(lambda: add("stale", RevisionId=added["RevisionId"]))[0] == "PreconditionFailedException"
    assert _error(lambda: add("more", Action="lambda:DeleteLayerVersion"))[0] == "ValidationException"
    assert _error(
        lambda: lambda_client.add_layer_version_permission(
            LayerName=function_name, VersionNumber=9, StatementId="s", Action="lambda:GetLayerVersion", Principal="*"
        )
    ) == ("ResourceNotFoundException", f"Layer version {_layer_arn(function_name, 9)} does not exist.")

    def remove(statement_id: str, **extra: Any) -> Any:
        return lambda_client.remove_layer_version_permission(
            LayerName=function_name, VersionNumber=1, StatementId=statement_id, **extra
        )

    assert _error(lambda: remove("nope")) == (
        "ResourceNotFoundException",
        "Statement nope is not found in resource policy.",
    )
    assert _error(lambda: remove("org", RevisionId=added["RevisionId"]))[0] == "PreconditionFailedException"
    removed = remove("org", RevisionId=second["RevisionId"])
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    document = json.loads(lambda_client.get_layer_version_policy(LayerName=function_name, VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in document["Statement"]] == ["xaccount"]
    # The policy belongs to the version: another version has none.
    publish()
    code, _ = _error(lambda: lambda_client.get_layer_version_policy(LayerName=function_name, VersionNumber=2))
    assert code == "ResourceNotFoundException"


def test_function_layers_in_its_configuration(
    lambda_client: Any, create_function: Any, function_name: str, publish: Any
) -> None:
    first = publish(name=f"{function_name}-a")
    second = publish(name=f"{function_name}-b", content=make_zip({"data.txt": "b"}))
    created = create_function(Layers=[first["LayerVersionArn"], second["LayerVersionArn"]])
    expected = [
        {"Arn": first["LayerVersionArn"], "CodeSize": first["Content"]["CodeSize"]},
        {"Arn": second["LayerVersionArn"], "CodeSize": second["Content"]["CodeSize"]},
    ]
    assert created["Layers"] == expected
    assert lambda_client.get_function(FunctionName=function_name)["Configuration"]["Layers"] == expected
    listed = lambda_client.list_functions()["Functions"]
    assert next(f for f in listed if f["FunctionName"] == function_name)["Layers"] == expected

    updated = lambda_client.update_function_configuration(
        FunctionName=function_name, Layers=[second["LayerVersionArn"]]
    )
    assert updated["Layers"] == expected[1:]
    cleared = lambda_client.update_function_configuration(FunctionName=function_name, Layers=[])
    assert "Layers" not in cleared


def test_function_layer_errors(
    lambda_client: Any, raw_lambda_client: Any, create_function: Any, function_name: str, publish: Any
) -> None:
    arns = [publish(name=f"{function_name}-{i}")["LayerVersionArn"] for i in range(6)]
    assert _error(lambda: create_function(Layers=arns)) == (
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    )
    unknown = _layer_arn(f"{function_name}-0", 7)
    assert _error(lambda: create_function(Layers=[unknown])) == (
        "InvalidParameterValueException",
        f"Layer version {unknown} does not exist.",
    )
    two_versions = [arns[0], publish(name=f"{function_name}-0")["LayerVersionArn"]]
    code, message = _error(lambda: create_function(Layers=two_versions))
    assert code == "InvalidParameterValueException"
    assert message.startswith("Two different versions of the same layer are not allowed")
    code, _ = _error(lambda: create_function(Layers=[arns[0], arns[0]]))
    assert code == "InvalidParameterValueException"
    code, _ = _error(
        lambda: raw_lambda_client.create_function(
            FunctionName=function_name,
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/r",
            Handler="app.handler",
            Code={"ZipFile": CONTENT},
            Layers=["not-an-arn"],
        )
    )
    assert code == "ValidationException"
    create_function(Layers=arns[:5])  # five is the most a function takes
    code, _ = _error(lambda: lambda_client.update_function_configuration(FunctionName=function_name, Layers=arns))
    assert code == "InvalidParameterValueException"


def _zeros(name: str, megabytes: int) -> bytes:
    """A zip of one file of zeros: `megabytes` unzipped, a few hundred kB zipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, bytes(megabytes * 1024 * 1024))
    return buffer.getvalue()


def test_code_and_layers_share_the_unzipped_limit(
    lambda_client: Any, create_function: Any, function_name: str, publish: Any
) -> None:
    layer = publish(content=_zeros("python/big.bin", 130))["LayerVersionArn"]
    big_code = {"Code": {"ZipFile": _zeros("app.py", 130)}}

    def create(**extra: Any) -> Any:
        return lambda_client.create_function(
            FunctionName=function_name, Runtime="python3.11", Role=ROLE, Handler="app.handler", **extra
        )

    code, message = _error(lambda: create(Layers=[layer], **big_code))
    assert code == "InvalidParameterValueException"
    assert message == (
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. "
        f"The actual size is {260 * 1024 * 1024} bytes."
    )
    create_function(Layers=[layer])
    code, _ = _error(lambda: lambda_client.update_function_code(FunctionName=function_name, ZipFile=_zeros("a", 130)))
    assert code == "InvalidParameterValueException"
    lambda_client.update_function_configuration(FunctionName=function_name, Layers=[])
    lambda_client.update_function_code(FunctionName=function_name, ZipFile=_zeros("a", 130))
    code, _ = _error(lambda: lambda_client.update_function_configuration(FunctionName=function_name, Layers=[layer]))
    assert code == "InvalidParameterValueException"
