"""Asynchronous invocation rates: accepted events (durable 202s) and events run end to end, beside the raw
rate of durable appends to the same event store in the same run.

    .venv/bin/python -m bench.async_events [--connections 16] [--seconds 10] [--workers N]

- Raw appends: the SQLite event store Firebox uses (`firebox.events.SqliteEventStore`), in this process on
  uvloop, `--connections` appenders each awaiting its commit before the next: the ceiling for 202s.
- Accepted: `wrk` posts Invoke with `X-Amz-Invocation-Type: Event` for a no-op function on `--connections`
  connections for `--seconds`; every 202 is an event committed to the store. The dispatcher runs the
  events meanwhile, as it would in production.
- End to end: all the events accepted above, from wrk's start until the last one is recorded finished
  (read from the server's events.db), as events per second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from bench.firebox_client import create_functions, running_server
from bench.stats import Column, print_table
from bench.throughput import invoke_headers, tools_missing, wrk_rate, wrk_script
from firebox.config import Settings
from firebox.events import AsyncEvent, SqliteEventStore

NOOP = "def handler(event, context):\n    return None\n"
_COLUMNS = (Column("rps", "events/s", 0), Column("events", "events", 0), Column("errors", "failed", 0))
_DRAIN_LIMIT_S = 600.0


async def _append_rate(path: Path, appenders: int, seconds: float) -> tuple[float, int]:
    store = SqliteEventStore(path)
    ids = itertools.count()
    deadline = time.perf_counter() + seconds

    async def appender() -> int:
        done = 0
        while time.perf_counter() < deadline:
            await store.append(AsyncEvent(f"e{next(ids)}", "noop", None, b"{}", time.time()))
            done += 1
        return done

    started = time.perf_counter()
    total = sum(await asyncio.gather(*(appender() for _ in range(appenders))))
    elapsed = time.perf_counter() - started
    store.close()
    return total / elapsed, total


def _finished(events_db: Path) -> tuple[int, int]:
    """(events stored, events finished) in a server's event store, read beside the server."""
    with sqlite3.connect(f"file:{events_db}?mode=ro", uri=True) as db:
        stored, finished = db.execute("SELECT count(*), count(finished) FROM events").fetchone()
    return int(stored), int(finished)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=Settings().workers, help="firebox serve --workers")
    options = parser.parse_args()
    if tools_missing():
        return 2
    with tempfile.TemporaryDirectory(prefix="firebox-async-") as scratch:
        raw_rps, raw_total = uvloop.run(
            _append_rate(Path(scratch) / "raw-events.db", options.connections, options.seconds)
        )
        data = Path(scratch) / "data"
        with running_server(data, "--keep-alive", "3600", "--workers", str(options.workers)) as server:
            create_functions(server, ["noop"], NOOP)
            url = f"{server.endpoint}/2015-03-31/functions/noop/invocations"
            event = invoke_headers(server, "noop", {"X-Amz-Invocation-Type": "Event"})
            script = wrk_script(Path(scratch) / "event.lua", event)
            started = time.perf_counter()
            accepted = wrk_rate(url, options.connections, options.seconds, script)
            deadline = time.monotonic() + _DRAIN_LIMIT_S
            while True:
                stored, finished = _finished(data / "events.db")
                if finished >= stored or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            drained_s = time.perf_counter() - started
    rows = {
        "raw durable appends (event store, in process)": {"rps": raw_rps, "events": raw_total, "errors": 0.0},
        "accepted: Invoke Event answered 202 (wrk)": {
            "rps": accepted.rate,
            "events": stored,
            "errors": float(accepted.errors),
        },
        "end to end: accepted and run, no-op function": {
            "rps": finished / drained_s,
            "events": finished,
            "errors": float(stored - finished),
        },
    }
    print_table(
        f"Asynchronous invocation, --workers {options.workers}, {options.connections} connections",
        rows,
        _COLUMNS,
        ratio_to="raw durable appends (event store, in process)",
        ratio_key="rps",
        ratio_header="rate / raw appends",
        notes=[
            f"wrk ran {options.seconds} s on 2 threads; end to end counts from wrk's start to the last event"
            " finished; 'failed' for it counts events not finished when it stopped waiting.",
            "Load generator, server, workers and sandboxes share the same 2-core machine.",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
