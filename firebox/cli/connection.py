"""How the client commands reach a Firebox server: boto3 clients for `lambda` and `logs`, and the one
place where what goes wrong on the way (no server, an AWS error answer) becomes `error: ...` and exit 1."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
import click
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_REGION = "us-east-1"
# Where `firebox serve` with its default data dir writes the administrator's key: used when the user has
# no AWS credentials of their own set up.
_DEFAULT_CREDENTIALS = Path(".firebox") / "credentials"
_PROFILE = "firebox"
_CONNECT_TIMEOUT_S = 5
# Lambda's longest timeout is 900 s; a synchronous invoke answers only when the function is done.
_READ_TIMEOUT_S = {"lambda": 960, "logs": 30}


class CommandFailed(click.ClickException):
    """A failure the user can act on: printed as one `error: ...` line on stderr, exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=file is None, file=file)


@dataclass(frozen=True, slots=True)
class Connection:
    endpoint: str
    region: str

    def session(self) -> boto3.Session:
        # Without this, a machine with no credentials spends seconds asking for a metadata service that is
        # not there.
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        session = boto3.Session(region_name=self.region)
        if session.get_credentials() is not None:
            return session
        if _DEFAULT_CREDENTIALS.is_file():
            os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(_DEFAULT_CREDENTIALS.resolve())
            return boto3.Session(region_name=self.region, profile_name=_PROFILE)
        raise CommandFailed(
            "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a Firebox key"
            " (the server's first start writes the administrator's to DATA_DIR/credentials, profile firebox)"
        )

    def client(self, service: str) -> Any:
        config = Config(
            # One attempt: a retry would hide a server that is down or failing behind a long silence.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=_CONNECT_TIMEOUT_S,
            read_timeout=_READ_TIMEOUT_S.get(service, 60),
        )
        return self.session().client(service, endpoint_url=self.endpoint, config=config)

    def call(self, method: str, path: str, document: Any = None) -> Any:
        """A signed request to one of Firebox's own endpoints (under /firebox/); its JSON answer, if any."""
        credentials = self.session().get_credentials().get_frozen_credentials()
        body = b"" if document is None else json.dumps(document).encode()
        request = AWSRequest(method, f"{self.endpoint}{path}", data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials, "lambda", self.region).add_auth(request)
        prepared = urllib.request.Request(request.url, data=body or None, headers=dict(request.headers), method=method)
        try:
            with urllib.request.urlopen(prepared, timeout=_CONNECT_TIMEOUT_S * 6) as reply:
                answer = reply.read()
        except urllib.error.HTTPError as error:
            problem = json.loads(error.read() or b"{}")
            raise CommandFailed(
                f"{error.headers.get('x-amzn-ErrorType', error.code)}: {problem.get('message')}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            raise CommandFailed(f"cannot reach Firebox at {self.endpoint} (is `firebox serve` running?)") from error
        return json.loads(answer) if answer else None


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


@contextmanager
def failures_reported(endpoint: str) -> Iterator[None]:
    """Turn botocore's errors into CommandFailed, so no command prints a traceback for them."""
    try:
        yield
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message") or str(error)
        raise CommandFailed(f"{error_code(error)}: {message}") from error
    except EndpointUnreachable as error:  # refused, timed out connecting, or no route: not an answer
        raise CommandFailed(f"cannot reach Firebox at {endpoint} (is `firebox serve` running?)") from error
    except BotoCoreError as error:
        raise CommandFailed(str(error)) from error
