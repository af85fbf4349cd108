"""Warm synchronous invocations per second, driven by load generators outside Python, beside a bare server.

    .venv/bin/python -m bench.throughput [--connections 16] [--seconds 10] [--rounds 3]
                                         [--sandbox namespaces|process] [--workers N]

- The bare server is aiohttp on uvloop (Firebox's own HTTP stack) answering every POST with its body
  (`bench/bare_http_server.py`); Firebox answers Invoke of a no-op Python function with warm environments,
  one per connection (warmed before the timed run).
- The relay floor (`bench/relay_floor.py`) is Firebox's topology with nothing in it: a front, a relay and
  one plain sandbox process per connection, passing each body through as Firebox's server, worker and
  runtime do. What separates it from the bare server is the price of those hops; from Firebox, the
  platform's own work. The direct floor leaves out the relay too: the HTTP server hands each body straight
  to a sandbox process, the least any design that runs functions outside the server's process can do.
- Maximum rate: `wrk` (Debian package wrk), `--connections` connections on 2 threads, for `--seconds`,
  `--rounds` times for each server, taken in turn (all of them running throughout); the median is the figure.
- Latency at half of Firebox's maximum rate: `hey` (Debian package hey) holding that rate (`-q` per
  connection), against Firebox and against the bare server at the same rate.

Goal (issue 4): Firebox at least 50% of the bare server's rate.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from math import inf
from pathlib import Path

from bench.bare_http_server import running_bare_server
from bench.firebox_client import FULL_VCPU_MB, create_functions, running_server, signed_headers
from bench.relay_floor import running_floor
from bench.stats import Column, Goal, goal_results, print_table
from firebox.config import Settings
from tests.server_process import FireboxServer

NOOP = "def handler(event, context):\n    return None\n"
_TOOLS = {"wrk": "wrk", "hey": "hey"}  # command -> Debian package
_BARE = "bare aiohttp server, wrk (maximum)"
_FIREBOX = "Firebox warm Invoke, wrk (maximum)"
_RELAY_FLOOR = "relay floor (3 processes), wrk (maximum)"
_DIRECT_FLOOR = "direct floor (2 processes), wrk (maximum)"
_COLUMNS = (
    Column("rps", "requests/s", 0),
    Column("rps_low", "lowest", 0),
    Column("rps_high", "highest", 0),
    Column("p50_ms", "p50 ms"),
    Column("p99_ms", "p99 ms"),
    Column("errors", "non-2xx", 0),
    Column("of_relay_floor", "of relay floor", 2),
)


def invoke_headers(server: FireboxServer | None, name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers of an Invoke of `name` with body {}: signed for a Firebox server, plain for a bare one."""
    headers = {"Content-Type": "application/json", **(extra or {})}
    return signed_headers(server, "POST", f"/2015-03-31/functions/{name}/invocations", b"{}", headers)


def wrk_script(path: Path, headers: Mapping[str, str]) -> Path:
    """A wrk script posting {} with `headers` (JSON strings are valid Lua strings)."""
    lines = ['wrk.method = "POST"', 'wrk.body = "{}"']
    lines += [f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True, slots=True)
class Load:
    """How a server is driven: the URL its requests go to, their headers, and wrk's script sending them."""

    url: str
    headers: Mapping[str, str]
    script: Path


def firebox_load(server: FireboxServer, scratch: Path) -> Load:
    """Invokes of the function "noop" on `server`, signed (valid for the next 15 minutes)."""
    headers = invoke_headers(server, "noop")
    url = f"{server.endpoint}/2015-03-31/functions/noop/invocations"
    return Load(url, headers, wrk_script(scratch / "firebox.lua", headers))


def bare_load(port: int, scratch: Path) -> Load:
    """The same requests, unsigned, to a server without Firebox that listens on `port` of loopback."""
    headers = invoke_headers(None, "bare")
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/bare/invocations"
    return Load(url, headers, wrk_script(scratch / "bare.lua", headers))


def tools_missing() -> bool:
    """Whether a load generator is missing (then says which Debian packages to install)."""
    missing = [package for command, package in _TOOLS.items() if shutil.which(command) is None]
    if missing:
        print(f"needs {', '.join(missing)}: apt-get install -y {' '.join(missing)}", file=sys.stderr)
    return bool(missing)


@dataclass(frozen=True, slots=True)
class WrkRun:
    rate: float  # requests per second
    requests: int  # completed
    errors: int  # answers that were not 2xx or 3xx


