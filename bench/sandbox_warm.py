"""Warm invoke latency of the namespace backend against the process backend, both servers in one run.

Each server gets one no-op Python function, invoked once (its cold start, untimed) and warmed up; then the
samples are taken in blocks that alternate between the two servers and a bare loopback HTTP server (aiohttp
on uvloop, Firebox's own stack, echoing each request: bench/bare_http_server.py), all over keep-alive
`http.client` connections, so load from anything else on the host falls on all three alike. Where the worker
freezes idle environments, each warm invoke includes a thaw.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.baselines import HANDLER
from bench.firebox_client import FULL_VCPU_MB, InvokeClient, create_functions, running_server
from bench.stats import Goal, goal_results, print_table, summary
from tests.server_process import free_port

NAMESPACES = "Firebox warm invoke, namespace backend"
PROCESS = "Firebox warm invoke, process backend"
BARE = "bare loopback HTTP round trip (aiohttp)"
MAX_ABOVE_PROCESS = 1.10  # the goal: the namespace backend's p50 at most 10% above the process backend's
_FUNCTION = "warm"
_WARMUP = 200
_BLOCK = 100
_BARE_START_DEADLINE_S = 10.0


@contextmanager
def _bare_server() -> Iterator[int]:
    """bench/bare_http_server.py on a free port, once it accepts connections; gives the port."""
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "bench.bare_http_server", str(port)]) as server:
        try:
            deadline = time.monotonic() + _BARE_START_DEADLINE_S
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except ConnectionRefusedError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError(f"the bare HTTP server did not listen on {port}") from None
                    time.sleep(0.05)
            yield port
        finally:
            server.terminate()


def measure_warm_overhead(count: int, scratch: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        clients: dict[str, InvokeClient] = {}
        for row, backend in ((NAMESPACES, "namespaces"), (PROCESS, "process")):
            server = stack.enter_context(running_server(scratch / f"{backend}-data", "--sandbox", backend))
            create_functions(server, [_FUNCTION], HANDLER, FULL_VCPU_MB)
            clients[row] = stack.enter_context(InvokeClient(server))
        clients[BARE] = stack.enter_context(InvokeClient(stack.enter_context(_bare_server())))
        for client in clients.values():
            for _ in range(min(_WARMUP, count)):
                client.invoke(_FUNCTION)
        samples: dict[str, list[float]] = {row: [] for row in clients}
        while len(samples[BARE]) < count:
            block = min(_BLOCK, count - len(samples[BARE]))
            for row, client in clients.items():
                samples[row] += [client.invoke(_FUNCTION).latency_ms for _ in range(block)]
    rows = {row: summary(samples[row]) for row in (NAMESPACES, PROCESS, BARE)}
    limit = MAX_ABOVE_PROCESS * rows[PROCESS]["p50_ms"]
    goals = {NAMESPACES: [Goal("p50_ms", limit, f"p50 <= {MAX_ABOVE_PROCESS:.2f}x process ({limit:.3f} ms)")]}
    above = {row: rows[row]["p50_ms"] - rows[BARE]["p50_ms"] for row in (NAMESPACES, PROCESS)}
    notes = [
        f"p50 above the bare round trip: namespace backend {above[NAMESPACES]:.3f} ms, process backend"
        f" {above[PROCESS]:.3f} ms ({above[NAMESPACES] / above[PROCESS]:.2f}x).",
        f"The functions have {FULL_VCPU_MB} MB: a full vCPU on Lambda's scale. Ratio: each row's p50 over the"
        " process backend's.",
    ]
    print_table(
        "(d) Warm invoke, no-op Python handler: namespace backend against process backend",
        rows,
        ratio_to=PROCESS,
        ratio_header="p50 / process",
        goals=goals,
        notes=notes,
    )
    return {"rows": rows, "goals": goal_results(rows, goals), "p50_above_bare_ms": above}
