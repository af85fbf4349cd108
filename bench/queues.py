"""Queue rates: SendMessage, ReceiveMessage and DeleteMessage per second through the SQS JSON protocol,
beside the raw rate of durable appends to SQLite set up as the queue storage is, measured in the same run.

    .venv/bin/python -m bench.queues [--connections 8] [--messages 4000] [--body-bytes 256]

- Firebox: one server (`--workers 0 --sandbox process`: no function runs), one standard queue. Each of
  `--connections` threads keeps one HTTP connection and sends its share of `--messages` messages, one per
  request; then receives them (one per request, as most consumers' SDK defaults do) and deletes each.
  Every 200 answer is durable: each send, receive and delete is committed before it is answered.
- Baseline: one INSERT and COMMIT per message, one after another, on a fresh SQLite file in WAL mode with
  synchronous=NORMAL, the same durability as the queue storage.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.firebox_client import running_server, signed_headers
from bench.stats import Column, percentile, print_table
from tests.server_process import FireboxServer

_COLUMNS = (
    Column("n", "n", 0),
    Column("rps", "per second", 0),
    Column("p50_ms", "p50 ms"),
    Column("p99_ms", "p99 ms"),
)


class SqsConnection:
    """JSON-protocol SQS calls over one keep-alive connection."""

    def __init__(self, server: FireboxServer) -> None:
        self._server = server
        self._connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{operation}"}
        self._connection.request("POST", "/", body, signed_headers(self._server, "POST", "/", body, headers, "sqs"))
        reply = self._connection.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"{operation} answered {reply.status}: {body[:300]!r}")
        answer: dict[str, Any] = json.loads(body) if body else {}
        return answer

    def close(self) -> None:
        self._connection.close()


def _row(latencies_ms: list[float], elapsed_s: float) -> dict[str, float]:
    return {
        "n": len(latencies_ms),
        "rps": len(latencies_ms) / elapsed_s,
        "p50_ms": percentile(latencies_ms, 0.5),
        "p99_ms": percentile(latencies_ms, 0.99),
    }


def _in_parallel(
    connections: list[SqsConnection], work: Callable[[int, SqsConnection], list[float]]
) -> dict[str, float]:
    """Run `work` on each connection in its own thread at once; the figures of every call they timed."""
    latencies: list[list[float]] = [[] for _ in connections]

    def run(index: int) -> None:
        latencies[index] = work(index, connections[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(connections))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _row([sample for samples in latencies for sample in samples], time.perf_counter() - started)


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def queue_rates(server: FireboxServer, connections: int, messages: int, body: str) -> dict[str, dict[str, float]]:
    pool = [SqsConnection(server) for _ in range(connections)]
    url = pool[0].call("CreateQueue", {"QueueName": "bench", "Attributes": {"VisibilityTimeout": "600"}})["QueueUrl"]
    share = messages // connections
    handles: list[list[str]] = [[] for _ in pool]

    def send(index: int, connection: SqsConnection) -> list[float]:
        message = {"QueueUrl": url, "MessageBody": body}
        return [_timed(lambda: connection.call("SendMessage", message))[0] for _ in range(share)]

    def receive(index: int, connection: SqsConnection) -> list[float]:
        samples = []
        while len(handles[index]) < share:
            elapsed, answer = _timed(lambda: connection.call("ReceiveMessage", {"QueueUrl": url}))
            samples.append(elapsed)
            handles[index].extend(m["ReceiptHandle"] for m in answer.get("Messages", []))
        return samples

    def delete(index: int, connection: SqsConnection) -> list[float]:
        samples = []
        for handle in handles[index]:
            deletion = {"QueueUrl": url, "ReceiptHandle": handle}
            samples.append(_timed(functools.partial(connection.call, "DeleteMessage", deletion))[0])
        return samples

    try:
        return {
            "SendMessage": _in_parallel(pool, send),
            "ReceiveMessage": _in_parallel(pool, receive),
            "DeleteMessage": _in_parallel(pool, delete),
        }
    finally:
        for connection in pool:
            connection.close()


def durable_appends(path: Path, count: int, body: str) -> dict[str, float]:
    """One INSERT and COMMIT per message on SQLite in WAL mode, synchronous=NORMAL."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE messages (position INTEGER PRIMARY KEY, queue TEXT, message_id TEXT, record BLOB)")
    latencies = []
    started = time.perf_counter()
    for index in range(count):
        began = time.perf_counter()
        db.execute("BEGIN")
        db.execute("INSERT INTO messages (queue, message_id, record) VALUES (?, ?, ?)", ("bench", str(index), body))
        db.execute("COMMIT")
        latencies.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - started
    db.close()
    return _row(latencies, elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--body-bytes", type=int, default=256)
    options = parser.parse_args()
    body = "x" * options.body_bytes
    with tempfile.TemporaryDirectory(prefix="firebox-queues-") as scratch:
        baseline = durable_appends(Path(scratch) / "baseline.db", options.messages, body)
        with running_server(Path(scratch) / "server" / "data", "--workers", "0", "--sandbox", "process") as server:
            rows = queue_rates(server, options.connections, options.messages, body)
    rows["SQLite durable append (baseline)"] = baseline
    print_table(
        f"Queue rates: {options.connections} connections, {options.messages} messages of {options.body_bytes} bytes",
        rows,
        _COLUMNS,
        ratio_to="SQLite durable append (baseline)",
        ratio_key="rps",
        ratio_header="rate / baseline",
        notes=["Each Firebox answer is durable (committed to queues.db, WAL, synchronous=NORMAL) before it is sent."],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
