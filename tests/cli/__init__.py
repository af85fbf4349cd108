"""Tests of the `firebox` client commands, each run as a real subprocess against a real server."""

from __future__ import annotations

import os
import subprocess

from tests.server_process import FIREBOX


def firebox(endpoint: str, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `firebox ARGS` against the server at endpoint (given the way users give it, by environment)."""
    env = {**os.environ, "FIREBOX_ENDPOINT": endpoint}
    return subprocess.run(
        [str(FIREBOX), *args], env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
