"""The AWS CLI, unchanged but for --endpoint-url, drives a function through its life."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from tests.aws_cli import AwsCli
from tests.conftest import ROLE
from tests.server_process import FireboxServer
from tests.zips import make_zip

CODE = make_zip(
    {"app.py": "def handler(event, context):\n    return {'echo': event, 'version': context.function_version}\n"}
)


class Cli(AwsCli):
    def create_args(self, name: str, runtime: str, *extra: str) -> tuple[str, ...]:
        """The arguments of a create-function of `name` from CODE (written beside the CLI's home)."""
        (self._cwd / "code.zip").write_bytes(CODE)
        return (
            "create-function",
            "--function-name",
            name,
            "--runtime",
            runtime,
            "--role",
            ROLE,
            "--handler",
            "app.handler",
            "--zip-file",
            "fileb://code.zip",
            *extra,
        )


def test_the_aws_cli_drives_a_function(server: FireboxServer, function_name: str, tmp_path: Path) -> None:
    cli = Cli(server, tmp_path)
    created = cli.json(
        *cli.create_args(function_name, "python3.11", "--environment", "Variables={STAGE=test}", "--memory-size", "256")
    )
    assert created["FunctionName"] == function_name
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(CODE).digest()).decode()
    assert created["MemorySize"] == 256

    got = cli.json("get-function", "--function-name", function_name)
    assert got["Configuration"]["Environment"] == {"Variables": {"STAGE": "test"}}
    assert got["Code"]["Location"].startswith(server.endpoint)

    listed = cli.json("list-functions")
    assert function_name in [f["FunctionName"] for f in listed["Functions"]]

    (tmp_path / "event.json").write_text('{"hello": "cli"}')  # fileb:// reads raw bytes in CLI v1 and v2 alike
    invoked = cli.run("invoke", "--function-name", function_name, "--payload", "fileb://event.json", "out.json")
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["StatusCode"] == 200
    assert json.loads((tmp_path / "out.json").read_text()) == {"echo": {"hello": "cli"}, "version": "$LATEST"}

    published = cli.json("publish-version", "--function-name", function_name, "--description", "from the cli")
    assert published["Version"] == "1"

    alias = cli.json(
        "create-alias", "--function-name", function_name, "--name", "live", "--function-version", published["Version"]
    )
    assert alias["AliasArn"].endswith(f":function:{function_name}:live")

    through_alias = cli.run("invoke", "--function-name", function_name, "--qualifier", "live", "alias.json")
    assert through_alias.returncode == 0, through_alias.stderr
    assert json.loads((tmp_path / "alias.json").read_text())["version"] == "1"

    assert cli.run("delete-function", "--function-name", function_name).returncode == 0
    missing = cli.run("get-function", "--function-name", function_name)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


def test_the_aws_cli_reports_refusals(server: FireboxServer, function_name: str, tmp_path: Path) -> None:
    cli = Cli(server, tmp_path)
    refused = cli.run(*cli.create_args(function_name, "nodejs20.x"))
    assert refused.returncode != 0
    assert "InvalidParameterValueException" in refused.stderr
    assert "nodejs20.x" in refused.stderr
    missing = cli.run("get-function", "--function-name", function_name)
    assert "ResourceNotFoundException" in missing.stderr


def test_the_aws_cli_reserves_and_provisions_concurrency(
    server: FireboxServer, function_name: str, tmp_path: Path
) -> None:
    cli = Cli(server, tmp_path)
    cli.json(*cli.create_args(function_name, "python3.11", "--publish"))
    reserved = cli.json(
        "put-function-concurrency", "--function-name", function_name, "--reserved-concurrent-executions", "3"
    )
    assert reserved == {"ReservedConcurrentExecutions": 3}
    assert cli.json("get-function-concurrency", "--function-name", function_name) == reserved
    put = cli.json(
        "put-provisioned-concurrency-config", "--function-name", function_name, "--qualifier", "1",
        "--provisioned-concurrent-executions", "1",
    )  # fmt: skip
    assert put["RequestedProvisionedConcurrentExecutions"] == 1
    listed = cli.json("list-provisioned-concurrency-configs", "--function-name", function_name)
    assert [item["FunctionArn"].rsplit(":", 1)[1] for item in listed["ProvisionedConcurrencyConfigs"]] == ["1"]
    cli.json("delete-provisioned-concurrency-config", "--function-name", function_name, "--qualifier", "1")
    cli.json("delete-function-concurrency", "--function-name", function_name)
    assert cli.json("get-function-concurrency", "--function-name", function_name) in (None, {})
    throttled = cli.run(
        "put-function-concurrency", "--function-name", function_name, "--reserved-concurrent-executions", "0"
    )
    assert throttled.returncode == 0
    refused = cli.run("invoke", "--function-name", function_name, str(tmp_path / "out.json"))
    assert refused.returncode != 0 and "TooManyRequestsException" in refused.stderr, refused.stderr


def test_the_aws_cli_tags_a_function_and_sets_its_async_settings(
    server: FireboxServer, function_name: str, tmp_path: Path
) -> None:
    cli = Cli(server, tmp_path)
    arn = cli.json(*cli.create_args(function_name, "python3.11", "--tags", "team=core"))["FunctionArn"]
    assert cli.json("tag-resource", "--resource", arn, "--tags", "a=1,b=2") is None
    assert cli.json("list-tags", "--resource", arn)["Tags"] == {"team": "core", "a": "1", "b": "2"}
    config = cli.json(
        "put-function-event-invoke-config", "--function-name", function_name, "--maximum-retry-attempts", "1"
    )
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (1, 21600)
    invoked = cli.run("invoke", "--function-name", function_name, "--invocation-type", "Event", "out.json")
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["StatusCode"] == 202
