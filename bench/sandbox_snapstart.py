"""(f) SnapStart: a cold start restored from a snapshot, for a function whose INIT sleeps 2 s.

One function, SnapStart on, one published version; the server's keep-alive is short, so each timed
invocation (after a pause longer than it) finds no warm environment and is a restore from the snapshot:
its REPORT line carries a Restore Duration and no Init Duration. Baselines from the same run: the same
function's $LATEST, which has no snapshot and runs INIT (2 s) on each cold start, and a fresh `python3`
process importing the same handler module. Restores fork the template on demand: no copy is made ahead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import baselines
from bench.firebox_client import FULL_VCPU_MB, ROLE, InvokeClient, Invoked, running_server
from bench.stats import Goal, goal_results, print_table, summary
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


def measure_snapstart(runs: int, scratch: Path) -> dict[str, object]:
    args = ("--sandbox", "namespaces", "--keep-alive", str(_KEEP_ALIVE_S))
    with running_server(scratch / "snapstart-data", *args) as server:
        client = server.client()
        try:
            client.create_function(
                FunctionName=_NAME,
                Runtime=RUNTIME,
                Role=ROLE,
                Handler="app.handler",
                Code={"ZipFile": make_zip({"app.py": SLOW_INIT_HANDLER})},
                MemorySize=FULL_VCPU_MB,
                SnapStart={"ApplyOn": "PublishedVersions"},
            )
        except client.exceptions.InvalidParameterValueException as exc:
            print(f"(f) SnapStart: skipped, {exc}\n")
            return {"status": "skipped", "reason": str(exc)}
        version = client.publish_version(FunctionName=_NAME)["Version"]
        _wait_active(client, version)
        restores: list[Invoked] = []
        latest: list[Invoked] = []
        with InvokeClient(server.port) as invoker:
            for run in range(runs):
                time.sleep(_PAUSE_S)
                restores.append(invoker.invoke(f"{_NAME}:{version}", tail=True))
                if run % max(runs // _SLOW_BASELINE_RUNS, 1) == 0 and len(latest) < _SLOW_BASELINE_RUNS:
                    time.sleep(_PAUSE_S)
                    latest.append(invoker.invoke(_NAME, tail=True))
    fresh = baselines.fresh_interpreter_ms(_SLOW_BASELINE_RUNS, scratch / "snapstart-task", source=SLOW_INIT_HANDLER)
    rows = {
        "Firebox SnapStart restore: Invoke, end to end": summary([i.latency_ms for i in restores]),
        "Firebox SnapStart restore: Restore Duration (REPORT)": summary([_restore_ms(i) for i in restores]),
        "Firebox cold start of $LATEST (runs INIT)": summary([i.latency_ms for i in latest]),
        "fresh python3 process, same handler": summary(fresh),
    }
    goal = [Goal("p50_ms", 10.0, "p50 <= 10 ms")]
    goals = {name: goal for name in list(rows)[:2]}
    print_table(
        "(f) SnapStart restore, INIT sleeping 2 s, namespace backend",
        rows,
        ratio_to=next(iter(rows)),
        ratio_header="p50 / restore",
        goals=goals,
        notes=[
            f"Each restore follows a {_PAUSE_S} s pause (keep-alive {_KEEP_ALIVE_S} s): no warm environment is left.",
            "Restore Duration: the server's, from asking the template for a copy until the copy's runtime asks for"
            " its first event (fork, namespaces, /proc and /tmp, control groups, after-restore hooks).",
            f"Functions have {FULL_VCPU_MB} MB; the template forks each copy on demand.",
        ],
    )
    return {"rows": rows, "goals": goal_results(rows, goals)}
