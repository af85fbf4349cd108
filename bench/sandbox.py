"""The namespace sandbox backend measured against its goals, each figure beside baselines from the same run.

    .venv/bin/python -m bench.sandbox [--runs 200] [--environments 1000] [--warm 3000] [--json FILE]
                                      [--only cold,boto3,density,warm,thaw,snapstart]

- cold: cold start of a no-op Python handler (goal p50 <= 15 ms, p99 <= 40 ms). One function per run, each
  invoked once over HTTP: the Invoke's end-to-end latency, and the server's Init Duration from the REPORT line.
- boto3: the same for a handler module importing boto3 at module level (goal p50 <= 25 ms).
- density: idle warm environments of a no-op function, one per function (goal USS <= 4 MiB each).
- warm: warm invoke latency of the namespace backend against the process backend (goal p50 at most 10% above).
- thaw: the cost of thawing a frozen process and having it answer, beside the same round trip unfrozen.
- snapstart: a cold start restored from a SnapStart snapshot of a function whose INIT sleeps 2 s (goal p50
  <= 10 ms), beside the same function's cold start without the snapshot and a fresh python3.

The cold-start baselines run the same handler module in a fresh `python3` process and in a new runc container
(see bench/baselines.py); their samples are interleaved with Firebox's, one of each per round, so load from
anything else on the host falls on all of them alike. runc needs root and the Debian package `runc`; the
namespace backend needs root and writable control groups.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import baselines
from bench.firebox_client import FULL_VCPU_MB, InvokeClient, Invoked, create_functions, running_server
from bench.sandbox_density import measure_density
from bench.sandbox_snapstart import measure_snapstart
from bench.sandbox_thaw import measure_thaw
from bench.sandbox_warm import measure_warm_overhead
from bench.stats import Goal, Row, goal_results, print_table, summary
from firebox.sandbox import unavailable_reason

BOTO3_HANDLER = "import boto3\n\n\ndef handler(event, context):\n    return None\n"
_BOTO3_BASELINE_RUNS = 50  # a fresh interpreter importing boto3 takes ~0.3 s: sample it at most this often


@dataclass(frozen=True, slots=True)
class Options:
    runs: int  # cold starts per measurement
    environments: int  # idle environments for density
    warm: int  # warm invocations per server
    scratch: Path  # data directories and task roots go here


Report = dict[str, Any]  # what a measurement adds to the JSON output
Measurement = Callable[[Options], Report]


def _report(rows: Mapping[str, Row], goals: Mapping[str, list[Goal]], **extra: Any) -> Report:
    return {"rows": dict(rows), "goals": goal_results(rows, goals), **extra}


def _cold_starts(
    options: Options, label: str, source: str, samplers: Mapping[str, baselines.Sampler], baseline_runs: int
) -> tuple[list[Invoked], dict[str, list[float]]]:
    """`options.runs` first invocations of as many functions, and `baseline_runs` samples of each baseline,
    spread evenly between them."""
    spread = {round(k * options.runs / baseline_runs) for k in range(baseline_runs)} if baseline_runs else set()
    invoked: list[Invoked] = []
    samples: dict[str, list[float]] = {name: [] for name in samplers}
    args = ("--sandbox", "namespaces", "--keep-alive", "3600")
    with running_server(options.scratch / f"{label}-data", *args) as server:
        names = [f"{label}-{i}" for i in range(options.runs + 1)]
        create_functions(server, names, source, FULL_VCPU_MB)
        with InvokeClient(server) as client:
            client.invoke(names[0])  # untimed: starts the zygote, which preloads the runtime and boto3
            for run, name in enumerate(names[1:]):
                invoked.append(client.invoke(name, tail=True))
                if run in spread:
                    for baseline, sample in samplers.items():
                        samples[baseline].append(sample())
    return invoked, samples


def _firebox_rows(invoked: list[Invoked]) -> dict[str, dict[str, float]]:
    init = [i.init_duration_ms for i in invoked]
    if any(duration is None for duration in init):
        raise RuntimeError("a first invocation's REPORT line had no Init Duration: it was not a cold start")
    return {
        "Firebox cold start: Invoke, end to end": summary([i.latency_ms for i in invoked]),
        "Firebox cold start: Init Duration (REPORT)": summary([d for d in init if d is not None]),
    }


_COLD_NOTES = (
    "Invoke, end to end: the client's HTTP request and response of each function's first invocation.",
    "Init Duration: the server's, from the sandbox's start reply until the runtime asks for its first event; it"
    " leaves out the control groups, the zygote's fork and the new namespaces, which come before it.",
    f"Functions have {FULL_VCPU_MB} MB (a full vCPU after INIT, on Lambda's scale); their code is unpacked once"
    " per digest, before the runs.",
    "Ratio: each row's p50 over Firebox's end-to-end p50 (above 1: slower than Firebox).",
)


def measure_cold(options: Options) -> Report:
    """(a) Cold start of a no-op Python handler, beside a fresh python3 (with and without site) and runc."""
    task_root = options.scratch / "cold-task"
    with ExitStack() as stack:
        samplers: dict[str, baselines.Sampler] = {
            "fresh python3 process": baselines.fresh_interpreter(task_root),
            "fresh python3 -S process": baselines.fresh_interpreter(task_root, site=False),
            "runc container, python3": stack.enter_context(baselines.runc_container(task_root)),
            "runc container, python3 -S": stack.enter_context(baselines.runc_container(task_root, site=False)),
        }
        invoked, samples = _cold_starts(options, "cold", baselines.HANDLER, samplers, options.runs)
    rows = {**_firebox_rows(invoked), **{name: summary(s) for name, s in samples.items()}}
    goals = [Goal("p50_ms", 15.0, "p50 <= 15 ms"), Goal("p99_ms", 40.0, "p99 <= 40 ms")]
    firebox = next(iter(rows))
    table_goals = {name: goals for name in list(rows)[:2]}
    print_table(
        "(a) Cold start, no-op Python handler, namespace backend",
        rows,
        ratio_to=firebox,
        ratio_header="p50 / Firebox",
        goals=table_goals,
        notes=_COLD_NOTES,
    )
    return _report(rows, table_goals)


def measure_boto3(options: Options) -> Report:
    """(b) Cold start of a handler module importing boto3, beside a fresh python3 and runc doing the same."""
    task_root = options.scratch / "boto3-task"
    missing = baselines.missing_module_hint("boto3")
    baseline_runs = 0 if missing else min(options.runs, _BOTO3_BASELINE_RUNS)
    notes = [
        "The zygote imported boto3 ahead of time: the handler's `import boto3` finds it loaded.",
        "The baselines use site (python3 -S has no site-packages on sys.path, so no boto3).",
        *_COLD_NOTES,
    ]
    if missing:
        notes.insert(0, f"No baselines: {missing}")
    with ExitStack() as stack:
        samplers: dict[str, baselines.Sampler] = {}
        if not missing:
            samplers["fresh python3 process, import boto3"] = baselines.fresh_interpreter(
                task_root, source=BOTO3_HANDLER
            )
            samplers["runc container, python3, import boto3"] = stack.enter_context(
                baselines.runc_container(task_root, source=BOTO3_HANDLER)
            )
        invoked, samples = _cold_starts(options, "boto3", BOTO3_HANDLER, samplers, baseline_runs)
    rows = {**_firebox_rows(invoked), **{name: summary(s) for name, s in samples.items()}}
    goal = [Goal("p50_ms", 25.0, "p50 <= 25 ms")]
    table_goals = {name: goal for name in list(rows)[:2]}
    print_table(
        "(b) Cold start, handler importing boto3, namespace backend",
        rows,
        ratio_to=next(iter(rows)),
        ratio_header="p50 / Firebox",
        goals=table_goals,
        notes=notes,
    )
    return _report(rows, table_goals, boto3_in_base_interpreter=not missing)


def _thaw(options: Options) -> Report:
    return measure_thaw(options.runs)


def _density(options: Options) -> Report:
    return measure_density(options.environments, options.scratch / "density")


def _snapstart(options: Options) -> Report:
    return measure_snapstart(options.runs, options.scratch)


def _warm(options: Options) -> Report:
    return measure_warm_overhead(options.warm, options.scratch / "warm")


MEASUREMENTS: dict[str, Measurement] = {
    "cold": measure_cold,
    "boto3": measure_boto3,
    "density": _density,
    "warm": _warm,
    "thaw": _thaw,
    "snapstart": _snapstart,
}


def _machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "load_average": os.getloadavg(),
    }


def _measurements(value: str) -> list[str]:
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in MEASUREMENTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(MEASUREMENTS)}, comma-separated")
    return chosen


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=_positive, default=200, help="cold starts per measurement")
    parser.add_argument("--environments", type=_positive, default=1000, help="idle environments for density")
    parser.add_argument("--warm", type=_positive, default=3000, help="warm invocations per backend")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", type=_measurements, default=list(MEASUREMENTS), help="measurements to run")
    args = parser.parse_args(argv)
    hint = unavailable_reason()
    hint = f"the namespace backend cannot run here: {hint}" if hint else baselines.ensure_runc_hint()
    if hint:
        parser.exit(1, f"{parser.prog}: {hint}\n")
    results: dict[str, Any] = {"machine": _machine()}
    with tempfile.TemporaryDirectory(prefix="firebox-sandbox-bench-") as scratch:
        options = Options(args.runs, args.environments, args.warm, Path(scratch))
        for name in args.only:
            results[name] = MEASUREMENTS[name](options)
    machine = results["machine"]
    after = os.getloadavg()
    print(
        f"machine: {machine['cores']} cores ({machine['usable_cores']} usable), Linux {machine['kernel']},"
        f" Python {machine['python']}; load average {machine['load_average'][0]:.2f} before,"
        f" {after[0]:.2f} after"
    )
    results["load_average_after"] = after
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
