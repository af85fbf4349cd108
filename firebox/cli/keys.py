"""`firebox keys`: create, list and delete the access keys a Firebox server accepts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from firebox.cli.connection import Connection


@click.group()
def keys() -> None:
    """Manage the access keys of a Firebox server (as a principal allowed firebox:*Key)."""


@keys.command()
@click.argument("name")
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An IAM policy document (JSON) limiting what the key may do; default: everything but managing keys.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"AccessKeyId": ..., "SecretAccessKey": ...}.')
@click.pass_obj
def create(connection: Connection, name: str, policy: Path | None, as_json: bool) -> None:
    """Create a key for the principal NAME; its secret is shown this once."""
    document: dict[str, str] = {"Principal": name}
    if policy is not None:
        document["Policy"] = policy.read_text()
    made = connection.call("POST", "/firebox/keys", document)
    if as_json:
        click.echo(json.dumps({"AccessKeyId": made["AccessKeyId"], "SecretAccessKey": made["SecretAccessKey"]}))
        return
    click.echo(
        f"[{name}]\naws_access_key_id = {made['AccessKeyId']}\naws_secret_access_key = {made['SecretAccessKey']}"
    )
    click.echo("(an AWS credentials profile: its secret is not shown again)", err=True)


@keys.command(name="list")
@click.pass_obj
def list_keys(connection: Connection) -> None:
    """List the keys: id, principal, creation time (never their secrets)."""
    table = Table(box=None, header_style="bold")
    for column in ("ACCESS KEY ID", "PRINCIPAL", "CREATED"):
        table.add_column(column, no_wrap=True)
    for key in connection.call("GET", "/firebox/keys"):
        created = datetime.fromtimestamp(key["Created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(Text(key["AccessKeyId"]), Text(key["Principal"]), Text(created))
    Console(width=200).print(table)


@keys.command()
@click.argument("access_key_id")
@click.pass_obj
def delete(connection: Connection, access_key_id: str) -> None:
    """Delete the key ACCESS_KEY_ID: requests signed with it fail from now on."""
    connection.call("DELETE", f"/firebox/keys/{access_key_id}")
