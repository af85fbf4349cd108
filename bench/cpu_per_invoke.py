"""CPU time per warm Invoke, for each process on the path: the server, each worker process, the sandboxes;
and the same for the processes of the two floors that `bench.throughput` measures (`bench/relay_floor.py`).

    .venv/bin/python -m bench.cpu_per_invoke [--connections 16] [--seconds 5] [--sandbox namespaces|process]
                                             [--workers N] [--rate R] [--runs 3]

A warm no-op function is driven as `bench.throughput` does: by wrk as fast as it goes, or with `--rate` by
hey at that many requests per second. Each process's user and system time (utime + stime in
/proc/<pid>/stat, every thread included) is read before and after, and divided by the invocations made.
Unlike a rate, this figure is what each invocation costs rather than how fast the machine could go, so it
says more while other work shares the machine; it still moves with that work (caches, and how many events
each wake-up finds), so each role's figure is the lowest of `--runs` runs on one server. A fixed rate
below the maximum is steadier still: every invocation then pays its own wake-ups.

Beside Firebox's figures, each floor's (its front, its relay, its sandboxes, driven the same way) say what
each process does over the least its role could cost on this stack.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from bench.firebox_client import FULL_VCPU_MB, create_functions, running_server
from bench.process_memory import children_by_parent, cmdline
from bench.relay_floor import running_floor
from bench.throughput import NOOP, Load, bare_load, firebox_load, hey_latency, tools_missing, wrk_rate
from firebox.config import Settings
from tests.server_process import FireboxServer

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system time `pid` has used so far (all its threads); 0.0 once it has ended."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name, in parentheses, may hold spaces and parentheses: parse after the last ")".
            fields = stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime and stime: fields 14 and 15 of stat(5)


def server_processes(server: FireboxServer) -> dict[str, list[int]]:
    """The server's processes by role: "server", "worker <pid>" for each worker process, "sandboxes"."""
    assert server.process is not None
    children = children_by_parent()
    roles: dict[str, list[int]] = {"server": [server.process.pid]}
    for pid in children.get(server.process.pid, ()):
        if "firebox.worker_process" in cmdline(pid):
            roles[f"worker {pid}"] = [pid]
    roles["sandboxes"] = server.sandbox_pids()
    return roles


@contextmanager
def cpu_used(roles: Mapping[str, list[int]]) -> Iterator[dict[str, float]]:
    """CPU seconds each role used inside the block; the dict yielded is filled in when the block ends."""
    before = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}
    used: dict[str, float] = {}
    yield used
    for role, pids in roles.items():
        used[role] = sum(cpu_seconds(pid) for pid in pids) - before[role]


def _figures(per_invoke: Mapping[str, float]) -> str:
    return ", ".join(f"{role} {figure:.1f}" for role, figure in per_invoke.items())


_FLOOR_ROLES = {"front": "front", "relay": "relay", "direct": "front and relay", "sandbox": "sandboxes"}


def floor_processes() -> dict[str, list[int]]:
    """The running floor's processes (children of this one) by role: "front", "relay", "sandboxes"."""
    roles: dict[str, list[int]] = {}
    for pid in children_by_parent().get(os.getpid(), ()):
        args = cmdline(pid).split()
        if "bench.relay_floor" in args:
            role = _FLOOR_ROLES[args[args.index("bench.relay_floor") + 1]]
            roles.setdefault(role, []).append(pid)
    return roles


def lowest_per_invoke(load: Load, roles: Mapping[str, list[int]], options: argparse.Namespace) -> dict[str, float]:
    """µs of CPU each role used per invocation, the lowest of `options.runs` runs (each printed)."""
    lowest: dict[str, float] = {}
    for _ in range(options.runs):
        with cpu_used(roles) as used:
            if options.rate is None:
                run = wrk_rate(load.url, options.connections, options.seconds, load.script)
                invocations, rate = run.requests, run.rate
            else:
                held = hey_latency(load.url, options.connections, options.rate, options.seconds, load.headers)
                invocations, rate = int(held["requests"]), held["rps"]
        per_invoke = {role: seconds / invocations * 1e6 for role, seconds in used.items()}
        per_invoke["all"] = sum(per_invoke.values())
        print(f"{invocations} warm invocations at {rate:.0f}/s: {_figures(per_invoke)}")
        lowest = {role: min(figure, lowest.get(role, figure)) for role, figure in per_invoke.items()}
    return lowest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--sandbox", choices=("namespaces", "process"), default="namespaces")
    parser.add_argument("--workers", type=int, default=Settings().workers, help="firebox serve --workers")
    parser.add_argument("--rate", type=float, help="requests per second held by hey (default: wrk's maximum)")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    if tools_missing():
        return 2
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="firebox-cpu-") as scratch:
        args = ("--sandbox", options.sandbox, "--keep-alive", "3600", "--workers", str(options.workers))
        with running_server(Path(scratch) / "data", *args) as server:
            create_functions(server, ["noop"], NOOP, FULL_VCPU_MB)
            load = firebox_load(server, Path(scratch))
            wrk_rate(load.url, options.connections, 3, load.script)  # warm: one environment per connection
            roles = server_processes(server)
            figures[f"Firebox, --workers {options.workers}"] = lowest_per_invoke(load, roles, options)
        for floor, direct in (("relay", False), ("direct", True)):
            with running_floor(options.connections, direct) as port:
                load = bare_load(port, Path(scratch))
                wrk_rate(load.url, options.connections, 3, load.script)
                figures[f"{floor} floor"] = lowest_per_invoke(load, floor_processes(), options)
    print(f"µs of CPU per warm invocation, lowest of {options.runs} runs:")
    for target, per_role in figures.items():
        print(f"{target}:")
        for role, figure in per_role.items():
            print(f"  {role:<18} {figure:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
