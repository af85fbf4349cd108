"""Warm synchronous invocations per second, driven by load generators outside Python, beside a bare server.

    .venv/bin/python -m bench.throughput [--connections 16] [--seconds 10] [--sandbox namespaces|process]
                                         [--workers N]

- The bare server is aiohttp on uvloop (Firebox's own HTTP stack) answering every POST with its body
  (`bench/bare_http_server.py`); Firebox answers Invoke of a no-op Python function with warm environments,
  one per connection (warmed before the timed run).
- The relay floor (`bench/relay_floor.py`) is Firebox's topology with nothing in it: a front, a relay and
  one plain sandbox process per connection, passing each body through as Firebox's server, worker and
  runtime do. What separates it from the bare server is the price of those hops; from Firebox, the
  platform's own work. The direct floor leaves out the relay too: the HTTP server hands each body straight
  to a sandbox process, the least any design that runs functions outside the server's process can do.
- Maximum rate: `wrk` (Debian package wrk), `--connections` connections on 2 threads, for `--seconds`.
- Latency at half of Firebox's maximum rate: `hey` (Debian package hey) holding that rate (`-q` per
  connection), against Firebox and against the bare server at the same rate.

Goal (issue 4): Firebox at least 50% of the bare server's rate.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.bare_http_server import running_bare_server
from bench.firebox_client import FULL_VCPU_MB, create_functions, running_server, signed_headers
from bench.relay_floor import running_floor
from bench.stats import Column, Goal, goal_results, print_table
from firebox.config import Settings
from tests.server_process import FireboxServer

NOOP = "def handler(event, context):\n    return None\n"
_TOOLS = {"wrk": "wrk", "hey": "hey"}  # command -> Debian package
_RELAY_FLOOR = "relay floor (3 processes, no platform), wrk (maximum)"
_DIRECT_FLOOR = "direct floor (2 processes, no platform), wrk (maximum)"
_COLUMNS = (
    Column("rps", "requests/s", 0),
    Column("p50_ms", "p50 ms"),
    Column("p99_ms", "p99 ms"),
    Column("errors", "non-2xx", 0),
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
    parser.add_argument("--sandbox", choices=("namespaces", "process"), default="namespaces")
    parser.add_argument("--workers", type=int, default=Settings().workers, help="firebox serve --workers")
    options = parser.parse_args()
    if tools_missing():
        return 2
    with tempfile.TemporaryDirectory(prefix="firebox-throughput-") as scratch:
        bare_headers = invoke_headers(None, "bare")
        bare_script = wrk_script(Path(scratch) / "bare.lua", bare_headers)
        floors: dict[str, WrkRun] = {}
        for direct in (False, True):
            with running_floor(options.connections, direct) as port:
                floor_url = f"http://127.0.0.1:{port}/2015-03-31/functions/bare/invocations"
                wrk_rate(floor_url, options.connections, 3, bare_script)  # warmed as Firebox is
                run = wrk_rate(floor_url, options.connections, options.seconds, bare_script)
                floors[_DIRECT_FLOOR if direct else _RELAY_FLOOR] = run
        with running_bare_server() as port:
            bare_url = f"http://127.0.0.1:{port}/2015-03-31/functions/bare/invocations"
            bare = wrk_rate(bare_url, options.connections, options.seconds, bare_script)
            args = ("--sandbox", options.sandbox, "--keep-alive", "3600", "--workers", str(options.workers))
            with running_server(Path(scratch) / "data", *args) as server:
                create_functions(server, ["noop"], NOOP, FULL_VCPU_MB)
                url = f"{server.endpoint}/2015-03-31/functions/noop/invocations"
                headers = invoke_headers(server, "noop")  # signed: valid for the next 15 minutes
                script = wrk_script(Path(scratch) / "firebox.lua", headers)
                wrk_rate(url, options.connections, 3, script)  # warm: one environment per connection
                firebox = wrk_rate(url, options.connections, options.seconds, script)
                half = firebox.rate / 2
                firebox_latency = hey_latency(url, options.connections, half, options.seconds, headers)
                environments = server.sandbox_processes()
            bare_latency = hey_latency(bare_url, options.connections, half, options.seconds, bare_headers)
    rows = {
        "bare aiohttp server, wrk (maximum)": {"rps": bare.rate, "errors": float(bare.errors)},
        **{name: {"rps": run.rate, "errors": float(run.errors)} for name, run in floors.items()},
        "Firebox warm Invoke, wrk (maximum)": {
            "rps": firebox.rate,
            "errors": float(firebox.errors),
            "bare_over_firebox": bare.rate / firebox.rate if firebox.rate else float("inf"),
        },
        "Firebox warm Invoke, hey at half that rate": firebox_latency,
        "bare aiohttp server, hey at the same rate": bare_latency,
    }
    goal = {"Firebox warm Invoke, wrk (maximum)": [Goal("bare_over_firebox", 2.0, ">= 50% of the bare rate")]}
    print_table(
        f"Warm Invoke throughput, no-op Python handler, {options.sandbox} backend, --workers {options.workers}",
        rows,
        _COLUMNS,
        ratio_to="bare aiohttp server, wrk (maximum)",
        ratio_key="rps",
        ratio_header="rate / bare",
        goals=goal,
        notes=[
            f"{options.connections} connections; wrk {options.seconds} s per run on 2 threads; hey holds its rate"
            f" with -q per connection. Firebox used {environments} environment processes ({FULL_VCPU_MB} MB each).",
            "Both load generators run on the same 2-core machine as the servers.",
        ],
    )
    print(goal_results(rows, goal))
    return 0


if __name__ == "__main__":
    sys.exit(main())
