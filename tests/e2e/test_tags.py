"""Tags on functions: on CreateFunction, TagResource, UntagResource, ListTags, and GetFunction's Tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_tags_are_set_listed_changed_and_removed(
    lambda_client: Any, create_function: Callable[..., dict[str, Any]], function_name: str
) -> None:
    create_function(Tags={"team": "core", "stage": "dev"})
    arn = f"{ARN}{function_name}"
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "core", "stage": "dev"}
    lambda_client.tag_resource(Resource=arn, Tags={"stage": "prod", "cost centre": "a/b=c+d@e.f:g_h-1"})
    expected = {"team": "core", "stage": "prod", "cost centre": "a/b=c+d@e.f:g_h-1"}
    assert lambda_client.list_tags(Resource=arn)["Tags"] == expected
    assert lambda_client.get_function(FunctionName=function_name)["Tags"] == expected
    lambda_client.untag_resource(Resource=arn, TagKeys=["team", "stage", "not-there"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"cost centre": "a/b=c+d@e.f:g_h-1"}
    # Tags belong to the function: a new version, an update of its code, leave them be.
    lambda_client.publish_version(FunctionName=function_name)
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"cost centre": "a/b=c+d@e.f:g_h-1"}
    lambda_client.untag_resource(Resource=arn, TagKeys=["cost centre"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lambda_client.get_function(FunctionName=function_name)


def test_bad_tags_and_unknown_resources_get_aws_errors(
    lambda_client: Any,
    raw_lambda_client: Any,
    create_function: Callable[..., dict[str, Any]],
    function_name: str,
) -> None:
    create_function(Tags={"keep": "me"})
    arn = f"{ARN}{function_name}"
    assert _code(lambda: lambda_client.list_tags(Resource=f"{arn}-missing")) == "ResourceNotFoundException"
    assert _code(lambda: lambda_client.tag_resource(Resource=f"{arn}-missing", Tags={"a": "b"})) == (
        "ResourceNotFoundException"
    )
    assert _code(lambda: lambda_client.tag_resource(Resource=f"{arn}:1", Tags={"a": "b"})) == (
        "InvalidParameterValueException"
    )
    assert _code(lambda: lambda_client.tag_resource(Resource=arn, Tags={"aws:owner": "x"})) == (
        "InvalidParameterValueException"
    )
    too_many = {f"k{n}": "v" for n in range(50)}  # with "keep", 51
    assert _code(lambda: lambda_client.tag_resource(Resource=arn, Tags=too_many)) == "InvalidParameterValueException"
    assert _code(lambda: raw_lambda_client.tag_resource(Resource=arn, Tags={"bad#key": "v"})) == "ValidationException"
    assert _code(lambda: raw_lambda_client.tag_resource(Resource=arn, Tags={"k": "v" * 257})) == "ValidationException"
    assert _code(lambda: raw_lambda_client.tag_resource(Resource="not-an-arn", Tags={"k": "v"})) == (
        "ValidationException"
    )
    other = f"{function_name}-other"
    assert _code(lambda: create_function(name=other, Tags={"aws:x": "y"})) == "InvalidParameterValueException"
    assert _code(lambda: lambda_client.get_function(FunctionName=other)) == "ResourceNotFoundException"
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"keep": "me"}  # nothing above changed it
