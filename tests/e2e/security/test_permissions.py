"""Who may use whose function: key policies (IAM syntax, wildcards, Deny wins) and function resource
policies (AddPermission, RemovePermission, GetPolicy), per version and alias."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.cli import firebox
from tests.server_process import FireboxServer
from tests.zips import make_zip

ECHO = "def handler(event, context):\n    return {'by': 'me'}\n"
ACCOUNT = "000000000000"


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def _credentials(server: FireboxServer, principal: str, statements: list[dict[str, Any]], tmp_path: Any) -> Any:
    """A new key of `principal`, whose policy is `statements`, as boto3 takes it."""
    policy = tmp_path / f"{principal}.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    made = firebox(server, "keys", "create", principal, "--policy", str(policy), "--json")
    assert made.returncode == 0, made.stderr
    keys = json.loads(made.stdout)
    return {"aws_access_key_id": keys["AccessKeyId"], "aws_secret_access_key": keys["SecretAccessKey"]}


def _key(server: FireboxServer, principal: str, statements: list[dict[str, Any]], tmp_path: Any) -> Any:
    """A Lambda client signing with a new key of `principal`, whose policy is `statements`."""
    return server.client(credentials=_credentials(server, principal, statements, tmp_path))


ALL_LAMBDA = [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]


def test_a_principal_uses_its_own_functions_but_not_anothers_without_a_grant(
    server: FireboxServer, function_name: str, tmp_path: Any
) -> None:
    alice = _key(server, f"alice-{function_name}"[:60], ALL_LAMBDA, tmp_path)
    bob_name = f"bob-{function_name}"[:60]
    bob = _key(server, bob_name, ALL_LAMBDA, tmp_path)
    bob_arn = f"arn:aws:iam::{ACCOUNT}:user/{bob_name}"
    alice.create_function(
        FunctionName=function_name,
        Runtime="python3.11",
        Role=f"arn:aws:iam::{ACCOUNT}:role/r",
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )
    assert json.loads(alice.invoke(FunctionName=function_name)["Payload"].read()) == {"by": "me"}
    assert _code(lambda: bob.invoke(FunctionName=function_name)) == "AccessDeniedException"
    assert _code(lambda: bob.get_function(FunctionName=function_name)) == "AccessDeniedException"
    assert _code(lambda: bob.delete_function(FunctionName=function_name)) == "AccessDeniedException"
    # Alice grants Bob invocation, and only that.
    added = alice.add_permission(
        FunctionName=function_name, StatementId="bob-invokes", Action="lambda:InvokeFunction", Principal=bob_arn
    )
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "bob-invokes",
        "Effect": "Allow",
        "Principal": {"AWS": bob_arn},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function_name}",
    }
    assert json.loads(bob.invoke(FunctionName=function_name)["Payload"].read()) == {"by": "me"}
    assert _code(lambda: bob.get_function(FunctionName=function_name)) == "AccessDeniedException"
    policy = alice.get_policy(FunctionName=function_name)
    assert json.loads(policy["Policy"])["Statement"] == [statement]
    alice.remove_permission(FunctionName=function_name, StatementId="bob-invokes", RevisionId=policy["RevisionId"])
    assert _code(lambda: bob.invoke(FunctionName=function_name)) == "AccessDeniedException"
    assert _code(lambda: alice.get_policy(FunctionName=function_name)) == "ResourceNotFoundException"
    # The administrator is the account's own: it may do what its policy allows with anyone's function.
    assert server.client().get_function(FunctionName=function_name)["Configuration"]["FunctionName"] == function_name


def test_a_grant_on_an_alias_covers_that_alias_only(server: FireboxServer, function_name: str, tmp_path: Any) -> None:
    server.create_function(function_name, ECHO)
    admin = server.client()
    admin.publish_version(FunctionName=function_name)
    admin.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    carol_name = f"carol-{function_name}"[:60]
    carol = _key(server, carol_name, ALL_LAMBDA, tmp_path)
    admin.add_permission(
        FunctionName=function_name,
        Qualifier="live",
        StatementId="carol",
        Action="lambda:InvokeFunction",
        Principal=f"arn:aws:iam::{ACCOUNT}:user/{carol_name}",
    )
    assert carol.invoke(FunctionName=function_name, Qualifier="live")["StatusCode"] == 200
    assert _code(lambda: carol.invoke(FunctionName=function_name)) == "AccessDeniedException"
    assert _code(lambda: carol.invoke(FunctionName=function_name, Qualifier="1")) == "AccessDeniedException"
    assert _code(lambda: admin.get_policy(FunctionName=function_name)) == "ResourceNotFoundException"
    assert "carol" in admin.get_policy(FunctionName=function_name, Qualifier="live")["Policy"]


def test_deny_wins_and_an_account_principal_grants_everyone_in_it(
    server: FireboxServer, function_name: str, tmp_path: Any
) -> None:
    server.create_function(function_name, ECHO)
    admin = server.client()
    admin.add_permission(FunctionName=function_name, StatementId="all", Action="lambda:*", Principal=ACCOUNT)
    dave = _key(server, f"dave-{function_name}"[:60], ALL_LAMBDA, tmp_path)
    assert dave.invoke(FunctionName=function_name)["StatusCode"] == 200
    erin = _key(
        server,
        f"erin-{function_name}"[:60],
        [
            *ALL_LAMBDA,
            {"Effect": "Deny", "Action": "lambda:invoke*", "Resource": f"arn:aws:lambda:*:*:function:{function_name}*"},
        ],
        tmp_path,
    )
    assert _code(lambda: erin.invoke(FunctionName=function_name)) == "AccessDeniedException"  # case-insensitive action
    assert erin.get_function(FunctionName=function_name)["Configuration"]["FunctionName"] == function_name
    frank = _key(
        server,
        f"frank-{function_name}"[:60],
        [{"Effect": "Allow", "NotAction": "lambda:Invoke*", "Resource": "*"}],
        tmp_path,
    )
    assert _code(lambda: frank.invoke(FunctionName=function_name)) == "AccessDeniedException"
    assert frank.list_functions()["Functions"] is not None


def test_bad_permissions_get_aws_errors(server: FireboxServer, raw_lambda_client: Any, function_name: str) -> None:
    server.create_function(function_name, ECHO)
    admin = server.client()
    add = admin.add_permission
    add(FunctionName=function_name, StatementId="s1", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::bucket", SourceAccount=ACCOUNT)  # fmt: skip
    statement = json.loads(admin.get_policy(FunctionName=function_name)["Policy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"AWS:SourceAccount": ACCOUNT},
        "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
    }
    again = lambda: add(FunctionName=function_name, StatementId="s1", Action="lambda:*", Principal="*")  # noqa: E731
    assert _code(again) == "ResourceConflictException"
    assert _code(lambda: add(FunctionName=function_name, StatementId="s2", Action="lambda:*", Principal="nobody")) == (
        "InvalidParameterValueException"
    )
    assert (
        _code(
            lambda: raw_lambda_client.add_permission(
                FunctionName=function_name, StatementId="bad id!", Action="lambda:*", Principal="*"
            )
        )
        == "ValidationException"
    )
    assert (
        _code(
            lambda: add(
                FunctionName=function_name, StatementId="s3", Action="lambda:*", Principal="*", RevisionId="stale"
            )
        )
        == "PreconditionFailedException"
    )
    assert _code(lambda: admin.remove_permission(FunctionName=function_name, StatementId="nope")) == (
        "ResourceNotFoundException"
    )
    assert _code(lambda: add(FunctionName=f"{function_name}-x", StatementId="s", Action="lambda:*", Principal="*")) == (
        "ResourceNotFoundException"
    )
    assert _code(lambda: admin.get_policy(FunctionName=function_name, Qualifier="9")) == "ResourceNotFoundException"


def test_key_policies_limit_the_queue_and_log_apis_too(
    server: FireboxServer, function_name: str, tmp_path: Any
) -> None:
    admin_sqs = server.client("sqs")
    mine = admin_sqs.create_queue(QueueName=f"{function_name}-mine")["QueueUrl"]
    theirs = admin_sqs.create_queue(QueueName=f"{function_name}-theirs")["QueueUrl"]
    server.create_function(function_name, ECHO)
    server.client().invoke(FunctionName=function_name)
    keys = _credentials(
        server,
        f"gina-{function_name}"[:60],
        [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:*:*:{function_name}-mine"},
            {"Effect": "Allow", "Action": "logs:Describe*", "Resource": "*"},
        ],
        tmp_path,
    )
    sqs, logs = server.client("sqs", credentials=keys), server.client("logs", credentials=keys)
    assert sqs.send_message(QueueUrl=mine, MessageBody="hello")["MessageId"]
    assert _code(lambda: sqs.send_message(QueueUrl=theirs, MessageBody="hello")) == "AccessDenied"
    assert _code(lambda: sqs.receive_message(QueueUrl=mine)) == "AccessDenied"
    assert _code(lambda: sqs.list_queues()) == "AccessDenied"
    group = f"/aws/lambda/{function_name}"
    assert logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert _code(lambda: logs.filter_log_events(logGroupName=group)) == "AccessDeniedException"
    assert _code(lambda: logs.get_log_events(logGroupName=group, logStreamName="any")) == "AccessDeniedException"
