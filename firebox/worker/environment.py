"""One execution environment: a sandbox running a runtime, its Runtime API, its log stream and its state.

    STARTING --init done--> IDLE <--> BUSY
        \\                    \\        /
         +---- init failed, crash, timeout, reap, shutdown ----> GONE

The environment turns everything that can happen during an invocation into an `InvocationResult`: the
handler's response or error, an init failure, a timeout, a crash or an out-of-memory kill. A platform
error escapes only when the environment was gone before the invocation reached it (`EnvironmentGone`),
so the caller can retry on another environment.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from firebox.errors import EnvironmentGone, RestoreFailed, RestoreTimedOut
from firebox.observability import MIB, LogStore, Report, end_line, report_line, start_line
from firebox.sandbox import ExitCause, Sandbox, SandboxExit
from firebox.store import FunctionConfig
from firebox.worker.invocation import Invocation, InvocationResult
from firebox.worker.output import OutputReader
from firebox.worker.runtime_api import MAX_RESPONSE_BYTES, RuntimeApiServer

TAIL_BYTES = 4096
INIT_TIMEOUT_S = 10.0
RESTORE_TIMEOUT_S = 10.0  # AWS: the runtime and its after-restore hooks have 10 s
SNAPSHOT_INIT_TIMEOUT_S = 130.0  # AWS: INIT before a snapshot may take this long, or the function's timeout
FREEZE_AFTER_IDLE_S = 0.1


class Origin(enum.Enum):
    """How an environment came to be initialised."""

    INIT = "init"  # it runs INIT itself on its first invocation
    TEMPLATE = "template"  # a SnapStart template: runs INIT once, then only makes restored copies
    RESTORED = "restored"  # a copy of a template, past INIT


class EnvState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    GONE = "gone"


_ALLOWED = {
    EnvState.STARTING: {EnvState.BUSY, EnvState.IDLE, EnvState.GONE},
    EnvState.IDLE: {EnvState.BUSY, EnvState.GONE},
    EnvState.BUSY: {EnvState.IDLE, EnvState.GONE},
    EnvState.GONE: set(),
}


class InvalidTransition(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an invocation (or an INIT) ended, as the caller gets it."""

    payload: bytes
    error_type: str | None = None  # set for any function error; the payload is then the error object


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class _InitFailed(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error_type)
        self.outcome = outcome


class _LogCapture:
    """Lines of the current invocation: sent to the log store, the last 4 KB kept for LogType=Tail, and
    everything past the per-invocation budget dropped (and said so)."""

    def __init__(self, store: LogStore, group: str, stream: str, budget: int) -> None:
        self._store = store
        self._group = group
        self._stream = stream
        self._budget = budget
        self._used = 0
        self._dropped = 0
        self._tail: deque[bytes] = deque()
        self._tail_size = 0

    def reset(self) -> None:
        self._used = self._dropped = self._tail_size = 0
        self._tail.clear()

    def platform(self, line: str) -> None:
        """A line Firebox writes itself: never counted against the function's budget."""
        self._store.append(self._group, self._stream, line)
        self._keep(line.encode())

    def function(self, line: bytes) -> None:
        self._used += len(line) + 1
        if self._used > self._budget:
            self._dropped += len(line) + 1
            return
        self._store.append(self._group, self._stream, line.decode("utf-8", "replace"))
        self._keep(line)

    def report_dropped(self) -> None:
        if self._dropped:
            self.platform(
                f"[Firebox] {self._dropped} bytes of log output dropped: an invocation may log {self._budget} bytes"
            )

    def _keep(self, line: bytes) -> None:
        self._tail.append(line)
        self._tail_size += len(line) + 1
        while len(self._tail) > 1 and self._tail_size - len(self._tail[0]) - 1 >= TAIL_BYTES:
            self._tail_size -= len(self._tail.popleft()) + 1

    def tail(self) -> bytes:
        return (b"\n".join(self._tail) + b"\n")[-TAIL_BYTES:] if self._tail else b""


