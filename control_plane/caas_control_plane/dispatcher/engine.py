"""The delivery engine: one event to its endpoints, one retry when due, each attempt's outcome
made durable before the message counts as handled.

Durable means, in this order: the follow-up acknowledged by Kafka (a retry on
`internal.retry`, a dead letter on `internal.dlq`), the endpoint disabled (with its event, in
one transaction), then the attempt in the log. The log comes last so that a logged attempt
proves its follow-up exists: a retry re-read after a crash whose attempt is logged is skipped
instead of sent twice. A backend that fails (Kafka or MongoDB restarting) is retried with
backoff until it answers: the message stays unhandled (its offset uncommitted) meanwhile, and
the POST is not repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from caas_control_plane.dispatcher.client import Attempted, WebhookClient
from caas_control_plane.dispatcher.endpoints import DeliveryOptions, EndpointDirectory, Target
from caas_control_plane.dispatcher.limits import TokenBucket
from caas_control_plane.dispatcher.messages import DLQ_TOPIC, RETRY_TOPIC, Delivery, Event
from caas_control_plane.dispatcher.metrics import DispatcherMetrics
from caas_control_plane.dispatcher.outcomes import (
    AttemptResult,
    Decision,
    FailureKind,
    State,
    Verdict,
    decide,
)
from caas_control_plane.dispatcher.schedule import RetrySchedule
from caas_control_plane.dispatcher.signing import sign_headers, webhook_id
from caas_control_plane.stores.webhook_attempts import EXCERPT_CHARS, attempt_id
from caas_core.adapters.outbox import KafkaPublisher, OutboxMessage
from caas_core.domain.webhook_records import WebhookEndpoint
from caas_core.domain.webhook_secrets import SecretUnavailableError, SigningSecrets

logger = logging.getLogger(__name__)

T = TypeVar("T")
_BACKOFF_MAX: Final = 5.0
_SECRETS_TTL: Final = 30.0


class KafkaNotAcknowledgedError(RuntimeError):
    """Kafka did not acknowledge a record (it is produced again)."""


class AttemptLog(Protocol):
    """What the engine needs of the attempt log (`stores.webhook_attempts`)."""

    async def record(self, doc: dict[str, Any]) -> None: ...
    async def recorded(self, doc_id: str) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """The engine's policy."""

    schedule: RetrySchedule
    disable_after: float
    defaults: DeliveryOptions


@dataclass(slots=True)
class _Gate:
    """Per-endpoint limits in this process."""

    concurrency: asyncio.Semaphore
    bucket: TokenBucket | None
    order: asyncio.Lock = field(default_factory=asyncio.Lock)
    options: DeliveryOptions | None = None


