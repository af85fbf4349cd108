"""Options of `firebox serve` that change what functions see."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import FireboxServer
from tests.zips import make_zip

HANDLER = "import os\ndef handler(e, c):\n    return [os.environ['AWS_REGION'], c.invoked_function_arn]\n"


def _invoke_new_function(server: FireboxServer, source: str) -> Any:
    """Create a python3.11 function from `source` on `server`, invoke it once and return what it answered."""
    server.create_function("probe", source)
    return json.loads(server.client().invoke(FunctionName="probe")["Payload"].read())


def test_region_and_account_are_configurable(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server("--region", "eu-west-1", "--account-id", "123456789012")
    client = server.client(region="eu-west-1")
    created = client.create_function(
        FunctionName="where",
        Runtime="python3.11",
        Role="arn:aws:iam::123456789012:role/x",
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": HANDLER})},
    )
    assert created["FunctionArn"] == "arn:aws:lambda:eu-west-1:123456789012:function:where"
    reply = json.loads(client.invoke(FunctionName="where")["Payload"].read())
    assert reply == ["eu-west-1", "arn:aws:lambda:eu-west-1:123456789012:function:where"]


def test_the_unisolated_backend_is_chosen_explicitly_and_says_so(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server("--sandbox", "process")
    pid = _invoke_new_function(server, "import os\ndef handler(e, c):\n    return os.getpid()\n")
    assert pid != 1  # a host pid: no PID namespace
    assert "gives NO isolation" in server.log()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = FireboxServer(tmp_path / "data", port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="exited with 1"):
            server.start()
    assert "cannot listen on 127.0.0.1" in server.log()
    assert "Traceback" not in server.log()


PRELOADED = """
import sys
SEEN = sorted(m for m in ("boto3", "json", "fractions") if m in sys.modules)

def handler(e, c):
    return SEEN
"""


@pytest.mark.parametrize(
    ("preload", "seen"),
    [("", ["json"]), ("fractions,no_such_module", ["fractions", "json"])],
)
def test_what_zygotes_preload_is_configurable(
    start_server: Callable[..., FireboxServer], preload: str, seen: list[str]
) -> None:
    """A module the zygote imported is already loaded when the handler module starts; one that is not
    installed is skipped. (json is the runtime client's own.)"""
    assert _invoke_new_function(start_server("--preload", preload), PRELOADED) == seen
