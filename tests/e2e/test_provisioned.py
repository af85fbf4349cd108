"""Provisioned concurrency: environments initialised ahead for a version or alias, and kept so."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.polling import concurrently, poll_until
from tests.server_process import FireboxServer

# INIT takes a while, so a cold start is easy to tell from a provisioned one; the handler says what it saw.
SLOW_INIT = """
import os, time
time.sleep(0.5)

def handler(event, context):
    if event.get("exit"):
        os._exit(1)  # the environment dies
    time.sleep(event.get("sleep", 0))
    return {"type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"], "pid_ns": os.readlink("/proc/self/ns/pid")}
"""


def _wait_ready(client: Any, name: str, qualifier: str) -> dict[str, Any]:
    return poll_until(
        lambda: client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier),
        lambda config: config["Status"] != "IN_PROGRESS",
    )


def _invoke(client: Any, name: str, qualifier: str, sleep: float = 0) -> tuple[dict[str, Any], str]:
    response = client.invoke(
        FunctionName=name, Qualifier=qualifier, Payload=json.dumps({"sleep": sleep}), LogType="Tail"
    )
    report = [line for line in base64.b64decode(response["LogResult"]).decode().splitlines() if "REPORT" in line]
    return json.loads(response["Payload"].read()), report[-1]


@pytest.fixture
def provisioned_server(start_server: Callable[..., FireboxServer]) -> FireboxServer:
    server = start_server("--keep-alive", "60")
    server.create_function("pc", SLOW_INIT)
    server.client().publish_version(FunctionName="pc")
    return server


def test_provisioned_environments_are_initialised_ahead_and_never_cold(provisioned_server: FireboxServer) -> None:
    client = provisioned_server.client()
    put = client.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    ready = _wait_ready(client, "pc", "1")
    assert ready["Status"] == "READY"
    assert ready["AvailableProvisionedConcurrentExecutions"] == ready["AllocatedProvisionedConcurrentExecutions"] == 2
    results = concurrently(2, lambda: _invoke(client, "pc", "1", 0.5))
    assert [payload["type"] for payload, _ in results] == ["provisioned-concurrency"] * 2
    assert len({payload["pid_ns"] for payload, _ in results}) == 2  # two environments
    assert not any("Init Duration" in report for _, report in results)
    # A third at once spills over to an on-demand environment, which does pay for its INIT.
    spill = concurrently(3, lambda: _invoke(client, "pc", "1", 0.5))
    assert sorted(payload["type"] for payload, _ in spill) == [
        "on-demand",
        "provisioned-concurrency",
        "provisioned-concurrency",
    ]
    # $LATEST has none.
    assert _invoke(client, "pc", "$LATEST")[0]["type"] == "on-demand"


def test_configurations_are_listed_updated_and_deleted(provisioned_server: FireboxServer) -> None:
    client = provisioned_server.client()
    client.create_alias(FunctionName="pc", Name="live", FunctionVersion="1")
    client.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="live", ProvisionedConcurrentExecutions=1)
    client.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=1)
    listed = client.list_provisioned_concurrency_configs(FunctionName="pc")["ProvisionedConcurrencyConfigs"]
    assert sorted(item["FunctionArn"].rsplit(":", 1)[1] for item in listed) == ["1", "live"]
    assert _wait_ready(client, "pc", "live")["Status"] == "READY"
    assert _invoke(client, "pc", "live")[0]["type"] == "provisioned-concurrency"
    client.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=3)
    assert _wait_ready(client, "pc", "1")["AvailableProvisionedConcurrentExecutions"] == 3
    client.delete_provisioned_concurrency_config(FunctionName="pc", Qualifier="1")
    with pytest.raises(client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        client.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="1")
    client.delete_alias(FunctionName="pc", Name="live")
    assert client.list_provisioned_concurrency_configs(FunctionName="pc")["ProvisionedConcurrencyConfigs"] == []
    deadline = time.monotonic() + 10
    while provisioned_server.sandbox_processes() > 1 and time.monotonic() < deadline:  # the one on-demand env
        time.sleep(0.1)
    assert provisioned_server.sandbox_processes() <= 1


def test_refused_where_aws_refuses(provisioned_server: FireboxServer) -> None:
    client = provisioned_server.client()
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="unpublished"):
        client.put_provisioned_concurrency_config(
            FunctionName="pc", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="9", ProvisionedConcurrentExecutions=1)
    client.put_function_concurrency(FunctionName="pc", ReservedConcurrentExecutions=2)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="reservedConcurrentExecution"):
        client.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=3)
    with pytest.raises(ClientError, match="ValidationException"):
        provisioned_server.client(parameter_validation=False).put_provisioned_concurrency_config(
            FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=0
        )
    with pytest.raises(client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        client.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="1")


def test_a_failing_init_fails_the_configuration(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    server.create_function("broken", "raise RuntimeError('no config')\n")
    client = server.client()
    client.publish_version(FunctionName="broken")
    client.put_provisioned_concurrency_config(FunctionName="broken", Qualifier="1", ProvisionedConcurrentExecutions=1)
    failed = _wait_ready(client, "broken", "1")
    assert failed["Status"] == "FAILED"
    assert "no config" in failed["StatusReason"]


def test_a_provisioned_environment_that_dies_is_replaced_and_survives_a_restart(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    server.create_function("pc", SLOW_INIT)
    client = server.client()
    client.publish_version(FunctionName="pc")
    client.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert _wait_ready(client, "pc", "1")["Status"] == "READY"
    before = _invoke(client, "pc", "1")[0]["pid_ns"]
    # Its one environment dies (mid-invocation): the pool notices and starts another.
    died = set(server.sandbox_pids())
    crashed = client.invoke(FunctionName="pc", Qualifier="1", Payload=json.dumps({"exit": True}))
    assert crashed["FunctionError"] == "Unhandled"

    def replaced(config: dict[str, Any]) -> bool:
        running = set(server.sandbox_pids())
        return config["Status"] == "READY" and bool(running) and not running & died

    config = poll_until(lambda: client.get_provisioned_concurrency_config(FunctionName="pc", Qualifier="1"), replaced)
    assert replaced(config), f"not replaced: {config}, sandboxes {server.sandbox_pids()}; {server.log()[-3000:]}"
    payload, report = _invoke(client, "pc", "1")
    assert payload["type"] == "provisioned-concurrency", (payload, report, server.log()[-3000:])
    assert payload["pid_ns"] != before
    assert "Init Duration" not in report
    data_dir, port = server.data_dir, server.port
    server.stop()
    restarted = start_server(data_dir=data_dir, port=port).client()
    assert _wait_ready(restarted, "pc", "1")["Status"] == "READY"
    assert _invoke(restarted, "pc", "1")[0]["type"] == "provisioned-concurrency"


def test_provisioned_environments_of_a_snapstart_version_are_restored_ahead(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    client = server.client()
    assert server.publish_snapstart_function("snappc", SLOW_INIT) == ("1", "Active")
    client.put_provisioned_concurrency_config(FunctionName="snappc", Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert _wait_ready(client, "snappc", "1")["Status"] == "READY"
    payload, report = _invoke(client, "snappc", "1")
    assert payload["type"] == "provisioned-concurrency"
    assert "Init Duration" not in report and "Restore Duration" not in report


def test_a_version_provisioned_twice_never_books_one_environment_twice(provisioned_server: FireboxServer) -> None:
    """A version provisioned directly and through an alias has two pools of one environment each; each
    environment goes back to its own pool only, so a third invocation at once spills over to an on-demand
    environment instead of landing on a busy one."""
    client = provisioned_server.client()
    client.create_alias(FunctionName="pc", Name="live", FunctionVersion="1")
    for qualifier in ("1", "live"):
        client.put_provisioned_concurrency_config(
            FunctionName="pc", Qualifier=qualifier, ProvisionedConcurrentExecutions=1
        )
        assert _wait_ready(client, "pc", qualifier)["Status"] == "READY"
    for _ in range(3):
        kinds = sorted(payload["type"] for payload, _ in concurrently(3, lambda: _invoke(client, "pc", "1", 0.5)))
        assert kinds == ["on-demand", "provisioned-concurrency", "provisioned-concurrency"]
