"""Tests of the `firebox` client commands, each run as a real subprocess against a real server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.server_process import FIREBOX, FireboxServer


def firebox(
    server: FireboxServer | str,
    *args: str,
    timeout_s: float = 30.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `firebox ARGS` against `server` (or an endpoint where none may be) as its administrator, given the
    way users give them: endpoint and AWS profile by environment (`env` changes it)."""
    return subprocess.run(
        [str(FIREBOX), *args],
        env={**cli_environment(server), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=cwd,
    )


def cli_environment(server: FireboxServer | str) -> dict[str, str]:
    """The environment of a `firebox` command that talks to `server` as its administrator."""
    env = {**os.environ, "FIREBOX_ENDPOINT": server if isinstance(server, str) else server.endpoint}
    if not isinstance(server, str):
        env |= {"AWS_SHARED_CREDENTIALS_FILE": str(server.credentials_file), "AWS_PROFILE": "firebox"}
    return env
