"""How the client commands reach a Firebox server: boto3 clients for `lambda` and `logs`, and the one
place where what goes wrong on the way (no server, an AWS error answer) becomes `error: ...` and exit 1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import boto3
import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_REGION = "us-east-1"
# The server does not check signatures yet, but botocore will not send an unsigned request: without
# credentials of the user's own, it signs with this fixed local pair.
_LOCAL_CREDENTIALS = {"aws_access_key_id": "FIREBOXLOCALKEY", "aws_secret_access_key": "firebox-local-secret"}
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

    def client(self, service: str) -> Any:
        # Without this, a machine with no credentials spends seconds asking for a metadata service that is
        # not there.
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        session = boto3.Session(region_name=self.region)
        credentials = {} if session.get_credentials() is not None else _LOCAL_CREDENTIALS
        config = Config(
            # One attempt: a retry would hide a server that is down or failing behind a long silence.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=_CONNECT_TIMEOUT_S,
            read_timeout=_READ_TIMEOUT_S.get(service, 60),
        )
        return session.client(service, endpoint_url=self.endpoint, config=config, **credentials)


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
