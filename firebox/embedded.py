"""The embedded platform: every Firebox service in one process, on one event loop.

This module only wires services together and owns their lifetimes; each service lives in its package.
Start-up order follows the request path backwards (logs, worker, assignment, then the HTTP listener), and
shutdown runs it forwards: the listener closes first, so no request arrives while environments end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import hashlib
import json
import logging
import os
import resource
import secrets
import shutil
import socket
import sys
from pathlib import Path

from aiohttp import web

from firebox.assignment import Assignment, Concurrency, ScalingLimit
from firebox.config import Settings
from firebox.errors import PlatformFailure
from firebox.events import AsyncInvocations, RetryPolicy, SqliteEventStore
from firebox.frontend import Authenticator, Frontend, FunctionCalls, KeysApi, LambdaApi, ensure_admin_key
from firebox.journal import EnvironmentJournal
from firebox.observability import LogStore
from firebox.placement import Placement
from firebox.queues import QueueService, SqliteQueueStorage
from firebox.runtime import PYTHON_BOOTSTRAP
from firebox.sandbox import (
    CgroupTree,
    NamespaceBackend,
    NamespaceSettings,
    ProcessBackend,
    PythonRuntime,
    SandboxBackend,
    unavailable_reason,
)
from firebox.sandbox.tmp_disks import TmpDisks
from firebox.sandbox.tmp_disks import unavailable_reason as tmp_disks_unavailable
from firebox.store import (
    AccessKeys,
    Arns,
    CodeSigningConfigRegistry,
    CodeStore,
    FunctionCodec,
    FunctionRegistry,
    LayerRegistry,
    Sealer,
    SigningProfileRegistry,
    SqliteStore,
    WrongStateKey,
    check_state_key,
)
from firebox.worker import (
    CodeCache,
    Credentials,
    LayerCache,
    RemoteWorker,
    Runtimes,
    Worker,
    WorkerService,
    WorkerSettings,
)

log = logging.getLogger(__name__)


def _sandbox_credentials() -> Credentials:
    # Each server start issues fresh credentials to its sandboxes, as Lambda hands each function a session.
    return Credentials(
        access_key_id="ASIA" + secrets.token_hex(8).upper(),
        secret_access_key=secrets.token_urlsafe(30),
        session_token=secrets.token_urlsafe(96),
    )


def _sandbox_backend(settings: Settings, scratch: Path, worker_index: int = 0) -> SandboxBackend:
    """The backend asked for. Running functions without isolation is never a fallback: it must be chosen."""
    if settings.backend == "process":
        return ProcessBackend(scratch)
    reason = unavailable_reason()
    if reason is not None:
        raise SystemExit(
            f"firebox: the namespace sandbox cannot run here: {reason}. To run functions WITHOUT isolation"
            " (development only), pass --sandbox process."
        )
    cgroups = CgroupTree.discover()
    assert cgroups is not None
    base_python = PythonRuntime(getattr(sys, "_base_executable", sys.executable), PYTHON_BOOTSTRAP)
    # Imported only here: libseccomp (through pyseccomp) exists only where the namespace backend can run.
    from firebox.sandbox.seccomp import compile_filter

    return NamespaceBackend(
        scratch,
        cgroups,
        compile_filter(),
        base_python,
        _namespace_settings(settings, worker_index),
        template_seccomp=compile_filter(template=True),
        tmp_disks=_tmp_disks(scratch),
    )


def _namespace_settings(settings: Settings, worker_index: int) -> NamespaceSettings:
    # Each worker process hands out host uids from a block of its own: no two sandboxes share one.
    defaults = NamespaceSettings()
    block = defaults.uid_count // max(settings.workers, 1)
    return NamespaceSettings(
        preload=settings.preload,
        ready_copies=settings.snapstart_ready_copies,
        first_uid=defaults.first_uid + worker_index * block,
        uid_count=block,
    )


def _tmp_disks(scratch: Path) -> TmpDisks | None:
    reason = tmp_disks_unavailable()
    if reason is None:
        return TmpDisks(scratch)
    log.warning("sandboxes get a memory-backed /tmp, which counts towards their MemorySize: %s", reason)
    return None


def _raise_descriptor_limit() -> None:
    """Use every file descriptor the host allows: each environment holds a few (its pipe, its Runtime API
    socket and connections, its control groups), and the usual soft limit of 1,024 is too low for that."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _sealer(settings: Settings, state: SqliteStore) -> Sealer:
    """The state key: the operator's file, or DATA_DIR/state.key (made on the first start)."""
    given = settings.state_key_file
    path = given or settings.data_dir.resolve() / "state.key"
    try:
        sealer = Sealer.from_file(path, create=given is None)
        await check_state_key(state, sealer)
    except FileNotFoundError:
        raise SystemExit(f"firebox: no state key at {path}") from None
    except WrongStateKey:
        raise SystemExit(
            f"firebox: the state key {path} is not the key this data directory's secrets were sealed with"
        ) from None
    return sealer


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run Firebox until cancelled; `ready` is set once the API accepts connections."""
    _raise_descriptor_limit()
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    _remove_dead_scratch(data / "sandboxes")

    state = SqliteStore(data / "state.db")
    code_store = CodeStore(data / "code")
    log_store = LogStore(data / "logs.db")
    queues = QueueService(SqliteQueueStorage(data / "queues.db"), settings.region, settings.account_id)
    runtimes = await Runtimes.discover()
    credentials = _sandbox_credentials()
    workers: list[Worker | RemoteWorker]
    if settings.workers == 0:
        workers = [_worker(settings, 0, credentials, code_store, log_store, runtimes)]
    else:
        workers = [
            RemoteWorker(
                _worker_id(index),
                [sys.executable, "-m", "firebox.worker_process", "{fd}"],
                {
                    **os.environ,
                    WORKER_CONFIG: worker_config(settings, index, credentials),
                    "FIREBOX_LOG_LEVEL": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
                },
                data / "workers" / f"{_worker_id(index)}.sock",
                worker_fingerprint(settings, index),
                _worker_memory_mb(settings),
            )
            for index in range(settings.workers)
        ]
    assignment = Assignment(
        Placement(workers),
        EnvironmentJournal(state),
        keep_alive_s=settings.keep_alive_s,
        concurrency=Concurrency(settings.account_concurrency),
        scaling=ScalingLimit(settings.scaling_environments, settings.scaling_window_s),
    )
    for worker in workers:
        worker.events = assignment
    arns = Arns(settings.region, settings.account_id)
    registry = FunctionRegistry(state, arns, FunctionCodec(await _sealer(settings, state)))
    if await registry.seal_unsealed_environments():
        log.info("Sealed the environment variables that an older Firebox kept in the clear")
        await state.compact()  # so that the old clear text leaves the file
    event_store = SqliteEventStore(data / "events.db")
    events = AsyncInvocations(
        event_store,
        registry,
        queues,
        arns,
        RetryPolicy(settings.async_retry_delay_s),
        max_in_flight=settings.async_concurrency,
    )
    frontend = Frontend(
        registry=registry,
        layers=LayerRegistry(state, arns),
        code_store=code_store,
        arns=arns,
        runtimes=runtimes,
        assignment=assignment,
        log_store=log_store,
        events=events,
        code_signing_configs=CodeSigningConfigRegistry(state, arns),
        signing_profiles=SigningProfileRegistry(state),
    )
    events.invoker = FunctionCalls(frontend)
    keys = AccessKeys(state)
    await ensure_admin_key(keys, data / "credentials")
    if not settings.require_auth:
        log.warning(
            "--insecure-no-auth: requests are not authenticated; anyone who reaches the port may deploy"
            " and invoke anything"
        )
    authenticator = Authenticator(keys, settings.region, settings.account_id, required=settings.require_auth)
    api = LambdaApi(frontend, queues, authenticator, KeysApi(keys))
    runner = web.AppRunner(api.application(), handle_signals=False)
    try:
        async with asyncio.TaskGroup() as services:
            services.create_task(log_store.run(), name="logs.flusher")
            queues_ready = asyncio.Event()
            services.create_task(queues.run(queues_ready), name="queues")
            await queues_ready.wait()
            workers_ready = [asyncio.Event() for _ in workers]
            for worker, worker_ready in zip(workers, workers_ready, strict=True):
                services.create_task(worker.run(worker_ready), name=f"worker.{worker.worker_id}")
            assignment_ready = asyncio.Event()
            services.create_task(assignment.run(assignment_ready), name="assignment")
            for worker_ready in workers_ready:
                await worker_ready.wait()
            await assignment_ready.wait()
            await assignment.recover()
            for function, reserved in (await registry.reserved_concurrency()).items():
                assignment.concurrency.reserve(function, reserved)
            await frontend.provision_stored()
            events_ready = asyncio.Event()
            services.create_task(events.run(events_ready), name="events")
            await events_ready.wait()
            # Snapshots live in memory: the SnapStart versions get theirs again (Pending until made).
            for config in await registry.all_published_versions():
                if config.restores_from_snapshot:
                    assignment.prepare_snapshot(config)
            await runner.setup()
            try:
                try:
                    await web.TCPSite(runner, settings.host, settings.port).start()
                except OSError as exc:
                    raise SystemExit(
                        f"firebox: cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
                    ) from exc
                log.info(
                    "Firebox serves the Lambda API at %s (runtimes: %s)",
                    settings.endpoint,
                    ", ".join(runtimes.names),
                )
                _freeze_start_up_objects()
                if ready is not None:
                    ready.set()
                await asyncio.Future()  # until cancelled
            finally:
                await runner.cleanup()
    except* PlatformFailure as failed:  # a worker process that could not start: say so, not a traceback
        raise SystemExit(f"firebox: {failed.exceptions[0]}") from None
    finally:
        await state.close()
        event_store.close()
        log_store.close()
        queues.close()


def _freeze_start_up_objects() -> None:
    """Leave what start-up made (botocore's service model, imported modules) out of every later collection:
    each full collection walked all of it again, and the collector was about a tenth of a profile of the
    server under load."""
    gc.collect()
    gc.freeze()


def _worker(
    settings: Settings,
    index: int,
    credentials: Credentials,
    code_store: CodeStore,
    log_store: LogStore,
    runtimes: Runtimes,
) -> Worker:
    data = settings.data_dir.resolve()
    code_cache = CodeCache(code_store, data / "tasks")
    return Worker(
        worker_id=_worker_id(index),
        backend=_sandbox_backend(settings, data / "sandboxes" / str(os.getpid()), index),
        code_cache=code_cache,
        layer_cache=LayerCache(code_cache, data / "opt"),
        runtimes=runtimes,
        log_store=log_store,
        settings=WorkerSettings(
            region=settings.region,
            api_endpoint=settings.endpoint,
            credentials=credentials,
            log_budget_bytes=settings.log_budget_bytes,
            memory_mb=_worker_memory_mb(settings),
        ),
    )


def _worker_memory_mb(settings: Settings) -> int:
    """Each worker's share of the memory for environments (its placement slots)."""
    host_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    total = settings.memory_mb or OVERCOMMIT * host_mb
    return int(total // max(settings.workers, 1))


# MemorySize is a cap that the memory cgroup enforces, not a reservation: an idle environment holds a few MB
# and a busy one rarely its whole MemorySize, so by default the slots add up to several times the host's memory.
OVERCOMMIT = 4


def _worker_id(index: int) -> str:
    return f"local-{index + 1}"


def _remove_dead_scratch(scratch: Path) -> None:
    """Remove the sandbox directories of processes that are gone (a killed predecessor's); those of worker
    processes that outlived it stay, for this server may adopt them."""
    if scratch.is_dir():
        for owner in scratch.iterdir():
            if not (owner.name.isdigit() and Path(f"/proc/{owner.name}").exists()):
                shutil.rmtree(owner, ignore_errors=True)


WORKER_CONFIG = "FIREBOX_WORKER_CONFIG"  # how a worker process is given its settings (never on its command line)


def _settings_fields(settings: Settings) -> dict[str, object]:
    # A worker is given configurations with their variables already opened: it never needs the state key.
    fields = dataclasses.asdict(settings)
    return {**fields, "data_dir": str(settings.data_dir.resolve()), "state_key_file": None}


def worker_config(settings: Settings, index: int, credentials: Credentials) -> str:
    fields = _settings_fields(settings)
    return json.dumps({"settings": fields, "index": index, "credentials": dataclasses.asdict(credentials)})


def worker_fingerprint(settings: Settings, index: int) -> str:
    """What a worker process must share with a server that adopts it: its settings and Firebox's code."""
    digest = hashlib.sha256(
        json.dumps({"settings": _settings_fields(settings), "index": index}, sort_keys=True).encode()
    )
    digest.update(_code_digest())
    return digest.hexdigest()


@functools.cache
def _code_digest() -> bytes:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.digest()


async def serve_worker(config: str, listener_fd: int) -> None:
    """Run one worker process: its worker, served to the server that connects to its socket, until that
    server asks it to shut down, or has been gone for `reattach_s` with no other server taking it over."""
    _raise_descriptor_limit()
    given = json.loads(config)
    fields = given["settings"]
    settings = Settings(**{**fields, "data_dir": Path(fields["data_dir"]), "preload": tuple(fields["preload"])})
    index = int(given["index"])
    data = settings.data_dir
    log_store = LogStore(data / "logs.db")
    worker = _worker(
        settings,
        index,
        Credentials(**given["credentials"]),
        CodeStore(data / "code"),
        log_store,
        await Runtimes.discover(),
    )
    fingerprint = worker_fingerprint(settings, index)
    listener = socket.socket(fileno=listener_fd)
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.TaskGroup() as tasks:
            flusher = tasks.create_task(log_store.run(), name="logs.flusher")
            worker_ready = asyncio.Event()
            running = tasks.create_task(worker.run(worker_ready), name="worker")
            await worker_ready.wait()
            _freeze_start_up_objects()
            while True:
                try:
                    async with asyncio.timeout(settings.reattach_s):
                        connection, _ = await loop.sock_accept(listener)
                except TimeoutError:
                    log.warning(
                        "no server came back within %.0f s: the worker ends its environments", settings.reattach_s
                    )
                    break
                service = await WorkerService.accept(worker, connection, fingerprint)
                worker.events = service
                try:
                    shut_down = await service.serve()
                finally:
                    worker.events = None
                    service.close()
                if shut_down:
                    break
                log.warning("the server went away: the worker keeps its idle environments for the next one")
            running.cancel()
            flusher.cancel()
    finally:
        listener.close()
        log_store.close()
