"""Reaching the server: the endpoint option, and a clean error when nothing answers there."""

from __future__ import annotations

from tests.cli import firebox
from tests.server_process import FireboxServer, free_port


def test_no_server_is_a_one_line_error() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    result = firebox(endpoint, "invoke", "anything")

    assert result.returncode == 1
    assert result.stderr == f"error: cannot reach Firebox at {endpoint} (is `firebox serve` running?)\n"


def test_the_endpoint_option_wins_over_the_environment(server: FireboxServer) -> None:
    result = firebox(f"http://127.0.0.1:{free_port()}", "--endpoint", server.endpoint, "logs", "nothing-here")

    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFoundException: Function not found: ")


def test_an_endpoint_must_be_an_http_url() -> None:
    result = firebox("127.0.0.1:9000", "list")

    assert result.returncode == 2
    assert "'127.0.0.1:9000' is not an http:// or https:// URL" in result.stderr