class Environment:
    def __init__(
        self,
        env_id: str,
        config: FunctionConfig,
        log_store: LogStore,
        log_stream: str,
        log_budget: int,
        origin: Origin = Origin.INIT,
    ) -> None:
        self.env_id = env_id
        self.config = config
        self.origin = origin
        self.log_stream = log_stream
        self.state = EnvState.STARTING
        self.last_used = time.monotonic()
        self.runtime_api = RuntimeApiServer(self)
        self._logs = _LogCapture(log_store, config.log_group_name, log_stream, log_budget)
        self._sandbox: Sandbox | None = None
        self._reader: OutputReader | None = None
        loop = asyncio.get_running_loop()
        self._started = time.perf_counter()
        self._init_duration_ms: float | None = None
        self._ready: asyncio.Future[None] = loop.create_future()
        self._exited: asyncio.Future[SandboxExit] = loop.create_future()
        # The invocation handed to the runtime's next GET next, and that request while it waits for one.
        self._delivery: tuple[Invocation, int] | None = None
        self._runtime_waiting: asyncio.Future[tuple[Invocation, int]] | None = None
        self._current: Invocation | None = None
        self._freeze_timer: asyncio.TimerHandle | None = None
        self._frozen = False
        self.on_frozen: Callable[[], None] | None = None  # told each time the environment is frozen
        self._outcome: asyncio.Future[Outcome] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def _move(self, new: EnvState) -> None:
        if new not in _ALLOWED[self.state]:
            raise InvalidTransition(f"environment {self.env_id} cannot go from {self.state.value} to {new.value}")
        self.state = new

    @property
    def sandbox(self) -> Sandbox | None:
        return self._sandbox

    def attach(self, sandbox: Sandbox, started: float | None = None) -> None:
        """Adopt the started sandbox and begin reading its output; its INIT (or restore) began at `started`
        (perf_counter), by default now."""
        self._sandbox = sandbox
        self._started = time.perf_counter() if started is None else started
        self._reader = OutputReader(sandbox.output_fd, self._logs.function, asyncio.get_running_loop())

    def fail_to_start(self, error_type: str, message: str) -> None:
        """The sandbox could not even start: the first invocation gets this as its init error."""
        self.init_failed(_error_payload(error_type, message), error_type)

    async def watch(self) -> None:
        """Wait for the sandbox to end, whatever ends it; run by the worker for the environment's lifetime."""
        assert self._sandbox is not None
        ended = await self._sandbox.wait()
        if self._reader is not None:
            self._reader.drain()
        self._exited.set_result(ended)
        if not self._ready.done():
            self._ready.set_exception(_InitFailed(_exit_outcome(ended, None)))
            self._ready.exception()  # retrieved here: nobody may be waiting for this environment yet

    def abandon(self) -> None:
        """Nobody waits for the invocation under way any more: the environment ends (destroy follows)."""
        if self.state is not EnvState.GONE:
            self._move(EnvState.GONE)
        self._kill()

    async def destroy(self) -> None:
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
            self._freeze_timer = None
        if self.state is not EnvState.GONE:
            self._move(EnvState.GONE)
        if self._outcome is not None and not self._outcome.done():
            self._outcome.cancel()
        if self._sandbox is not None:
            await self._sandbox.destroy()
        if self._reader is not None:
            self._reader.close()
        await self.runtime_api.close()

    # -- invocation -----------------------------------------------------------------------------------

    async def invoke(self, invocation: Invocation) -> InvocationResult:
        cold = self.state is EnvState.STARTING
        if self.state is EnvState.GONE or (self._exited.done() and not cold):
            raise EnvironmentGone(f"environment {self.env_id} has ended")
        self._move(EnvState.BUSY)
        self.last_used = time.monotonic()
        self._logs.platform(start_line(invocation.request_id, self.config.version))
        if cold:
            failure = await self.initialised()
            if failure is not None:
                result = await self._finish(invocation, failure, 0.0, cold=True, status="error")
                if self.origin is Origin.RESTORED:
                    _raise_restore_failure(failure)
                return result
        began = time.perf_counter()
        outcome, status = await self._run(invocation)
        duration_ms = (time.perf_counter() - began) * 1000
        return await self._finish(invocation, outcome, duration_ms, cold, status)

    async def initialised(self) -> Outcome | None:
        """Wait until INIT (or the restore) is over: None when it went well, else what the caller gets."""
        limit_s = self._init_limit_s()
        try:
            async with asyncio.timeout(max(limit_s - (time.perf_counter() - self._started), 0.0)):
                await self._ready
        except _InitFailed as failure:
            return failure.outcome
        except TimeoutError:
            self._kill()
            phase = "RESTORE" if self.origin is Origin.RESTORED else "INIT"
            message = f"{phase} phase timed out after {limit_s:.2f} seconds"
            return Outcome(_error_payload(_TIMED_OUT, message), _TIMED_OUT)
        return None

    async def prewarm(self) -> Outcome | None:
        """Provisioned concurrency: wait for INIT (or the restore) ahead of any invocation, which is then warm
        (no Init Duration). None when it went well, else why not."""
        failure = await self.initialised()
        if failure is None and self.state is EnvState.STARTING:
            self._move(EnvState.IDLE)
            self.last_used = time.monotonic()
            self._schedule_freeze()  # its runtime asked for an event already, while still STARTING
        return failure

    def _init_limit_s(self) -> float:
        if self.origin is Origin.TEMPLATE:
            return max(SNAPSHOT_INIT_TIMEOUT_S, float(self.config.timeout))
        return RESTORE_TIMEOUT_S if self.origin is Origin.RESTORED else INIT_TIMEOUT_S

    async def _run(self, invocation: Invocation) -> tuple[Outcome, str | None]:
        loop = asyncio.get_running_loop()
        self._current = invocation
        outcome: asyncio.Future[Outcome] = loop.create_future()
        self._outcome = outcome
        timeout_s = float(self.config.timeout)
        self._thaw()
        self._deliver((invocation, int(time.time() * 1000 + timeout_s * 1000)))
        # One future settles the invocation, whichever comes first: the runtime's answer, the end of the
        # sandbox or the deadline (a timer and a callback cost less than asyncio.wait under asyncio.timeout).
        deadline = loop.call_later(timeout_s, _settle_once, outcome, _DEADLINE_PASSED)
        self._exited.add_done_callback(self._sandbox_ended_during_run)
        try:
            ended = await outcome
        finally:
            deadline.cancel()
            self._exited.remove_done_callback(self._sandbox_ended_during_run)
            self._current = None
        if ended is _DEADLINE_PASSED:
            self._kill()
            message = f"RequestId: {invocation.request_id} Error: Task timed out after {timeout_s:.2f} seconds"
            self._logs.platform(f"{_utc_now()} {invocation.request_id} Task timed out after {timeout_s:.2f} seconds")
            return Outcome(_error_payload(_TIMED_OUT, message), _TIMED_OUT), "timeout"
        if ended is _SANDBOX_ENDED:
            return _exit_outcome(self._exited.result(), invocation.request_id), "error"
        return ended, None

    def _sandbox_ended_during_run(self, exited: asyncio.Future[SandboxExit]) -> None:
        if self._outcome is not None:
            _settle_once(self._outcome, _SANDBOX_ENDED)

    async def _finish(
        self, invocation: Invocation, outcome: Outcome, duration_ms: float, cold: bool, status: str | None
    ) -> InvocationResult:
        if self._reader is not None:
            self._reader.drain()
        self._logs.report_dropped()
        memory_used = -(-self._sandbox.max_memory_used() // MIB) if self._sandbox is not None else 0
        report = Report(
            request_id=invocation.request_id,
            duration_ms=duration_ms,
            memory_size_mb=self.config.memory_size,
            max_memory_used_mb=memory_used,
            init_duration_ms=self._init_duration_ms if cold and self.origin is Origin.INIT else None,
            restore_duration_ms=self._init_duration_ms if cold and self.origin is Origin.RESTORED else None,
            status=status,
            error_type=outcome.error_type if status is not None else None,
        )
        self._logs.platform(end_line(invocation.request_id))
        self._logs.platform(report_line(report))
        tail = self._logs.tail() if invocation.want_log_tail else b""
        self._logs.reset()
        if status is None:
            self._move(EnvState.IDLE)
            if self._runtime_waiting is not None:
                self._schedule_freeze()  # the runtime asked for its next event with its response (pipelined)
        elif self.state is not EnvState.GONE:
            self._move(EnvState.GONE)
        self.last_used = time.monotonic()
        return InvocationResult(
            payload=outcome.payload,
            executed_version=self.config.version,
            function_error="Unhandled" if outcome.error_type is not None else None,
            log_tail=tail,
            duration_ms=duration_ms,
            init_duration_ms=report.init_duration_ms,
            restore_duration_ms=report.restore_duration_ms,
            max_memory_used_mb=memory_used,
        )

    def _freeze_if_idle(self) -> None:
        self._freeze_timer = None
        if self.state is EnvState.IDLE and self._sandbox is not None:
            self._frozen = self._sandbox.freeze()
            if self._frozen and self.on_frozen is not None:
                self.on_frozen()

    def _thaw(self) -> None:
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
            self._freeze_timer = None
        if self._frozen and self._sandbox is not None:
            self._sandbox.thaw()
            self._frozen = False

    def _kill(self) -> None:
        if self._sandbox is not None:
            self._sandbox.kill()

    # -- the Runtime API's side (RuntimeApiClient) ------------------------------------------------------

    def runtime_waiting(self) -> None:
        if self.origin is Origin.TEMPLATE:
            return  # a template's INIT ends when it asks for its snapshot (restore/next), never for an event
        self._init_done()

    def snapshot_point(self) -> None:
        # A template that asks for restore/next has finished INIT and its before-snapshot hooks: it is the
        # snapshot from now on. (Our runtime never asks in a copy; another that did is answered at once.)
        if self.origin is Origin.TEMPLATE:
            self._init_done()

    def _init_done(self) -> None:
        if not self._ready.done():
            self._init_duration_ms = (time.perf_counter() - self._started) * 1000
            self._ready.set_result(None)
            if self._sandbox is not None:
                self._sandbox.initialised()

    def is_current(self, request_id: str) -> bool:
        return self._current is not None and self._current.request_id == request_id

    def next_invocation(self) -> asyncio.Future[tuple[Invocation, int]]:
        waiting: asyncio.Future[tuple[Invocation, int]] = asyncio.get_running_loop().create_future()
        if self._delivery is not None:
            waiting.set_result(self._delivery)
            self._delivery = None
            return waiting
        self._runtime_waiting = waiting
        self._schedule_freeze()
        return waiting

    def _deliver(self, delivery: tuple[Invocation, int]) -> None:
        waiting, self._runtime_waiting = self._runtime_waiting, None
        if waiting is not None and not waiting.done():
            waiting.set_result(delivery)
        else:  # the runtime has not asked yet, or hung up while it waited: its next request gets it
            self._delivery = delivery

    def _schedule_freeze(self) -> None:
        if self._delivery is None and self.state is EnvState.IDLE and self._freeze_timer is None:
            # An idle environment is frozen once its runtime has asked for the next event and no event came
            # for FREEZE_AFTER_IDLE_S: it then gets no CPU until one does. Lambda freezes at once; the grace
            # spares busy environments a freeze and a thaw per invocation (each a cgroup write of a few hundred
            # microseconds), at the price of background work running on for that long.
            self._freeze_timer = asyncio.get_running_loop().call_later(FREEZE_AFTER_IDLE_S, self._freeze_if_idle)

    def _settle(self, request_id: str, outcome: Outcome) -> bool:
        if self._current is None or self._current.request_id != request_id or self._outcome is None:
            return False
        if not self._outcome.done():
            self._outcome.set_result(outcome)
        return True

    def respond(self, request_id: str, payload: bytes) -> bool:
        return self._settle(request_id, Outcome(payload))

    def respond_too_large(self, request_id: str) -> bool:
        message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        error_type = "Function.ResponseSizeTooLarge"
        return self._settle(request_id, Outcome(_error_payload(error_type, message), error_type))

    def fail(self, request_id: str, payload: bytes, error_type: str | None) -> bool:
        return self._settle(request_id, Outcome(payload, _error_type_of(payload, error_type)))

    def init_failed(self, payload: bytes, error_type: str | None) -> None:
        if not self._ready.done():
            self._init_duration_ms = (time.perf_counter() - self._started) * 1000
            self._ready.set_exception(_InitFailed(Outcome(payload, _error_type_of(payload, error_type))))
            self._ready.exception()


_TIMED_OUT = "Sandbox.Timedout"
# What settles an invocation's outcome when the runtime did not: markers, told apart by identity.
_DEADLINE_PASSED = Outcome(b"", _TIMED_OUT)
_SANDBOX_ENDED = Outcome(b"", "Runtime.ExitError")


def _settle_once(outcome: asyncio.Future[Outcome], value: Outcome) -> None:
    if not outcome.done():
        outcome.set_result(value)


def _raise_restore_failure(failure: Outcome) -> NoReturn:
    """AWS answers a failed restore as an API error (SnapStartException), not as a function error."""
    if failure.error_type == _TIMED_OUT:
        raise RestoreTimedOut("Lambda couldn't restore the snapshot within the timeout limit.")
    try:
        detail = json.loads(failure.payload).get("errorMessage", "")
    except (ValueError, AttributeError):
        detail = ""
    raise RestoreFailed(
        f"The afterRestore() runtime hook encountered an error ({failure.error_type}: {detail}). "
        "For more information, check the function's logs."
    )


def _error_type_of(payload: bytes, header: str | None) -> str:
    try:
        reported = json.loads(payload).get("errorType")
    except (ValueError, AttributeError):
        reported = None
    return str(reported or header or "Unhandled")


def _exit_outcome(ended: SandboxExit, request_id: str | None) -> Outcome:
    prefix = f"RequestId: {request_id} " if request_id else ""
    message = f"{prefix}Error: Runtime exited with error: {ended.describe()}"
    error_type = "Runtime.OutOfMemory" if ended.cause is ExitCause.OUT_OF_MEMORY else "Runtime.ExitError"
    return Outcome(_error_payload(error_type, message), error_type)


def _utc_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