def wrk_rate(url: str, connections: int, seconds: int, script: Path) -> WrkRun:
    """What wrk sustained against `url` for `seconds`."""
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    if rate is None or requests is None:
        raise RuntimeError(f"wrk said nothing of its rate:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkRun(float(rate.group(1)), int(requests.group(1)), int(errors.group(1)) if errors else 0)


def hey_latency(url: str, connections: int, rate: float, seconds: int, headers: Mapping[str, str]) -> dict[str, float]:
    """p50 and p99 latency from hey holding `rate` requests per second over `connections` connections, with
    the rate it held and how many requests it made."""
    per_connection = max(1, round(rate / connections))
    command = [
        "hey", "-z", f"{seconds}s", "-c", str(connections), "-q", str(per_connection),
        "-m", "POST", "-d", "{}", *(f for name, value in headers.items() for f in ("-H", f"{name}: {value}")), url,
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    figures = {name: float(value) for name, value in re.findall(r"(\d+)% in ([\d.]+) secs", out)}
    total = re.search(r"Requests/sec:\s+([\d.]+)", out)
    codes = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    return {
        "rps": float(total.group(1)) if total else 0.0,
        "p50_ms": figures["50"] * 1000,
        "p99_ms": figures["99"] * 1000,
        "errors": float(sum(int(n) for code, n in codes if not code.startswith("2"))),
        "requests": float(sum(int(n) for _, n in codes)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs of each server, taken in turn")
    parser.add_argument("--sandbox", choices=("namespaces", "process"), default="namespaces")
    parser.add_argument("--workers", type=int, default=Settings().workers, help="firebox serve --workers")
    options = parser.parse_args()
    if tools_missing():
        return 2
    connections = options.connections
    with tempfile.TemporaryDirectory(prefix="firebox-throughput-") as scratch, ExitStack() as running:
        targets: dict[str, Load] = {}
        for row, started in (
            (_BARE, running_bare_server()),
            (_RELAY_FLOOR, running_floor(connections, direct=False)),
            (_DIRECT_FLOOR, running_floor(connections, direct=True)),
        ):
            targets[row] = bare_load(running.enter_context(started), Path(scratch))
        args = ("--sandbox", options.sandbox, "--keep-alive", "3600", "--workers", str(options.workers))
        server = running.enter_context(running_server(Path(scratch) / "data", *args))
        create_functions(server, ["noop"], NOOP, FULL_VCPU_MB)
        targets[_FIREBOX] = firebox_load(server, Path(scratch))
        for load in targets.values():
            wrk_rate(load.url, connections, 3, load.script)  # warm: Firebox makes one environment per connection
        # In turn rather than one after the other, so that a slow spell of the machine falls on all of them.
        runs: dict[str, list[WrkRun]] = {row: [] for row in targets}
        for _ in range(options.rounds):
            for row, load in targets.items():
                runs[row].append(wrk_rate(load.url, connections, options.seconds, load.script))
        rows: dict[str, dict[str, float]] = {row: _rates(row_runs) for row, row_runs in runs.items()}
        half = rows[_FIREBOX]["rps"] / 2
        for row, load in (
            ("Firebox warm Invoke, hey at half that rate", targets[_FIREBOX]),
            ("bare aiohttp server, hey at the same rate", targets[_BARE]),
        ):
            rows[row] = hey_latency(load.url, connections, half, options.seconds, load.headers)
        environments = server.sandbox_processes()
    rows[_FIREBOX]["bare_over_firebox"] = rows[_BARE]["rps"] / rows[_FIREBOX]["rps"] if rows[_FIREBOX]["rps"] else inf
    rows[_FIREBOX]["of_relay_floor"] = rows[_FIREBOX]["rps"] / rows[_RELAY_FLOOR]["rps"]  # the same topology, empty
    goal = {_FIREBOX: [Goal("bare_over_firebox", 2.0, ">= 50% of the bare rate")]}
    print_table(
        f"Warm Invoke throughput, no-op Python handler, {options.sandbox} backend, --workers {options.workers}",
        rows,
        _COLUMNS,
        ratio_to=_BARE,
        ratio_key="rps",
        ratio_header="rate / bare",
        goals=goal,
        notes=[
            f"{connections} connections; wrk: the median, lowest and highest of {options.rounds} runs of"
            f" {options.seconds} s on 2 threads, the servers taken in turn; hey holds its rate with -q per"
            f" connection. Firebox used {environments} environment processes ({FULL_VCPU_MB} MB each).",
            "Both load generators run on the same 2-core machine as the servers.",
        ],
    )
    print(goal_results(rows, goal))
    return 0


def _rates(runs: list[WrkRun]) -> dict[str, float]:
    rates = [run.rate for run in runs]
    return {
        "rps": statistics.median(rates),
        "rps_low": min(rates),
        "rps_high": max(rates),
        "errors": float(sum(run.errors for run in runs)),
    }


if __name__ == "__main__":
    sys.exit(main())
