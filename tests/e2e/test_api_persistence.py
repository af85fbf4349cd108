"""A server restarted on the same data directory keeps every function, version and alias; Ctrl-C ends it cleanly."""

from __future__ import annotations

import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import ROLE
from tests.server_process import FireboxServer
from tests.zips import make_zip

NAMES = ("kept-plain", "kept-versioned")


def _code(n: int) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {n}\n"})


def _snapshot(client: Any) -> dict[str, Any]:
    """Everything the control plane says about the functions, minus the server's own address."""
    state: dict[str, Any] = {"functions": client.list_functions()["Functions"]}
    for name in NAMES:
        got = client.get_function(FunctionName=name)
        with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as reply:
            code = reply.read()
        state[name] = {
            "configuration": got["Configuration"],
            "code": code,
            "versions": client.list_versions_by_function(FunctionName=name)["Versions"],
            "aliases": client.list_aliases(FunctionName=name)["Aliases"],
        }
        for version in state[name]["versions"][1:]:
            configuration = client.get_function_configuration(FunctionName=name, Qualifier=version["Version"])
            configuration.pop("ResponseMetadata")
            state[name][version["Version"]] = configuration
    return state


def _stop_with_ctrl_c(server: FireboxServer) -> None:
    # stop() fails if the process is not gone within the deadline.
    assert server.stop(signal.SIGINT, deadline_s=5.0) == 0, server.log()


def test_a_restarted_server_keeps_functions_versions_and_aliases(
    start_server: Callable[..., FireboxServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "kept"
    first = start_server(data_dir=data_dir)
    client = first.client()
    plain, versioned = NAMES
    client.create_function(
        FunctionName=plain,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": _code(0)},
        Environment={"Variables": {"COLOUR": "blue"}},
        MemorySize=256,
        Timeout=12,
        Description="plain",
        EphemeralStorage={"Size": 1024},
    )
    client.create_function(
        FunctionName=versioned,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": _code(1)},
        Publish=True,
    )
    client.update_function_code(FunctionName=versioned, ZipFile=_code(2), Publish=True)
    client.update_function_code(FunctionName=versioned, ZipFile=_code(3))
    client.create_alias(
        FunctionName=versioned,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.2}},
        Description="canary",
    )
    client.create_alias(FunctionName=versioned, Name="edge", FunctionVersion="$LATEST")
    before = _snapshot(client)
    _stop_with_ctrl_c(first)

    second = start_server(data_dir=data_dir)
    client = second.client()
    after = _snapshot(client)
    assert after == before
    assert after[versioned]["code"] == _code(3)
    assert [v["Version"] for v in after[versioned]["versions"]] == ["$LATEST", "1", "2"]

    # The version counter survived too, and the restored state takes changes as before.
    assert client.publish_version(FunctionName=versioned)["Version"] == "3"
    live = next(alias for alias in after[versioned]["aliases"] if alias["Name"] == "live")
    client.update_alias(FunctionName=versioned, Name="live", FunctionVersion="3", RevisionId=live["RevisionId"])
    client.delete_function(FunctionName=plain)
    _stop_with_ctrl_c(second)

    third = start_server(data_dir=data_dir)
    client = third.client()
    assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == [versioned]
    assert client.get_alias(FunctionName=versioned, Name="live")["FunctionVersion"] == "3"
    _stop_with_ctrl_c(third)
