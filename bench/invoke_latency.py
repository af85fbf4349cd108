"""Warm and cold synchronous invoke latency of a no-op Python handler, beside baselines from the same run.

    .venv/bin/python -m bench.invoke_latency [--warm 3000] [--cold 100] [--json results.json]

Baselines: a direct in-process call of the handler, a bare loopback HTTP round trip to an aiohttp server
(the same stack as Firebox's API) with the same keep-alive client, and for cold starts a fresh `python3`
process importing and calling the same handler. Firebox runs with the process sandbox backend.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
import timeit
from collections.abc import Mapping
from pathlib import Path

from bench.bare_http_server import running_bare_server
from bench.baselines import fresh_interpreter_ms
from bench.stats import print_table, summary
from bench.throughput import invoke_headers
from firebox.config import Settings
from tests.server_process import FireboxServer
from tests.zips import make_zip

HANDLER = "def handler(event, context):\n    return None\n"
_PLAIN = {"Content-Type": "application/json"}


def _post(connection: http.client.HTTPConnection, path: str, body: bytes, headers: Mapping[str, str] = _PLAIN) -> float:
    started = time.perf_counter()
    connection.request("POST", path, body, dict(headers))
    reply = connection.getresponse()
    reply.read()
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status != 200 or reply.getheader("X-Amz-Function-Error"):
        raise RuntimeError(f"{path} answered {reply.status} {reply.getheader('X-Amz-Function-Error')}")
    return elapsed


def _series(
    connection: http.client.HTTPConnection,
    path: str,
    count: int,
    headers: Mapping[str, str] = _PLAIN,
    warmup: int = 200,
) -> list[float]:
    for _ in range(warmup):
        _post(connection, path, b"{}", headers)
    return [_post(connection, path, b"{}", headers) for _ in range(count)]


def direct_call(count: int) -> list[float]:
    namespace: dict[str, object] = {}
    exec(HANDLER, namespace)
    handler = namespace["handler"]
    timer = timeit.Timer(lambda: handler({}, None))  # type: ignore[operator]
    return [timer.timeit(1) * 1000 for _ in range(count)]


def bare_round_trip(count: int) -> list[float]:
    with running_bare_server() as port:
        return _series(http.client.HTTPConnection("127.0.0.1", port), "/echo", count)


# Lambda's largest size: its CPU share (5.8 vCPU) is above this host's cores, so no CPU cap applies and the
# figures measure Firebox, not a function's CPU share. --memory 1769 measures one vCPU, capped by a CFS quota.
MEMORY_MB = 10240


def firebox_latencies(
    warm: int, cold: int, data_dir: Path, sandbox: str, memory_mb: int, workers: int = Settings().workers
) -> tuple[list[float], list[float]]:
    args = ("--keep-alive", "600", "--log-level", "warning", "--sandbox", sandbox, "--workers", str(workers))
    server = FireboxServer(data_dir, *args).start()
    try:
        client = server.client()
        code = make_zip({"app.py": HANDLER})
        names = [f"bench-{i}" for i in range(cold + 1)]
        for name in names:
            client.create_function(
                FunctionName=name,
                Runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
                Role="arn:aws:iam::000000000000:role/bench",
                Handler="app.handler",
                Code={"ZipFile": code},
                MemorySize=memory_mb,
            )
        connection = http.client.HTTPConnection("127.0.0.1", server.port)
        cold_samples = [
            _post(connection, f"/2015-03-31/functions/{n}/invocations", b"{}", invoke_headers(server, n))
            for n in names[1:]
        ]
        warm_path = f"/2015-03-31/functions/{names[0]}/invocations"
        warm_samples = _series(connection, warm_path, warm, invoke_headers(server, names[0]))
        return warm_samples, cold_samples
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=3000, help="warm invocations (and baseline round trips)")
    parser.add_argument("--cold", type=int, default=100, help="cold starts (one per fresh function)")
    parser.add_argument("--sandbox", default="namespaces", choices=("namespaces", "process"), help="sandbox backend")
    parser.add_argument("--memory", type=int, default=MEMORY_MB, help="MemorySize of the functions, in MB")
    parser.add_argument("--workers", type=int, default=Settings().workers, help="firebox serve --workers")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows = {
            "direct call of the handler": summary(direct_call(args.warm)),
            "bare loopback HTTP round trip (aiohttp)": summary(bare_round_trip(args.warm)),
        }
        warm, cold = firebox_latencies(
            args.warm, args.cold, Path(scratch) / "data", args.sandbox, args.memory, args.workers
        )
        rows[f"Firebox warm invoke ({args.sandbox} backend)"] = summary(warm)
        rows["fresh python3 process, same handler"] = summary(
            fresh_interpreter_ms(min(args.cold, 50), Path(scratch) / "task")
        )
        rows[f"Firebox cold start ({args.sandbox} backend)"] = summary(cold)
    print_table("Synchronous invoke latency, no-op Python handler", rows)
    warm_p50 = rows[f"Firebox warm invoke ({args.sandbox} backend)"]["p50_ms"]
    overhead = warm_p50 - rows["bare loopback HTTP round trip (aiohttp)"]["p50_ms"]
    print(f"warm invoke p50 above the bare round trip: {overhead:.3f} ms (goal: <= 1 ms)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
