"""(e) What freezing idle environments costs: the time to thaw a frozen process and have it answer.

A child process answers one byte with one byte over pipes. The baseline is that round trip with the child
running; the measurement is the same round trip right after thawing it from frozen (the cgroup freezer, as
the worker freezes idle environments), the thaw's write included. The difference is what each warm
invocation of a frozen environment pays.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from bench.stats import print_table, summary
from firebox.sandbox import CgroupTree

_ECHO = "import os\nwhile os.read(0, 1):\n    os.write(1, b'.')\n"
_NOTES = [
    "A child answers one byte over pipes; 'frozen' rounds freeze it first (untimed) and time the thaw and the answer.",
    "Every warm invocation of a Firebox environment pays this once: environments freeze when idle.",
]


def _round_trip_ms(child: subprocess.Popen[bytes]) -> float:
    assert child.stdin is not None and child.stdout is not None
    started = time.perf_counter()
    os.write(child.stdin.fileno(), b".")
    os.read(child.stdout.fileno(), 1)
    return (time.perf_counter() - started) * 1000


def measure_thaw(runs: int) -> dict[str, object]:
    tree = CgroupTree.discover()
    if tree is None:
        print("(e) Thaw: skipped, no writable control groups here\n")
        return {"status": "skipped"}
    group = tree.create(f"thaw-bench-{uuid.uuid4().hex[:8]}", 256 * 1024 * 1024, 64, 1.0)
    child = subprocess.Popen([sys.executable, "-S", "-c", _ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for procs in group.procs_files():
            procs.write_text(str(child.pid))
        for _ in range(50):
            _round_trip_ms(child)
        running = [_round_trip_ms(child) for _ in range(runs)]
        thawed = []
        for _ in range(runs):
            if not group.freeze(wait=True):
                print("(e) Thaw: skipped, this host has no cgroup freezer\n")
                return {"status": "skipped"}
            started = time.perf_counter()
            group.thaw()
            thawed.append((time.perf_counter() - started) * 1000 + _round_trip_ms(child))
    finally:
        group.thaw()
        child.kill()
        child.wait()
        assert child.stdin is not None and child.stdout is not None
        child.stdin.close()
        child.stdout.close()
        group.kill_all()
        while not group.remove():
            time.sleep(0.01)
        tree.remove()
    rows = {"round trip, running process": summary(running), "thaw, then round trip": summary(thawed)}
    print_table(
        "(e) Thaw of a frozen process (cgroup freezer)",
        rows,
        ratio_to="round trip, running process",
        ratio_header="p50 / running",
        notes=_NOTES,
    )
    extra = rows["thaw, then round trip"]["p50_ms"] - rows["round trip, running process"]["p50_ms"]
    print(f"thaw cost at p50: {extra:.3f} ms\n")
    return {"rows": rows, "thaw_p50_ms": extra}
