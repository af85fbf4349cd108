"""`firebox events`: what became of a function's latest asynchronous events."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from firebox.cli.connection import Connection

_UNBOUNDED_WIDTH = 1000  # piped, a row stays one line


def _time(seconds: float | None) -> str:
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S") if seconds else "-"


def _table(events: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("REQUEST ID", "RECEIVED", "FATE", "ATTEMPTS", "TRIES", "LAST OUTCOME", "DELIVERIES OWED"):
        table.add_column(column, no_wrap=column == "REQUEST ID")
    for event in events:
        owed = str(event["pending_deliveries"])
        if event["failed_deliveries"]:
            owed += f" ({event['failed_deliveries']} failed)"
        cells = (
            event["request_id"],
            _time(event["received_at"]),
            event["fate"] or "pending",
            str(event["attempts"]),
            str(event["tries"]),
            event["last_outcome"] or "-",
            owed,
        )
        table.add_row(*map(Text, cells))
    return table


@click.command()
@click.argument("name")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Events to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@click.pass_obj
def events(connection: Connection, name: str, limit: int, as_json: bool) -> None:
    """Show the latest asynchronous events of function NAME: delivered, retried, sent on, or expired."""
    connection.client("lambda").get_function_configuration(FunctionName=name)  # an unknown name fails here
    found: list[dict[str, Any]] = connection.call("GET", f"/firebox/events/{name}?limit={limit}")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo(f"no asynchronous events for {name}", err=True)
        return
    console = Console()
    if not console.is_terminal:
        console.width = _UNBOUNDED_WIDTH
    console.print(_table(found))
