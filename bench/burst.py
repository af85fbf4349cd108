"""A burst of cold starts: N invocations at once of a handler sleeping 1 s, none of them warm.

    .venv/bin/python -m bench.burst [--invocations 200] [--workers N] [--rounds 3]

Each round starts a fresh server, creates the function, and sends all invocations at once from one aiohttp
client (a connection each), timing each request to its response. Goal (issue 4): all succeed, p99 <= 3 s
for 200. The baseline is the handler's own 1 s: what is above it is queueing for cold starts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.firebox_client import running_server
from bench.stats import Goal, goal_results, print_table, summary
from bench.throughput import invoke_headers
from firebox.config import Settings
from tests.server_process import FireboxServer

SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(1)\n    return None\n"


async def burst(server: FireboxServer, count: int) -> tuple[list[float], int]:
    """Seconds each invocation took, and how many did not answer 200 without a function error."""
    url = f"{server.endpoint}/2015-03-31/functions/sleeper/invocations"
    headers = invoke_headers(server, "sleeper")  # one signature serves every request of the burst
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> tuple[float, bool]:
            started = time.perf_counter()
            async with session.post(url, data=b"{}", headers=headers) as response:
                await response.read()
                ok = response.status == 200 and "X-Amz-Function-Error" not in response.headers
            return time.perf_counter() - started, ok

        results = await asyncio.gather(*(one() for _ in range(count)))
    return [seconds for seconds, _ in results], sum(1 for _, ok in results if not ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invocations", type=int, default=200)
    parser.add_argument("--workers", type=int, default=Settings().workers, help="firebox serve --workers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preload", default=None, help="firebox serve --preload (default: the server's)")
    options = parser.parse_args()
    latencies_ms: list[float] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="firebox-burst-") as scratch:
        for round_ in range(options.rounds):
            args = ["--workers", str(options.workers), "--keep-alive", "60"]
            if options.preload is not None:
                args += ["--preload", options.preload]
            with running_server(Path(scratch) / f"data-{round_}", *args) as server:
                server.create_function("sleeper", SLEEPER)
                seconds, failed = asyncio.run(burst(server, options.invocations))
            latencies_ms += [s * 1000 for s in seconds]
            failures += failed
    rows = {
        f"{options.invocations} cold invocations at once, end to end": summary(latencies_ms),
        "the handler's own sleep": summary([1000.0]),
    }
    goal = {next(iter(rows)): [Goal("p99_ms", 3000.0, "p99 <= 3 s")]}
    print_table(
        f"Burst of cold starts, --workers {options.workers}",
        rows,
        goals=goal,
        notes=[
            f"{options.rounds} rounds, a fresh server each; failures (not 200, or a function error): {failures}.",
            "Each invocation is a connection of its own; 128 MB functions; namespace backend.",
        ],
    )
    print(goal_results(rows, goal))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
