"""`firebox logs`: a function's log events from CloudWatch Logs' FilterLogEvents, once or followed."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import click
from botocore.exceptions import ClientError

from firebox.cli.connection import Connection, error_code

POLL_INTERVAL_S = 0.5
# An event can be stored after a later one was already read (two environments writing at once): re-reading
# this far behind the newest event seen catches it, and remembering the ids read in that window prints it
# only once.
_LOOKBACK_MS = 5_000
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(ctx: click.Context, param: click.Parameter, value: str) -> int:
    found = _DURATION.fullmatch(value.strip())
    if found is None:
        raise click.BadParameter(f"{value!r} is not a duration such as 30s, 10m, 2h or 1d")
    return int(found[1]) * _UNIT_S[found[2]]


class LogReader:
    """Reads one log group forward from a start time, returning each event once across calls."""

    def __init__(self, logs_client: Any, group: str, start_ms: int) -> None:
        self._client = logs_client
        self._group = group
        self._start_ms = start_ms
        self._newest_ms = start_ms
        self._seen: dict[str, int] = {}  # eventId -> timestamp, for events inside the lookback window

    def new_events(self) -> Iterator[dict[str, Any]]:
        """Events not returned before, page by page; raises ClientError when the group does not exist."""
        params: dict[str, Any] = {
            "logGroupName": self._group,
            "startTime": max(self._start_ms, self._newest_ms - _LOOKBACK_MS),
        }
        while True:
            page = self._client.filter_log_events(**params)
            for event in page.get("events", []):
                if event["eventId"] in self._seen:
                    continue
                self._seen[event["eventId"]] = event["timestamp"]
                self._newest_ms = max(self._newest_ms, event["timestamp"])
                yield event
            # Pages of one pass never repeat an event, so only the window the next pass re-reads is kept:
            # a pass over a day of logs does not hold a day of ids.
            horizon = self._newest_ms - _LOOKBACK_MS
            self._seen = {event_id: ts for event_id, ts in self._seen.items() if ts >= horizon}
            token = page.get("nextToken")
            if not token:
                break
            params["nextToken"] = token


def format_event(event: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(event["timestamp"] / 1000)
    stream = str(event.get("logStreamName", ""))[-8:]
    # Lambda's runtimes write a multi-line record as one event with `\r` between its lines; on a terminal
    # a bare `\r` would print each line over the one before.
    message = str(event["message"]).rstrip("\n").replace("\r", "\n")
    return f"{when:%m-%d %H:%M:%S}.{when.microsecond // 1000:03d} {stream} {message}"


def _print_new(reader: LogReader) -> None:
    for event in reader.new_events():
        click.echo(format_event(event))


def _is_missing(error: ClientError) -> bool:
    return error_code(error) == "ResourceNotFoundException"


def _follow(reader: LogReader, group: str) -> None:
    waiting = False
    while True:
        try:
            _print_new(reader)
        except ClientError as error:
            if not _is_missing(error):
                raise
            if not waiting:
                click.echo(f"waiting for log group {group} to appear (Ctrl-C to stop)", err=True)
                waiting = True
        time.sleep(POLL_INTERVAL_S)


@click.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option(
    "--since",
    callback=_seconds,
    default="10m",
    metavar="DURATION",
    show_default=True,
    help="How far back to start: 30s, 10m, 2h, 1d.",
)
@click.pass_obj
def logs(connection: Connection, name: str, follow: bool, since: int) -> None:
    """Print the log events of function NAME."""
    group = f"/aws/lambda/{name}"
    reader = LogReader(connection.client("logs"), group, int((time.time() - since) * 1000))
    if follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a follow ends: exit 0, no traceback
            _follow(reader, group)
        return
    try:
        _print_new(reader)
    except ClientError as error:
        if not _is_missing(error):
            raise
        # No log group: either no such function (say so, with Lambda's own error), or one never invoked.
        connection.client("lambda").get_function_configuration(FunctionName=name)
        click.echo(f"no logs for {name} yet", err=True)
