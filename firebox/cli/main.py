"""The `firebox` command group: `serve` runs a server; the client commands talk to one over its AWS APIs."""

from __future__ import annotations

from typing import Any

import click

from firebox.cli.connection import DEFAULT_ENDPOINT, DEFAULT_REGION, Connection, failures_reported
from firebox.cli.deploy import deploy
from firebox.cli.events import events
from firebox.cli.invoke import invoke
from firebox.cli.keys import keys
from firebox.cli.listing import list_functions
from firebox.cli.logs import logs
from firebox.cli.serve import serve
from firebox.cli.signing import sign, signing_profile


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # Every client command's botocore errors are reported here, once, rather than in each command.
        with failures_reported(ctx.params.get("endpoint", DEFAULT_ENDPOINT)):
            return super().invoke(ctx)


def _endpoint(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


@click.group(cls=_Group)
@click.option(
    "--endpoint",
    envvar="FIREBOX_ENDPOINT",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    callback=_endpoint,
    help="URL of the Firebox server (env FIREBOX_ENDPOINT).",
)
@click.option(
    "--region",
    envvar="AWS_REGION",
    default=DEFAULT_REGION,
    show_default=True,
    help="Region to sign requests for (env AWS_REGION).",
)
@click.pass_context
def cli(ctx: click.Context, endpoint: str, region: str) -> None:
    """Firebox: AWS Lambda on your own machines."""
    ctx.obj = Connection(endpoint=endpoint, region=region)


cli.add_command(serve)
cli.add_command(deploy)
cli.add_command(invoke)
cli.add_command(list_functions)
cli.add_command(logs)
cli.add_command(events)
cli.add_command(keys)
cli.add_command(signing_profile)
cli.add_command(sign)


def main() -> None:
    cli()
