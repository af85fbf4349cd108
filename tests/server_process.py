"""A real Firebox server in a child process, for tests that talk to it over HTTP."""

from __future__ import annotations

import configparser
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.zips import make_zip

FIREBOX = Path(sys.executable).with_name("firebox")
TEST_ROLE = "arn:aws:iam::000000000000:role/firebox-test"
SANDBOX_FIRST_UID = 500_000  # the namespace backend's first host uid for sandboxes
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    return children


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _uid(pid: int) -> int:
    try:
        return Path(f"/proc/{pid}").stat().st_uid
    except OSError:
        return 0


def sandbox_pids_below(roots: list[int]) -> list[int]:
    """The processes below `roots` that run as a sandbox's host uid (500000 and up)."""
    children = _children()
    below, pending = [], list(roots)
    while pending:
        for child in children.get(pending.pop(), []):
            below.append(child)
            pending.append(child)
    return [pid for pid in below if _uid(pid) >= SANDBOX_FIRST_UID]


class PortTaken(Exception):
    """The port picked for a server was taken before the server could bind it."""


class FireboxServer:
    def __init__(self, data_dir: Path, *extra_args: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        self._port_chosen = port is None  # then another may be picked if this one is taken meanwhile
        self.port = port or free_port()
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.with_name(data_dir.name + ".server.log")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, deadline_s: float = 30.0) -> FireboxServer:
        for _ in range(3):
            try:
                return self._start(deadline_s)
            except PortTaken:
                self.port = free_port()
        raise RuntimeError(f"no free port for firebox serve after 3 tries: {self.log()}")

    def _start(self, deadline_s: float) -> FireboxServer:
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [
            str(FIREBOX),
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        limit = time.monotonic() + deadline_s
        while time.monotonic() < limit:
            if self.process.poll() is not None:
                # free_port() only found the port free: a server started in parallel may have taken it since.
                if self._port_chosen and "address already in use" in self.log()[log_start:]:
                    raise PortTaken(self.port)
                raise RuntimeError(f"firebox serve exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/firebox/health", timeout=1) as reply:
                    # The answer must come from this server, not from another that holds the port.
                    if reply.status == 200 and json.loads(reply.read()).get("pid") == self.process.pid:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"firebox serve did not answer within {deadline_s} s: {self.log()}")

    def stop(self, sig: int = signal.SIGINT, deadline_s: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(deadline_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(
                    f"firebox serve did not stop within {deadline_s} s of signal {sig}; its log ends with:\n"
                    + self.log()[-4000:]
                ) from None
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def sandbox_processes(self) -> int:
        return len(self.sandbox_pids())

    def sandbox_pids(self) -> list[int]:
        """The processes below this server that run as a sandbox's host uid (500000 and up): environments
        and what they started, SnapStart templates and their copies; not zygotes or spares not yet given."""
        assert self.process is not None
        return sandbox_pids_below([self.process.pid])

    def worker_pids(self) -> list[int]:
        """This server's worker processes (`--workers N`) that it started itself."""
        assert self.process is not None
        children = _children()
        return sorted(pid for pid in children.get(self.process.pid, []) if b"firebox.worker_process" in _cmdline(pid))

    def create_function(self, name: str, source: str, runtime: str = "python3.11", **extra: Any) -> dict[str, Any]:
        """Create a Python function whose `app.py` is `source` (handler `app.handler`) on this server."""
        created: dict[str, Any] = self.client().create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=TEST_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": source})},
            **extra,
        )
        return created

    def publish_snapstart_function(self, name: str, source: str) -> tuple[str, str]:
        """Create `name` on python3.12 with SnapStart on (the test is skipped where that runtime is missing),
        publish it, and wait for its snapshot: the version and its State then."""
        client = self.client()
        try:
            self.create_function(name, source, runtime="python3.12", SnapStart={"ApplyOn": "PublishedVersions"})
        except client.exceptions.InvalidParameterValueException as exc:
            pytest.skip(str(exc))
        version: str = client.publish_version(FunctionName=name)["Version"]
        deadline = time.monotonic() + 60
        while True:
            state: str = client.get_function_configuration(FunctionName=name, Qualifier=version)["State"]
            if state != "Pending" or time.monotonic() > deadline:
                return version, state
            time.sleep(0.05)

    @property
    def credentials_file(self) -> Path:
        """The administrator's key, which the server writes on its first start."""
        return self.data_dir / "credentials"

    @functools.cached_property
    def credentials(self) -> dict[str, str]:
        """The administrator's key, as boto3.client's keyword arguments (read once: it never changes)."""
        profile = configparser.ConfigParser()
        profile.read(self.credentials_file)
        return {name: profile["firebox"][name] for name in ("aws_access_key_id", "aws_secret_access_key")}

    def signed_request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, service: str = "lambda"
    ) -> urllib.request.Request:
        """A raw HTTP request to this server, signed (SigV4) with the administrator's key as boto3 would."""
        request = AWSRequest(method, self.endpoint + path, data=body, headers=headers or {})
        keys = self.credentials
        SigV4Auth(Credentials(keys["aws_access_key_id"], keys["aws_secret_access_key"]), service, "us-east-1").add_auth(
            request
        )
        return urllib.request.Request(request.url, data=body or None, headers=dict(request.headers), method=method)

    def client(
        self,
        service: str = "lambda",
        credentials: dict[str, str] | None = None,
        region: str = "us-east-1",
        **config: Any,
    ) -> Any:
        """A boto3 client of this server, signing with `credentials` (the administrator's unless told)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            config=Config(retries={"max_attempts": 0}, read_timeout=120, **config),
            **(credentials or self.credentials),
        )