class Engine:
    """Delivers; one per dispatcher process."""

    def __init__(
        self,
        *,
        directory: EndpointDirectory,
        secrets: SigningSecrets,
        client: WebhookClient,
        log: AttemptLog,
        publisher: KafkaPublisher,
        config: EngineConfig,
        metrics: DispatcherMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._secrets = secrets
        self._client = client
        self._log = log
        self._publisher = publisher
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._gates: dict[str, _Gate] = {}
        self._secret_cache: dict[tuple[str, datetime, str], tuple[float, tuple[str, ...]]] = {}
        self.waiting_retries = 0

    # -- entry points (one per consumed record) ------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """Deliver a fresh event to every endpoint of its tenant that subscribes to its type."""
        targets = self._directory.matching(event.tenant, event.type)
        if len(targets) == 1:
            await self._deliver(Delivery(event=event, endpoint_id=targets[0].endpoint.endpoint_id))
        elif targets:
            await asyncio.gather(
                *(
                    self._deliver(Delivery(event=event, endpoint_id=t.endpoint.endpoint_id))
                    for t in targets
                )
            )

    async def wait_due(self, delivery: Delivery) -> None:
        """Sleep until the retry is due (other work goes on meanwhile)."""
        delay = delivery.due_at - self._clock()
        if delay <= 0:
            return
        self.waiting_retries += 1
        try:
            await asyncio.sleep(delay)
        finally:
            self.waiting_retries -= 1

    async def on_retry(self, delivery: Delivery) -> None:
        """Attempt a due retry, unless its attempt is already logged (a re-read record)."""
        wid = webhook_id(delivery.event.id, delivery.endpoint_id)
        done = await self._durably(
            "read the attempt log",
            lambda: self._log.recorded(attempt_id(wid, delivery.round, delivery.attempt)),
        )
        if not done:
            await self._deliver(delivery)

    # -- one message for one endpoint -----------------------------------------------------------

    async def _deliver(self, delivery: Delivery) -> None:
        target = self._directory.get(delivery.endpoint_id)
        if target is None or target.endpoint.tenant != delivery.event.tenant:
            # Unregistered since (or never this tenant's): nothing to deliver to, nothing to keep.
            logger.info(
                "webhook endpoint gone; message dropped", extra={"endpoint": delivery.endpoint_id}
            )
            return
        if not target.endpoint.delivering:
            await self._not_delivering(delivery, target)
            return
        gate = self._gate(target)
        if target.options.ordered:
            async with gate.order:  # FIFO: deliveries to this endpoint in the order read
                await self._attempts_in_order(delivery, target, gate)
        else:
            decision, attempted = await self._attempt(delivery, target, gate)
            await self._settle(delivery, target, attempted, decision)

    async def _attempts_in_order(self, delivery: Delivery, target: Target, gate: _Gate) -> None:
        """Ordered endpoints retry in place: the next message waits for this one's outcome."""
        while True:
            decision, attempted = await self._attempt(delivery, target, gate)
            await self._settle(delivery, target, attempted, decision, inline=True)
            if decision.state is not State.RETRYING or decision.delay is None:
                return
            await asyncio.sleep(decision.delay)
            delivery = Delivery(
                event=delivery.event,
                endpoint_id=delivery.endpoint_id,
                attempt=delivery.attempt + 1,
                round=delivery.round,
            )

    async def _attempt(
        self, delivery: Delivery, target: Target, gate: _Gate
    ) -> tuple[Decision, Attempted]:
        endpoint = target.endpoint
        async with gate.concurrency:
            if gate.bucket is not None:
                wait = gate.bucket.wait(time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
            now = self._clock()
            try:
                secrets = await self._signing_secrets(endpoint, now)
                headers = sign_headers(
                    secrets,
                    msg_id=webhook_id(delivery.event.id, endpoint.endpoint_id),
                    timestamp=int(now),
                    body=delivery.event.body,
                )
            except Exception as exc:  # SecretUnavailableError, or the apiserver away
                if not isinstance(exc, SecretUnavailableError | ValueError):
                    logger.warning("signing secret not read", extra={"error": repr(exc)[:300]})
                attempted = Attempted(
                    result=AttemptResult(failure=FailureKind.SECRET_UNAVAILABLE, detail=str(exc)),
                    latency_ms=0.0,
                    excerpt="",
                    address=None,
                )
            else:
                attempted = await self._client.post(endpoint.url, headers, delivery.event.body)
        self._observe(attempted)
        failing_for = None
        if not attempted.result.ok:
            failing_for = await self._durably(
                "record the endpoint's failure",
                lambda: self._directory.failed(endpoint.endpoint_id, self._clock()),
            )
        decision = decide(
            state=State.PENDING if delivery.attempt == 1 else State.RETRYING,
            attempt=delivery.attempt,
            result=attempted.result,
            schedule=self._config.schedule,
            failing_for=failing_for,
            disable_after=self._config.disable_after,
        )
        return decision, attempted

    async def _settle(
        self,
        delivery: Delivery,
        target: Target,
        attempted: Attempted,
        decision: Decision,
        *,
        inline: bool = False,
    ) -> None:
        now = self._clock()
        endpoint = target.endpoint
        result = attempted.result
        next_at = None if decision.delay is None else now + decision.delay
        if decision.state is State.RETRYING and not inline:
            assert next_at is not None
            retry = Delivery(
                event=delivery.event,
                endpoint_id=delivery.endpoint_id,
                attempt=delivery.attempt + 1,
                round=delivery.round,
                due_at=next_at,
            )
            await self._produce(RETRY_TOPIC, delivery.endpoint_id, retry.to_retry(), retry)
        elif decision.state in (State.DEAD, State.ENDPOINT_DISABLED):
            reason = _reason(result, decision)
            letter = delivery.to_dead_letter(reason=reason, status=result.status, at=now)
            await self._produce(DLQ_TOPIC, delivery.endpoint_id, letter, delivery)
            self._metrics.dead_letters.inc()
        if decision.disable_endpoint:
            reason = _reason(result, decision)
            if await self._durably(
                "disable the endpoint",
                lambda: self._directory.disable(endpoint, reason=reason, now=self._clock()),
            ):
                self._metrics.disabled.inc()
                logger.warning(
                    "webhook endpoint disabled",
                    extra={"endpoint": endpoint.endpoint_id, "tenant": endpoint.tenant,
                           "reason": reason},
                )  # fmt: skip
        if decision.state is State.DELIVERED:
            await self._durably(
                "record the endpoint's success",
                lambda: self._directory.succeeded(endpoint.endpoint_id),
            )
        wid = webhook_id(delivery.event.id, endpoint.endpoint_id)
        doc = {
            "_id": attempt_id(wid, delivery.round, delivery.attempt),
            "tenant": endpoint.tenant,
            "endpointId": endpoint.endpoint_id,
            "eventId": delivery.event.id,
            "eventType": delivery.event.type,
            "webhookId": wid,
            "round": delivery.round,
            "attempt": delivery.attempt,
            "state": decision.state.value,
            "status": result.status,
            "failure": None if result.failure is None else result.failure.value,
            "detail": result.detail[:EXCERPT_CHARS] or None,
            "latencyMs": round(attempted.latency_ms, 2),
            "response": attempted.excerpt[:EXCERPT_CHARS] or None,
            "nextRetryAt": None if next_at is None else datetime.fromtimestamp(next_at, UTC),
            "replayedAt": None,
            "event": dict(delivery.event.raw),
            "at": datetime.fromtimestamp(now, UTC),
        }
        await self._durably("write the attempt log", lambda: self._log.record(doc))
        self._metrics.attempts.labels(decision.state.value).inc()
        if decision.state is State.DELIVERED:
            self._metrics.deliveries.inc()

    async def _not_delivering(self, delivery: Delivery, target: Target) -> None:
        """A retry for an endpoint disabled meanwhile: dead-lettered (recover sends it again
        once the owner re-enabled the endpoint)."""
        result = AttemptResult(failure=FailureKind.CONNECT, detail="endpoint disabled")
        decision = Decision(state=State.ENDPOINT_DISABLED, verdict=Verdict.RETRY)
        attempted = Attempted(result=result, latency_ms=0.0, excerpt="", address=None)
        await self._settle(delivery, target, attempted, decision)

    # -- plumbing -------------------------------------------------------------------------------

    async def _signing_secrets(self, endpoint: WebhookEndpoint, now: float) -> tuple[str, ...]:
        """The endpoint's live secrets, opened once and reused until the registration changes,
        a secret's overlap window ends, or `_SECRETS_TTL` passed (a Kubernetes Secret edited in
        place is seen that late at most)."""
        key = (endpoint.endpoint_id, endpoint.updated_at, endpoint.secret_fingerprint)
        cached = self._secret_cache.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        opened = await self._secrets.signing_secrets(endpoint, now=datetime.fromtimestamp(now, UTC))
        until = now + _SECRETS_TTL
        for stored in endpoint.secrets:
            if stored.expires_at is not None and stored.expires_at.timestamp() > now:
                until = min(until, stored.expires_at.timestamp())
        if len(self._secret_cache) >= 10_000:
            self._secret_cache.clear()
        self._secret_cache[key] = (until, opened)
        return opened

    def _gate(self, target: Target) -> _Gate:
        gate = self._gates.get(target.endpoint.endpoint_id)
        options = target.options
        if gate is None or gate.options != options:
            rate = options.rate_per_second
            gate = _Gate(
                concurrency=asyncio.Semaphore(1 if options.ordered else options.max_concurrency),
                bucket=None if not rate else TokenBucket(rate=rate, burst=max(1.0, rate)),
                options=options,
            )
            self._gates[target.endpoint.endpoint_id] = gate
        return gate

    async def _produce(
        self, topic: str, key: str, payload: dict[str, Any], delivery: Delivery
    ) -> None:
        wid = webhook_id(delivery.event.id, delivery.endpoint_id)
        message = OutboxMessage.new(
            topic=topic,
            key=key,
            payload=payload,
            id=f"{wid}:{delivery.round}:{delivery.attempt}",
        )

        async def produce() -> None:
            (error,) = await self._publisher.produce([message])
            if error is not None:
                raise KafkaNotAcknowledgedError(f"{topic}: {error}")

        await self._durably(f"produce to {topic}", produce)

    async def _durably(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` until it succeeds (a backend restarting), backing off."""
        delay = 0.1
        while True:
            try:
                return await operation()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "webhook dispatcher could not %s; trying again", what,
                    extra={"error": f"{type(exc).__name__}: {exc}"[:500]},
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)

    def _observe(self, attempted: Attempted) -> None:
        self._metrics.latency.observe(attempted.latency_ms / 1000)
        result = attempted.result
        if result.ok:
            return
        kind = f"http_{result.status // 100}xx" if result.status is not None else None
        if result.failure is not None:
            kind = result.failure.value
        self._metrics.failures.labels(kind or "unknown").inc()

    async def close(self) -> None:
        """Close kept connections."""
        with contextlib.suppress(Exception):
            await self._client.close()


def _reason(result: AttemptResult, decision: Decision) -> str:
    if result.status == 410:
        return "the receiver answered 410 Gone"
    if decision.state is State.ENDPOINT_DISABLED and result.detail == "endpoint disabled":
        return "the endpoint was disabled before the attempt"
    what = f"HTTP {result.status}" if result.status is not None else str(result.failure)
    if decision.state is State.ENDPOINT_DISABLED:
        return f"failing without a success for too long (last: {what})"
    return f"retries exhausted (last: {what})"
