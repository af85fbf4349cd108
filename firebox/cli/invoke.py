"""`firebox invoke`: one synchronous invocation; the response payload on stdout, the log tail on stderr."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import click

from firebox.cli.connection import CommandFailed, Connection


def _read_payload(value: str | None) -> bytes | None:
    """The bytes to send: the text itself, or a file's content for `@path`; refused here unless it is JSON,
    so a typo costs no round trip and says what is wrong with it."""
    if value is None:
        return None
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            payload = path.read_bytes()
        except OSError as error:
            raise CommandFailed(f"cannot read --payload file {path}: {error.strerror}") from error
    else:
        payload = value.encode()
    try:
        json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CommandFailed(f"--payload is not valid JSON: {error}") from error
    return payload


def _pretty(payload: bytes) -> str:
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return payload.decode(errors="replace")


@click.command()
@click.argument("name")
@click.option("--payload", metavar="JSON|@FILE", help="The event: JSON text, or @ and a file holding it.")
@click.option("--qualifier", help="A version or alias to invoke instead of $LATEST.")
@click.option("--log", is_flag=True, help="Print the end of the invocation's log to stderr.")
@click.pass_obj
def invoke(connection: Connection, name: str, payload: str | None, qualifier: str | None, log: bool) -> None:
    """Invoke function NAME and print its response."""
    params: dict[str, object] = {"FunctionName": name, "LogType": "Tail" if log else "None"}
    body = _read_payload(payload)
    if body is not None:
        params["Payload"] = body
    if qualifier is not None:
        params["Qualifier"] = qualifier
    response = connection.client("lambda").invoke(**params)
    if log and response.get("LogResult"):
        tail = base64.b64decode(response["LogResult"]).decode(errors="replace")
        click.echo(tail, err=True, nl=not tail.endswith("\n"))
    click.echo(_pretty(response["Payload"].read()))
    function_error = response.get("FunctionError")
    if function_error:
        raise CommandFailed(f"{name} failed ({function_error})")
