"""Cold-start latency of a no-op Python handler: a fresh interpreter and a runc container, side by side.

    .venv/bin/python -m bench.cold_start [--runs 100] [--json results.json]

Every row starts the same command, `python3 [-S] -c 'import app; app.handler({}, None)'` with the base
interpreter, once per run and timed end to end: as a plain child process, and as the process of a new runc
container (see bench/baselines.py for the bundle). These are the baselines Firebox's sandbox cold starts are
measured against. runc needs root and the Debian package `runc`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench.baselines import ensure_runc_hint, fresh_interpreter_ms, runc_container_ms
from bench.stats import print_table, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100, help="cold starts per measurement")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    hint = ensure_runc_hint()
    if hint:
        parser.exit(1, f"{parser.prog}: {hint}\n")
    with tempfile.TemporaryDirectory(prefix="firebox-cold-") as scratch:
        task_root = Path(scratch)
        rows = {
            "fresh python3 process": summary(fresh_interpreter_ms(args.runs, task_root)),
            "fresh python3 -S process": summary(fresh_interpreter_ms(args.runs, task_root, site=False)),
            "runc container, python3": summary(runc_container_ms(args.runs, task_root)),
            "runc container, python3 -S": summary(runc_container_ms(args.runs, task_root, site=False)),
        }
    print_table("Cold start of a no-op Python handler, end to end", rows)
    for flags in ("", " -S"):
        container = rows[f"runc container, python3{flags}"]["p50_ms"]
        process = rows[f"fresh python3{flags} process"]["p50_ms"]
        print(f"runc adds {container - process:.1f} ms at p50 to python3{flags} ({container / process:.2f}x)")
    print(f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), Python {sys.version.split()[0]}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
