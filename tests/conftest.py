"""Fixtures shared by every test package: a real Firebox server and clients for it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import FireboxServer
from tests.zips import make_zip

ROLE = "arn:aws:iam::000000000000:role/firebox-test"
_names = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    """One server for the whole session; tests keep apart by using unique function names."""
    # FIREBOX_TEST_SERVER_ARGS adds options to it (say "--workers 2") to run the suite against them.
    extra = os.environ.get("FIREBOX_TEST_SERVER_ARGS", "").split()
    instance = FireboxServer(tmp_path_factory.mktemp("firebox") / "data", "--keep-alive", "60", *extra).start()
    yield instance
    instance.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., FireboxServer]]:
    """A server of the test's own, for tests that restart, kill or reconfigure it."""
    started: list[FireboxServer] = []

    def start(*args: str, data_dir: Path | None = None, port: int | None = None) -> FireboxServer:
        instance = FireboxServer(data_dir or tmp_path / f"data{len(started)}", *args, port=port).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        if instance.process is not None and instance.process.poll() is None:
            instance.stop()


@pytest.fixture(scope="session")
def lambda_client(server: FireboxServer) -> Any:
    return server.client()


@pytest.fixture(scope="session")
def raw_lambda_client(server: FireboxServer) -> Any:
    """A client that sends whatever it is given, so the server's own validation is what answers."""
    return server.client(parameter_validation=False)


@pytest.fixture
def function_name(request: pytest.FixtureRequest) -> str:
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")
    return f"{base}-{os.getpid()}-{next(_names)}"


@pytest.fixture
def create_function(lambda_client: Any, function_name: str) -> Callable[..., dict[str, Any]]:
    """Create a Python function from source files; returns the CreateFunction response."""

    def create(
        files: dict[str, str | bytes] | None = None,
        handler: str = "app.handler",
        runtime: str = "python3.11",
        name: str | None = None,
        executable: tuple[str, ...] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        code = make_zip(files or {"app.py": "def handler(event, context):\n    return event\n"}, executable)
        response: dict[str, Any] = lambda_client.create_function(
            FunctionName=name or function_name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": code},
            **extra,
        )
        return response

    return create
