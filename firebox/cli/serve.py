"""`firebox serve`: run the embedded platform in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import click

from firebox.config import Settings

_DEFAULTS = Settings()


def schedule_as_batch() -> None:
    """Put this process, and so the workers and sandboxes it starts, under SCHED_BATCH: a process woken by
    another's write then waits for the writer to block instead of preempting it. On a machine with fewer
    cores than processes on the invoke path (server, worker, sandbox), preemption at every hand-over cost
    a context switch each way and broke up the batches each side writes; under wrk, warm Invoke went
    from ~4,300 to ~5,000 per second on 2 cores."""
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _run(settings: Settings) -> None:
    schedule_as_batch()
    # Imported here, not at the top: the server pulls in aiohttp and every service, which the client
    # commands sharing this command group do not need (it halves their start-up time).
    from firebox.embedded import serve as serve_embedded

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await serve_embedded(settings)
        except asyncio.CancelledError:
            logging.getLogger("firebox").info("Firebox stopped")

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def _scaling_rate(text: str) -> tuple[int, float]:
    count, _, seconds = text.partition("/")
    try:
        environments, window_s = int(count), float(seconds)
    except ValueError:
        environments, window_s = 0, 0.0
    if environments < 1 or window_s <= 0:
        raise click.BadParameter("give it as N/SECONDS, both positive (Lambda's: 1000/10)", param_hint="--scaling-rate")
    return environments, window_s


@click.command()
@click.option("--host", default=_DEFAULTS.host, show_default=True, help="Address to listen on.")
@click.option("--port", default=_DEFAULTS.port, show_default=True, type=int, help="Port of the Lambda API.")
@click.option(
    "--data-dir",
    default=str(_DEFAULTS.data_dir),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where state, code and logs are kept.",
)
@click.option("--region", default=_DEFAULTS.region, show_default=True, help="Region in ARNs and sandboxes.")
@click.option("--account-id", default=_DEFAULTS.account_id, show_default=True, help="Account id in ARNs.")
@click.option(
    "--keep-alive",
    default=_DEFAULTS.keep_alive_s,
    show_default=True,
    type=float,
    help="Seconds an idle execution environment stays warm.",
)
@click.option(
    "--sandbox",
    "backend",
    default=_DEFAULTS.backend,
    show_default=True,
    type=click.Choice(["namespaces", "process"]),
    help="Sandbox backend: namespaces isolate each environment; process does not (development only).",
)
@click.option(
    "--snapstart-ready-copies",
    default=_DEFAULTS.snapstart_ready_copies,
    show_default=True,
    type=click.IntRange(0, 16),
    help="Restored copies of each SnapStart snapshot kept ready for the next cold starts.",
)
@click.option(
    "--account-concurrency",
    default=_DEFAULTS.account_concurrency,
    show_default=True,
    type=click.IntRange(min=1),
    help="Invocations in flight at once over all functions; functions may reserve all but 100 of them.",
)
@click.option(
    "--scaling-rate",
    default=f"{_DEFAULTS.scaling_environments}/{_DEFAULTS.scaling_window_s:g}",
    show_default=True,
    help="New environments one function may start, per so many seconds (N/SECONDS).",
)
@click.option(
    "--workers",
    default=_DEFAULTS.workers,
    show_default=True,
    type=click.IntRange(0, 64),
    help="Worker processes running the environments (default: one per core; 0: in the server's own process).",
)
@click.option(
    "--memory",
    "memory_mb",
    default=_DEFAULTS.memory_mb,
    show_default=True,
    type=click.IntRange(min=0),
    help="MB the MemorySize of all environments may add up to (0: 4 times the host's memory); past it, idle"
    " environments make room and invocations that find none are throttled.",
)
@click.option(
    "--worker-reattach",
    default=_DEFAULTS.reattach_s,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a worker process whose server was killed keeps its environments for a restarted server.",
)
@click.option(
    "--async-retry-delay",
    default=_DEFAULTS.async_retry_delay_s,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds before the first retry of a failed asynchronous event (Lambda's minute); every retry and"
    " backoff delay of asynchronous invocation scales with it.",
)
@click.option(
    "--async-concurrency",
    default=_DEFAULTS.async_concurrency,
    show_default=True,
    type=click.IntRange(min=1),
    help="Asynchronous events tried at once, over all functions.",
)
@click.option(
    "--state-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="FIREBOX_STATE_KEY_FILE",
    help="The 32-byte key that seals environment variables in the state store [default: DATA_DIR/state.key,"
    " made on the first start].",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Accept requests without checking their signatures: anyone who reaches the port may deploy and invoke.",
)
@click.option(
    "--preload",
    default=",".join(_DEFAULTS.preload),
    show_default=True,
    help="Modules (comma-separated) each zygote imports ahead of cold starts, where installed; '' for none.",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def serve(
    host: str,
    port: int,
    data_dir: Path,
    region: str,
    account_id: str,
    keep_alive: float,
    backend: str,
    snapstart_ready_copies: int,
    account_concurrency: int,
    scaling_rate: str,
    workers: int,
    worker_reattach: float,
    memory_mb: int,
    async_retry_delay: float,
    async_concurrency: int,
    state_key_file: Path | None,
    insecure_no_auth: bool,
    preload: str,
    log_level: str,
) -> None:
    """Run Firebox: the Lambda API, workers and sandboxes, in this process."""
    if not (account_id.isdigit() and len(account_id) == 12):
        raise click.BadParameter("an account id is 12 digits", param_hint="--account-id")
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    environments, window_s = _scaling_rate(scaling_rate)
    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir,
        region=region,
        account_id=account_id,
        keep_alive_s=keep_alive,
        backend=backend,
        snapstart_ready_copies=snapstart_ready_copies,
        account_concurrency=account_concurrency,
        scaling_environments=environments,
        scaling_window_s=window_s,
        preload=tuple(name.strip() for name in preload.split(",") if name.strip()),
        workers=workers,
        reattach_s=worker_reattach,
        memory_mb=memory_mb,
        async_retry_delay_s=async_retry_delay,
        async_concurrency=async_concurrency,
        require_auth=not insecure_no_auth,
        state_key_file=state_key_file,
    )
    _run(settings)
