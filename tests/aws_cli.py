"""The AWS CLI, run as a user runs it against a Firebox server: only the endpoint changed, and the
server's administrator key as the user's credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.server_process import FireboxServer

AWS = Path(sys.executable).with_name("aws")


class AwsCli:
    def __init__(self, server: FireboxServer, home: Path, service: str = "lambda") -> None:
        self._endpoint = server.endpoint
        self._service = service
        keys = server.credentials
        self._env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        }
        self._cwd = home

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AWS), self._service, *args, "--endpoint-url", self._endpoint, "--output", "json"],
            capture_output=True,
            text=True,
            env=self._env,
            cwd=self._cwd,
            timeout=60,
            check=False,
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None
