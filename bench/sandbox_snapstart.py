"""(f) SnapStart: a cold start restored from a snapshot, for a function whose INIT sleeps 2 s.

One function, SnapStart on, one published version; the server's keep-alive is short, so each timed
invocation (after a pause longer than it) finds no warm environment and is a restore from the snapshot:
its REPORT line carries a Restore Duration and no Init Duration. Baselines from the same run: the same
function's $LATEST, which has no snapshot and runs INIT (2 s) on each cold start, and a fresh `python3`
process importing the same handler module. The restores are measured twice: with a copy of the snapshot
kept ready (the default) and with none, so each restore forks its copy when it is needed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import baselines
from bench.firebox_client import FULL_VCPU_MB, ROLE, InvokeClient, Invoked, running_server
from bench.stats import Goal, goal_results, print_table, summary
from firebox.worker import Runtimes
from tests.zips import make_zip

SLOW_INIT_HANDLER = "import time\n\ntime.sleep(2)\n\n\ndef handler(event, context):\n    return None\n"
RUNTIME = "python3.12"  # SnapStart for Python starts at 3.12, as on AWS
_NAME = "snapstart-bench"
_KEEP_ALIVE_S = 0.2
_PAUSE_S = 0.35  # longer than the keep-alive plus a reaper period, so the last copy is gone
_SLOW_BASELINE_RUNS = 5  # each takes over 2 s
_READY_DEADLINE_S = 60.0


def _restore_ms(invoked: Invoked) -> float:
    value = invoked.report.get("Restore Duration")
    if value is None or "Init Duration" in invoked.report:
        raise RuntimeError(f"an invocation was not a restore from the snapshot: {invoked.report}")
    return float(value.removesuffix(" ms"))


def _wait_active(client: Any, version: str) -> None:
    deadline = time.monotonic() + _READY_DEADLINE_S
    while (state := client.get_function_configuration(FunctionName=_NAME, Qualifier=version)["State"]) == "Pending":
        if time.monotonic() > deadline:
            raise RuntimeError("the snapshot was not made in time")
        time.sleep(0.1)
    if state != "Active":
        raise RuntimeError(f"the SnapStart version is {state}")


def _restores(scratch: Path, runs: int, ready_copies: int, latest_runs: int) -> tuple[list[Invoked], list[Invoked]]:
    """`runs` restores of the SnapStart version, and `latest_runs` cold starts of $LATEST spread among them."""
    args = (
        "--sandbox",
        "namespaces",
        "--keep-alive",
        str(_KEEP_ALIVE_S),
        "--snapstart-ready-copies",
        str(ready_copies),
    )
    with running_server(scratch / f"snapstart-data-{ready_copies}", *args) as server:
        client = server.client()
        client.create_function(
            FunctionName=_NAME,
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": SLOW_INIT_HANDLER})},
            MemorySize=FULL_VCPU_MB,
            SnapStart={"ApplyOn": "PublishedVersions"},
        )
        version = client.publish_version(FunctionName=_NAME)["Version"]
        _wait_active(client, version)
        restores: list[Invoked] = []
        latest: list[Invoked] = []
        with InvokeClient(server) as invoker:
            for run in range(runs):
                time.sleep(_PAUSE_S)
                restores.append(invoker.invoke(f"{_NAME}:{version}", tail=True))
                if run % max(runs // max(latest_runs, 1), 1) == 0 and len(latest) < latest_runs:
                    time.sleep(_PAUSE_S)
                    latest.append(invoker.invoke(_NAME, tail=True))
    return restores, latest


def measure_snapstart(runs: int, scratch: Path) -> dict[str, object]:
    if not asyncio.run(Runtimes.discover()).supports(RUNTIME):
        print(f"(f) SnapStart: skipped, {RUNTIME} is not installed\n")
        return {"status": "skipped", "reason": f"{RUNTIME} is not installed"}
    ready, latest = _restores(scratch, runs, ready_copies=1, latest_runs=_SLOW_BASELINE_RUNS)
    on_demand, _ = _restores(scratch, runs, ready_copies=0, latest_runs=0)
    fresh = baselines.fresh_interpreter_ms(_SLOW_BASELINE_RUNS, scratch / "snapstart-task", source=SLOW_INIT_HANDLER)
    rows = {
        "Firebox SnapStart restore: Invoke, end to end": summary([i.latency_ms for i in ready]),
        "Firebox SnapStart restore: Restore Duration (REPORT)": summary([_restore_ms(i) for i in ready]),
        "  same, no copy ready (forked on demand): Invoke": summary([i.latency_ms for i in on_demand]),
        "  same, no copy ready: Restore Duration (REPORT)": summary([_restore_ms(i) for i in on_demand]),
        "Firebox cold start of $LATEST (runs INIT)": summary([i.latency_ms for i in latest]),
        "fresh python3 process, same handler": summary(fresh),
    }
    goal = [Goal("p50_ms", 10.0, "p50 <= 10 ms")]
    goals = {name: goal for name in list(rows)[:2]}  # the default: a copy kept ready
    print_table(
        "(f) SnapStart restore, INIT sleeping 2 s, namespace backend",
        rows,
        ratio_to=next(iter(rows)),
        ratio_header="p50 / restore",
        goals=goals,
        notes=[
            f"Each restore follows a {_PAUSE_S} s pause (keep-alive {_KEEP_ALIVE_S} s): no warm environment is left.",
            "Restore Duration: the server's, from asking for a copy of the snapshot until the copy's runtime asks for"
            " its first event (after reseeding and the after-restore hooks).",
            "By default one copy per snapshot is kept ready (forked, in its namespaces and control groups, waiting"
            " to go on; --snapstart-ready-copies); the 'no copy ready' rows are a server with 0, where each restore"
            " forks its copy then.",
            f"Functions have {FULL_VCPU_MB} MB.",
        ],
    )
    return {"rows": rows, "goals": goal_results(rows, goals)}
