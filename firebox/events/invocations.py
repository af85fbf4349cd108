"""Asynchronous invocation: events are accepted durably, then tried, retried and reported in the background.

Each unfinished event has a due time in one heap; the dispatcher works on those that are due, at most
`max_in_flight` at once. A try of an event ends one of three ways: the function ran (its result decides:
success, a retry later, or failure once the retries are spent), it was throttled or Firebox failed (back off
and try again until the event is too old), or its function is gone (the event is dropped). Once the outcome
is decided, the records owed to destinations and the dead-letter queue are delivered, and retried until
delivered. Every step is saved in the event store, so a restarted server resumes where its predecessor was.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from firebox.errors import FireboxError, ResourceNotFound, Throttled
from firebox.events.outcomes import deliveries
from firebox.events.policy import RetryPolicy
from firebox.events.records import AsyncEvent, Delivery, EventSummary, Fate, Progress
from firebox.events.store import EventStore
from firebox.queues import QueueService
from firebox.store import LATEST, Arns, EventInvokeConfigRecord, FunctionConfig, FunctionRegistry
from firebox.worker import InvocationResult

log = logging.getLogger(__name__)

_HISTORY_S = 24 * 3600.0  # how long a finished event stays visible to `firebox events`
_PRUNE_EVERY_S = 600.0
_GIVE_UP_DELIVERY_S = 24 * 3600.0  # a record still undeliverable this long after its event arrived is abandoned


class FunctionInvoker(Protocol):
    """The synchronous invoke path, as the dispatcher uses it for each try."""

    async def resolve(self, function_name: str, qualifier: str | None) -> FunctionConfig:
        """The configuration a try of the qualifier runs now; ResourceNotFound once it is gone."""
        ...

    async def invoke(self, config: FunctionConfig, event: AsyncEvent) -> InvocationResult:
        """Run the event once; Throttled over a limit, another FireboxError when Firebox failed."""
        ...


class AsyncInvocations:
    def __init__(
        self,
        store: EventStore,
        registry: FunctionRegistry,
        queues: QueueService,
        arns: Arns,
        policy: RetryPolicy,
        max_in_flight: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._registry = registry
        self._queues = queues
        self._arns = arns
        self._policy = policy
        self._max_in_flight = max_in_flight
        self._clock = clock
        self.invoker: FunctionInvoker | None = None  # the frontend's invoke path, attached at start-up
        self._due: list[tuple[float, int, Progress]] = []
        self._order = itertools.count()  # ties in due time go first come, first served
        self._in_flight = 0
        self._wake = asyncio.Event()

    async def accept(self, event: AsyncEvent) -> None:
        """Take `event` for asynchronous invocation; returns once it is durable."""
        await self._store.append(event)
        self._schedule(Progress(event.request_id, due=event.received_at))

    def summaries(self, function_name: str, limit: int = 50) -> list[EventSummary]:
        return self._store.summaries(function_name, limit)

    def _schedule(self, progress: Progress) -> None:
        heapq.heappush(self._due, (progress.due, next(self._order), progress))
        self._wake.set()

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Work on due events until cancelled; the events of a predecessor are resumed first."""
        for progress in self._store.unfinished():
            self._schedule(progress)
        if ready is not None:
            ready.set()
        tries: set[asyncio.Task[None]] = set()
        next_prune = self._clock()
        try:
            while True:
                now = self._clock()
                if now >= next_prune:
                    self._store.forget_finished(now - _HISTORY_S)
                    next_prune = now + _PRUNE_EVERY_S
                while self._due and self._due[0][0] <= now and self._in_flight < self._max_in_flight:
                    progress = heapq.heappop(self._due)[2]
                    self._in_flight += 1
                    task = asyncio.create_task(self._work(progress), name=f"event.{progress.request_id}")
                    tries.add(task)
                    task.add_done_callback(tries.discard)
                self._wake.clear()
                wait_s = None
                if self._due and self._in_flight < self._max_in_flight:
                    wait_s = self._due[0][0] - now
                try:
                    async with asyncio.timeout(min(wait_s, _PRUNE_EVERY_S) if wait_s is not None else _PRUNE_EVERY_S):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            for task in tries:
                task.cancel()
            await asyncio.gather(*tries, return_exceptions=True)

    async def _work(self, progress: Progress) -> None:
        try:
            event = self._store.event(progress.request_id)
            if event is None:  # forgotten meanwhile
                return
            if progress.fate is None:
                await self._attempt(event, progress)
            if progress.fate is not None and progress.deliveries:
                await self._deliver(event, progress)
            self._store.save(progress, self._clock())
            if progress.fate is None or progress.deliveries:
                self._schedule(progress)
        except Exception:  # a bug must not lose the event: it is tried again later
            log.exception("asynchronous event %s: unexpected failure; trying again later", progress.request_id)
            progress.due = self._clock() + self._policy.backoff(progress.tries)
            self._schedule(progress)
        finally:
            self._in_flight -= 1
            self._wake.set()

    async def _attempt(self, event: AsyncEvent, progress: Progress) -> None:
        assert self.invoker is not None, "an invoker is attached before events are accepted"
        try:
            config = await self.invoker.resolve(event.function_name, event.qualifier)
        except ResourceNotFound as exc:
            progress.fate = Fate.DROPPED
            progress.last_outcome = f"dropped: {exc.message}"
            log.warning("asynchronous event %s dropped: %s", event.request_id, exc.message)
            return
        settings = await self._settings(event)
        now = self._clock()
        expires = event.received_at + settings.maximum_event_age_s
        if now >= expires:
            self._decide(Fate.EXPIRED, event, progress, config, settings, None, error_code=429)
            return
        progress.tries += 1
        try:
            result = await self.invoker.invoke(config, event)
        except FireboxError as exc:
            now = self._clock()
            what = f"throttled ({exc.reason})" if isinstance(exc, Throttled) else f"system error ({exc.message})"
            progress.last_outcome = what
            progress.due = min(now + self._policy.backoff(progress.tries - progress.attempts), expires)
            log.info(
                "asynchronous event %s of %s: %s, trying again in %.1f s",
                event.request_id,
                event.function_name,
                what,
                progress.due - now,
            )
            return
        now = self._clock()  # delays count from the end of the try, which may have taken long
        progress.attempts += 1
        if result.function_error is None:
            self._decide(Fate.SUCCEEDED, event, progress, config, settings, result, error_code=200)
        elif progress.attempts > settings.maximum_retry_attempts:
            self._decide(Fate.FAILED, event, progress, config, settings, result, error_code=200)
        else:
            progress.last_outcome = f"function error ({result.function_error})"
            progress.due = min(now + self._policy.after_function_error(progress.attempts), expires)
            log.info(
                "asynchronous event %s of %s: function error, retry %d in %.1f s",
                event.request_id,
                event.function_name,
                progress.attempts,
                progress.due - now,
            )

    async def _settings(self, event: AsyncEvent) -> EventInvokeConfigRecord:
        qualifier = event.qualifier or LATEST
        stored = await self._registry.get_event_invoke_config(event.function_name, qualifier)
        return stored or EventInvokeConfigRecord(event.function_name, qualifier, last_modified=0.0)

    def _decide(
        self,
        fate: Fate,
        event: AsyncEvent,
        progress: Progress,
        config: FunctionConfig,
        settings: EventInvokeConfigRecord,
        result: InvocationResult | None,
        error_code: int,
    ) -> None:
        progress.fate = fate
        if fate is not Fate.SUCCEEDED:
            progress.last_outcome = f"{fate.value} after {progress.attempts} attempts ({progress.tries} tries)"
        else:
            progress.last_outcome = fate.value
        function_arn = self._arns.function(config.name, config.version)
        progress.deliveries = deliveries(
            fate, event, progress.attempts, function_arn, config, settings, result, error_code
        )
        progress.due = self._clock()
        if fate is not Fate.SUCCEEDED:
            log.info("asynchronous event %s of %s: %s", event.request_id, event.function_name, progress.last_outcome)

    async def _deliver(self, event: AsyncEvent, progress: Progress) -> None:
        undelivered: list[Delivery] = []
        for delivery in progress.deliveries:
            try:
                await self._send(delivery)
            except FireboxError as exc:
                progress.failed_deliveries += 1
                log.warning(
                    "asynchronous event %s: delivery to %s failed (%s)", event.request_id, delivery.target, exc.message
                )
                undelivered.append(delivery)
        now = self._clock()
        if undelivered and now - event.received_at > _GIVE_UP_DELIVERY_S:
            log.error(
                "asynchronous event %s: abandoned %d undeliverable records after %d failures",
                event.request_id,
                len(undelivered),
                progress.failed_deliveries,
            )
            progress.last_outcome += f"; abandoned {len(undelivered)} undeliverable records"
            undelivered = []
        progress.deliveries = undelivered
        progress.due = now + self._policy.backoff(progress.failed_deliveries)

    async def _send(self, delivery: Delivery) -> None:
        service, resource = _arn_parts(delivery.target)
        if service == "lambda":
            assert self.invoker is not None
            name, _, qualifier = resource.removeprefix("function:").partition(":")
            await self.invoker.resolve(name, qualifier or None)  # a destination that is gone fails the delivery
            await self.accept(AsyncEvent(str(uuid.uuid4()), name, qualifier or None, delivery.body, self._clock()))
        elif service == "sqs":
            body = delivery.body.decode(errors="replace")
            await self._queues.send(delivery.target, body, attributes=delivery.attributes)
        else:
            raise ResourceNotFound(f"Firebox cannot deliver to {delivery.target}")


def _arn_parts(arn: str) -> tuple[str, str]:
    """(service, resource) of an ARN such as arn:aws:sqs:us-east-1:000000000000:name."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return "", arn
    return parts[2], parts[5]
