"""A function's network: none by default, outbound access when it asks (FIREBOX_NETWORK=outbound).

The outbound tests reach a test host of their own: a network namespace with a veth pair, made here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.polling import poll_until
from tests.server_process import FireboxServer

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 to make a test host"
)
needs_slirp = pytest.mark.skipif(shutil.which("slirp4netns") is None, reason="slirp4netns is not installed")

ECHO_SERVER = """
import socket, sys
server = socket.create_server((sys.argv[1], 8080))
print("listening", flush=True)
while True:
    connection, _ = server.accept()
    with connection:
        connection.sendall(b"hello from the test host")
"""

PROBE = """
import json, os, socket
def handler(event, context):
    results = {}
    for name, (host, port) in event["targets"].items():
        try:
            with socket.create_connection((host, port), timeout=2) as connection:
                results[name] = connection.recv(100).decode() or "connected"
        except OSError as error:
            results[name] = f"failed: {error}"
    return results
"""


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture(scope="module")
def test_host() -> Iterator[str]:
    """The address of a TCP server in a network namespace of this test's own."""
    tag = os.getpid() % 100_000
    namespace, outside, inside = f"fbxhost{tag}", f"fbx{tag}a", f"fbx{tag}b"
    subnet = f"10.213.{tag % 250}"
    _run("ip", "netns", "add", namespace)
    server = None
    try:
        _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _run("ip", "link", "set", inside, "netns", namespace)
        _run("ip", "addr", "add", f"{subnet}.1/30", "dev", outside)
        _run("ip", "link", "set", outside, "up")
        _run("ip", "netns", "exec", namespace, "ip", "addr", "add", f"{subnet}.2/30", "dev", inside)
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", inside, "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", ECHO_SERVER, f"{subnet}.2"],
            stdout=subprocess.PIPE,
        )
        assert server.stdout is not None and server.stdout.readline() == b"listening\n"
        yield f"{subnet}.2"
    finally:
        if server is not None:
            server.kill()
            server.wait()
            assert server.stdout is not None
            server.stdout.close()
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
        _run("ip", "netns", "del", namespace)


def _probe(client: Any, name: str, targets: dict[str, tuple[str, int]]) -> dict[str, str]:
    response = client.invoke(FunctionName=name, Payload=json.dumps({"targets": targets}))
    assert "FunctionError" not in response, response["Payload"].read()
    result: dict[str, str] = json.loads(response["Payload"].read())
    return result


@needs_slirp
def test_outbound_reaches_the_network_but_not_the_host_loopback(
    lambda_client: Any, create_function: Any, function_name: str, server: FireboxServer, test_host: str
) -> None:
    create_function({"app.py": PROBE}, Environment={"Variables": {"FIREBOX_NETWORK": "outbound"}}, Timeout=10)
    seen = _probe(
        lambda_client,
        function_name,
        {
            "test host": (test_host, 8080),
            "firebox via gateway": ("10.0.2.2", server.port),
            "firebox via loopback": ("127.0.0.1", server.port),
        },
    )
    assert seen["test host"] == "hello from the test host"
    assert seen["firebox via gateway"].startswith("failed")
    assert seen["firebox via loopback"].startswith("failed")


def test_no_network_by_default(
    lambda_client: Any, create_function: Any, function_name: str, server: FireboxServer, test_host: str
) -> None:
    create_function({"app.py": PROBE}, Timeout=10)
    seen = _probe(lambda_client, function_name, {"test host": (test_host, 8080), "firebox": ("127.0.0.1", server.port)})
    assert seen["test host"].startswith("failed")
    assert seen["firebox"].startswith("failed")


def test_an_unknown_network_choice_is_refused(lambda_client: Any, create_function: Any) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException, match="FIREBOX_NETWORK"):
        create_function(Environment={"Variables": {"FIREBOX_NETWORK": "everywhere"}})


@needs_slirp
def test_restored_snapstart_copies_get_outbound_access_of_their_own(
    lambda_client: Any, create_function: Any, function_name: str, server: FireboxServer, test_host: str
) -> None:
    try:
        create_function(
            {"app.py": PROBE},
            runtime="python3.12",
            Environment={"Variables": {"FIREBOX_NETWORK": "outbound"}},
            SnapStart={"ApplyOn": "PublishedVersions"},
            Timeout=10,
        )
    except lambda_client.exceptions.InvalidParameterValueException as exc:
        pytest.skip(str(exc))
    version = lambda_client.publish_version(FunctionName=function_name)["Version"]
    state = poll_until(
        lambda: lambda_client.get_function_configuration(FunctionName=function_name, Qualifier=version)["State"],
        lambda state: state != "Pending",
    )
    assert state == "Active"
    seen = _probe(
        lambda_client,
        f"{function_name}:{version}",
        {"test host": (test_host, 8080), "firebox via loopback": ("127.0.0.1", server.port)},
    )
    assert seen["test host"] == "hello from the test host"
    assert seen["firebox via loopback"].startswith("failed")
