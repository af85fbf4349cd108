"""Fixtures of the hostile-function suite: it runs only where the namespace sandbox does, and a canary
function must answer before and after every attack, from a server that is still alive."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from firebox.sandbox import unavailable_reason
from tests.e2e.security.hostile import CANARY, PROBE, ROLE, invoke
from tests.server_process import FireboxServer
from tests.zips import make_zip


@pytest.fixture(autouse=True)
def _namespace_sandbox_only() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"the namespace sandbox cannot run here: {reason}")


@pytest.fixture(scope="session")
def canary(server: FireboxServer, lambda_client: Any) -> Callable[[], None]:
    """A function that must keep answering whatever the others do; calling it checks it does."""
    name = f"security-canary-{os.getpid()}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": CANARY})},
    )

    def check() -> None:
        assert server.process is not None and server.process.poll() is None, f"the server died: {server.log()[-2000:]}"
        nonce = secrets.token_hex(8)
        outcome = invoke(lambda_client, name, {"nonce": nonce})
        assert outcome.function_error is None and outcome.payload["echo"] == {"nonce": nonce}, outcome
        assert outcome.payload["pid"] == 1, f"the canary is not in a PID namespace of its own: {outcome}"

    return check


@pytest.fixture(autouse=True)
def _canary_answers_around_each_attack(_namespace_sandbox_only: None, canary: Callable[[], None]) -> Iterator[None]:
    canary()
    yield
    canary()


@pytest.fixture
def deploy(create_function: Callable[..., dict[str, Any]], function_name: str) -> Callable[..., str]:
    """Create a hostile function from the source of its `app.py` (which may `import probe`); returns its name.
    `suffix` tells apart several functions of one test."""

    def create(source: str, suffix: str = "", files: dict[str, str] | None = None, **config: Any) -> str:
        name = f"{function_name}{suffix}"
        create_function({"app.py": source, "probe.py": PROBE, **(files or {})}, name=name, **config)
        return name

    return create
