"""Density: host memory of idle warm environments of a no-op Python function, in the namespace backend.

One function per environment, each invoked once (its first invoke starts an environment, which then stays
warm for the keep-alive of an hour). An environment's processes are the server's descendants forked from a
zygote: each child of a zygote and everything under it is one environment. Per environment we report the
sum of their USS and PSS (bench/process_memory.py) divided by the number of environments; the zygotes
themselves, which every environment shares, are a row of their own. Baselines, measured first so they share
no pages with Firebox's processes: idle fresh `python3` processes and idle detached runc containers that
have called the same handler.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import baselines
from bench.firebox_client import InvokeClient, create_functions, running_server
from bench.process_memory import MIB, Memory, available_memory, children_by_parent, cmdline, subtree
from bench.process_memory import total_memory as memory_total
from bench.stats import Column, Goal, goal_results, print_table

ZYGOTE_MARK = "zygote.py"
WORKER_MARK = "firebox.worker_process"
_BASELINE_INSTANCES = 20  # idle baseline processes (of each kind) whose memory is averaged
_COLUMNS = (
    Column("n", "n", 0),
    Column("uss_mib", "USS MiB", 2),
    Column("pss_mib", "PSS MiB", 2),
    Column("rss_mib", "RSS MiB", 2),
    Column("processes", "processes", 1),
)
FIREBOX_ROW = "Firebox environment (namespaces)"


@dataclass(frozen=True, slots=True)
class Environments:
    """What runs under a server, from /proc."""

    workers: list[int]  # worker processes (the server's children)
    zygotes: list[int]  # one per interpreter in use, in each worker (or the server itself, with --workers 0)
    spares: list[int]  # forked by zygotes ahead of cold starts; root until they become an environment
    by_environment: dict[int, list[int]]  # each zygote child's pid -> it and its descendants
    others: list[int]  # descendants of the server neither zygotes nor forked from one


def _owner(pid: int) -> int:
    try:
        return Path(f"/proc/{pid}").stat().st_uid
    except OSError:
        return -1


def find_environments(server_pid: int) -> Environments:
    children = children_by_parent()
    workers = [pid for pid in children.get(server_pid, []) if WORKER_MARK in cmdline(pid)]
    zygotes = [
        pid for parent in (server_pid, *workers) for pid in children.get(parent, []) if ZYGOTE_MARK in cmdline(pid)
    ]
    # A zygote's spares (forked ahead of cold starts, still root until they become an environment) are not
    # environments: they are counted with the zygote.
    spares = [child for zygote in zygotes for child in children.get(zygote, []) if _owner(child) == 0]
    by_environment = {
        child: subtree(child, children)
        for zygote in zygotes
        for child in children.get(zygote, [])
        if child not in spares
    }
    known = set(workers).union(zygotes, spares, *by_environment.values())
    others = [pid for pid in subtree(server_pid, children)[1:] if pid not in known]
    return Environments(workers, zygotes, spares, by_environment, others)


def _row(memory: Memory, count: int, processes: float) -> dict[str, float]:
    return {
        "n": count,
        "uss_mib": memory.uss / count / MIB,
        "pss_mib": memory.pss / count / MIB,
        "rss_mib": memory.rss / count / MIB,
        "processes": processes,
    }


def _baseline_rows(instances: int, task_root: Path) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for site, flag in ((True, ""), (False, " -S")):
        with baselines.idle_interpreters(instances, task_root, site=site) as pids:
            rows[f"fresh python3{flag} process, idle"] = _row(memory_total(pids), len(pids), 1)
        with baselines.idle_runc_containers(instances, task_root, site=site) as pids:
            rows[f"runc container (detached), python3{flag}, idle"] = _row(memory_total(pids), len(pids), 1)
    return rows


def measure_density(count: int, scratch: Path) -> dict[str, Any]:
    rows = _baseline_rows(min(count, _BASELINE_INSTANCES), scratch / "task")
    args = ("--sandbox", "namespaces", "--keep-alive", "3600")
    with running_server(scratch / "data", *args) as server:
        assert server.process is not None
        names = [f"idle-{i}" for i in range(count)]
        create_functions(server, names, baselines.HANDLER)
        server_pids = [server.process.pid, *find_environments(server.process.pid).workers]
        server_before, available_before = memory_total(server_pids), available_memory()
        started = time.monotonic()
        with InvokeClient(server) as client:
            for name in names:
                client.invoke(name)
        elapsed_s = time.monotonic() - started
        found = find_environments(server.process.pid)
        server_after, available_after = memory_total(server_pids), available_memory()
        # Read while every environment runs: the zygotes' children, then what is under them (the sandbox).
        children = memory_total(found.by_environment)
        below = memory_total(pid for pids in found.by_environment.values() for pid in pids[1:])
        others = memory_total(found.others)
        zygotes = memory_total([*found.zygotes, *found.spares])
    if len(found.by_environment) != count:
        raise RuntimeError(
            f"{count} functions were invoked once each, but {len(found.by_environment)} environments ran"
        )
    sizes = Counter(len(pids) for pids in found.by_environment.values())
    processes = sum(sizes.elements())
    firebox = {FIREBOX_ROW: _row(children + below + others, count, (processes + len(found.others)) / count)}
    if processes > count:  # more than one process per environment: show where the memory is
        firebox["  of which the zygote's children"] = _row(children, count, 1)
        firebox["  of which their descendants"] = _row(below, count, (processes - count) / count)
    firebox["zygote and its spares, once per interpreter (shared)"] = _row(zygotes, max(1, len(found.zygotes)), 1)
    rows = {**firebox, **rows}
    goals = {FIREBOX_ROW: [Goal("uss_mib", 4.0, "USS <= 4 MiB")]}
    server_growth = (server_after.uss - server_before.uss) / count / MIB
    available_drop = (available_before - available_after) / count / MIB
    notes = [
        f"{count} environments started in {elapsed_s:.1f} s; processes per environment: "
        + ", ".join(f"{size} ({n} environments)" for size, n in sorted(sizes.items())),
        f"Not in the rows: the server's and its workers' USS grew by {server_growth:.3f} MiB per environment;"
        f" the host's MemAvailable fell by {available_drop:.2f} MiB per environment (kernel memory too, and"
        " anything else running on the host meanwhile).",
        "USS is per environment (or per baseline process); ratio: each row's USS over Firebox's.",
    ]
    if found.others:
        notes.append(f"{len(found.others)} other descendants of the server are counted in Firebox's row.")
    print_table(
        f"(c) Density: {count} idle warm environments of a no-op Python function, memory per environment",
        rows,
        _COLUMNS,
        ratio_to=FIREBOX_ROW,
        ratio_key="uss_mib",
        ratio_header="USS / Firebox",
        goals=goals,
        notes=notes,
    )
    return {
        "rows": rows,
        "goals": goal_results(rows, goals),
        "processes_per_environment": dict(sizes),
        "server_uss_growth_mib_per_environment": server_growth,
        "memavailable_drop_mib_per_environment": available_drop,
        "start_seconds": elapsed_s,
    }
