"""`firebox list`: every function, as a table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from firebox.cli.connection import Connection

# Piped into grep or a file, a table folded to 80 columns would cut function names in two.
_UNBOUNDED_WIDTH = 1000


def all_functions(lambda_client: Any) -> Iterator[dict[str, Any]]:
    """Every function's configuration, page by page, following NextMarker to the end."""
    params: dict[str, str] = {}
    while True:
        page = lambda_client.list_functions(**params)
        yield from page.get("Functions", [])
        marker = page.get("NextMarker")
        if not marker:
            return
        params["Marker"] = marker


def _last_modified(value: str) -> str:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").strftime("%Y-%m-%d %H:%M:%S %Z")
    except ValueError:
        return value


def _table(functions: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("NAME", no_wrap=True)
    table.add_column("RUNTIME")
    table.add_column("HANDLER")
    table.add_column("MEMORY", justify="right")
    table.add_column("TIMEOUT", justify="right")
    table.add_column("CODE SIZE", justify="right")
    table.add_column("LAST MODIFIED")
    for f in functions:
        cells = (
            f["FunctionName"],
            f.get("Runtime", "-"),
            f.get("Handler", "-"),
            f"{f['MemorySize']} MB",
            f"{f['Timeout']} s",
            decimal(f["CodeSize"]),
            _last_modified(f.get("LastModified", "")),
        )
        table.add_row(*map(Text, cells))  # Text, not str: a `[` in a handler is not rich markup
    return table


@click.command(name="list")
@click.pass_obj
def list_functions(connection: Connection) -> None:
    """List all functions."""
    functions = sorted(all_functions(connection.client("lambda")), key=lambda f: str(f["FunctionName"]))
    if not functions:
        click.echo("no functions", err=True)
        return
    console = Console()
    if not console.is_terminal:
        console.width = _UNBOUNDED_WIDTH
    console.print(_table(functions))
