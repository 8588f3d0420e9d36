"""The dispatcher's Kafka side: one consumer-group member on `platform.events`, `events` and
`internal.retry`, on a thread; every record handled as a task on the event loop.

Records of a partition are handled concurrently (one slow endpoint never stalls the others);
the position committed for a partition is the first record whose outcome is not yet durable
(`OffsetTracker`), committed every `_COMMIT_SECONDS`. A crash therefore re-reads what was
in flight — delivered again under the same `webhook-id`, never dropped.

Rebalance: partitions taken away are drained first (in-flight attempts get `drain_seconds`, more
than an attempt's deadline, to become durable: an attempt is never cut off mid-request and sent
again by the new owner, the duplicate Svix makes when its pending timeout is shorter than its
request timeout; retries still waiting for their due time are let go at once — the new owner
waits for them), their positions committed, then released. Kafka restarting: librdkafka
reconnects by itself; commits that fail are made again on the next tick (nothing is marked
committed until Kafka said so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException, TopicPartition

from caas_control_plane.dispatcher.engine import Engine
from caas_control_plane.dispatcher.messages import (
    EVENT_TOPICS,
    RETRY_TOPIC,
    BadMessageError,
    decode_event,
    decode_retry,
)
from caas_control_plane.dispatcher.metrics import DispatcherMetrics
from caas_control_plane.dispatcher.offsets import OffsetTracker
from caas_core.adapters.kafka_consumers import leave_group

logger = logging.getLogger(__name__)

_BATCH: Final = 1000
_COMMIT_SECONDS: Final = 0.2
_LAG_SECONDS: Final = 5.0

TP = tuple[str, int]
Item = tuple[TP, int, int, bytes | None]  # partition, offset, epoch, value


class DispatchConsumer:
    """Reads records and hands them to the engine; commits what became durable."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group_id: str,
        engine: Engine,
        metrics: DispatcherMetrics,
        max_in_flight: int,
        offset_reset: str = "earliest",
        timeout: float = 5.0,
        drain_seconds: float = 20.0,
        topics: tuple[str, ...] = (*EVENT_TOPICS, RETRY_TOPIC),
    ) -> None:
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
            # A new group starts at the oldest record Kafka keeps: nothing published before the
            # first dispatcher started is skipped.
            "auto.offset.reset": offset_reset,
            "partition.assignment.strategy": "cooperative-sticky",
            "socket.connection.setup.timeout.ms": int(timeout * 1000),
            "reconnect.backoff.ms": 200,
            "reconnect.backoff.max.ms": 2000,
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1000,
            "log_level": 2,
        }
        self._topics = topics
        self._engine = engine
        self._metrics = metrics
        self._max = max_in_flight
        self._drain_seconds = drain_seconds
        self._tracker = OffsetTracker()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._tasks: dict[TP, set[asyncio.Task[None]]] = {}
        self._waiting: set[asyncio.Task[None]] = set()
        self._paused: set[TP] = set()
        self.assigned = threading.Event()
        self.handled = 0
        self._thread = threading.Thread(target=self._run, name="webhook-consumer", daemon=True)

    def start(self) -> None:
        """Start consuming (call from the event loop that runs the engine)."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the consumer thread runs."""
        return self._thread.is_alive()

    async def stop(self) -> None:
        """Leave the group after draining (in-flight attempts finish and are committed)."""
        self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, self._drain_seconds + 30)

    # -- the consumer thread ------------------------------------------------------------------

    def _run(self) -> None:
        consumer = Consumer(self._config)
        last_commit = last_lag = 0.0
        try:
            consumer.subscribe(
                list(self._topics),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            while not self._stop.is_set():
                # What librdkafka has fetched already, at once; only when nothing is there, wait
                # (briefly) for one record: consume() with a timeout waits for a full batch.
                records = consumer.consume(num_messages=_BATCH, timeout=0)
                if not records:
                    records = consumer.consume(num_messages=1, timeout=0.05)
                items: list[Item] = []
                with self._lock:
                    for record in records:
                        if record.error() is not None:  # transient; librdkafka reconnects
                            continue
                        tp = (str(record.topic()), int(record.partition() or 0))
                        offset = int(record.offset() or 0)
                        epoch = self._tracker.started(tp, offset)
                        items.append((tp, offset, epoch, record.value()))
                if items and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._spawn, items)
                now = time.monotonic()
                if now - last_commit >= _COMMIT_SECONDS:
                    last_commit = now
                    self._commit(consumer)
                    self._flow(consumer)
                if now - last_lag >= _LAG_SECONDS:
                    last_lag = now
                    self._measure(consumer)
        except Exception:
            logger.exception("webhook consumer stopped")
        finally:
            # Revokes (drains and commits first), without close() running the callback.
            leave_group(consumer, timeout=self._drain_seconds + 10)

    def _commit(self, consumer: Consumer, tps: list[TP] | None = None) -> None:
        with self._lock:
            moved = self._tracker.committable(tps)
            self._metrics.in_flight.set(self._tracker.in_flight())
        if not moved:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in moved.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            # Kafka away or the group rebalancing: committed again on the next tick.
            logger.debug("webhook consumer offsets not committed", extra={"error": str(exc)})
            return
        with self._lock:
            self._tracker.committed(moved)

    def _flow(self, consumer: Consumer) -> None:
        """Pause reading a kind of record while too many of it are in flight."""
        with self._lock:
            busy = {topic: self._tracker.in_flight(topic) >= self._max for topic in self._topics}
            calm = {
                topic: self._tracker.in_flight(topic) < self._max // 2 for topic in self._topics
            }
        try:
            assignment = [(p.topic, p.partition) for p in consumer.assignment()]
        except KafkaException:
            return
        event_busy = any(busy[t] for t in self._topics if t != RETRY_TOPIC)
        event_calm = all(calm[t] for t in self._topics if t != RETRY_TOPIC)
        pause, resume = [], []
        for tp in assignment:
            hot = event_busy if tp[0] != RETRY_TOPIC else busy.get(RETRY_TOPIC, False)
            cool = event_calm if tp[0] != RETRY_TOPIC else calm.get(RETRY_TOPIC, True)
            if hot and tp not in self._paused:
                pause.append(tp)
            elif cool and tp in self._paused:
                resume.append(tp)
        with contextlib.suppress(KafkaException):
            if pause:
                consumer.pause([TopicPartition(t, p) for t, p in pause])
                self._paused.update(pause)
            if resume:
                consumer.resume([TopicPartition(t, p) for t, p in resume])
                self._paused.difference_update(resume)

    def _measure(self, consumer: Consumer) -> None:
        lag: dict[str, int] = dict.fromkeys(self._topics, 0)
        try:
            assignment = consumer.assignment()
            positions = consumer.position(assignment)
            for part in positions:
                _, high = consumer.get_watermark_offsets(part, timeout=1.0)
                position = part.offset if part.offset >= 0 else high
                lag[part.topic] = lag.get(part.topic, 0) + max(0, high - position)
        except KafkaException:
            return
        for topic, value in lag.items():
            self._metrics.lag.labels(topic).set(value)
        self._metrics.retry_depth.set(self._engine.waiting_retries + lag.get(RETRY_TOPIC, 0))

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("webhook consumer assigned", extra={"partitions": len(partitions)})
        self.assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        self._drain(tps)
        self._commit(consumer, tps)
        self._release(tps)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member owns them already: nothing may be committed; let go at once.
        tps = [(p.topic, p.partition) for p in partitions]
        self._drain(tps, timeout=0.0)
        self._release(tps)

    def _release(self, tps: list[TP]) -> None:
        with self._lock:
            self._tracker.revoke(tps)
        self._paused.difference_update(tps)
        logger.info("webhook consumer released partitions", extra={"partitions": len(tps)})

    def _drain(self, tps: list[TP], timeout: float | None = None) -> None:
        timeout = self._drain_seconds if timeout is None else timeout
        if self._loop is None or self._loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self._drained(tps, timeout), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout + 5)

    # -- the event loop -------------------------------------------------------------------------

    def _spawn(self, items: list[Item]) -> None:
        assert self._loop is not None
        for tp, offset, epoch, value in items:
            task = self._loop.create_task(self._handle(tp, offset, epoch, value))
            tasks = self._tasks.setdefault(tp, set())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _handle(self, tp: TP, offset: int, epoch: int, value: bytes | None) -> None:
        topic = tp[0]
        while True:
            try:
                await self._handle_once(topic, value)
                break
            except BadMessageError as exc:
                self._metrics.bad_messages.labels(topic).inc()
                logger.warning("record skipped", extra={"topic": topic, "error": str(exc)})
                break
            except Exception:
                # A bug, not a backend (the engine retries those itself): keep the record
                # unhandled rather than lose it, and try again.
                logger.exception("webhook record not handled; trying again")
                await asyncio.sleep(1.0)
        with self._lock:
            self._tracker.finished(tp, offset, epoch)
        self.handled += 1

    async def _handle_once(self, topic: str, value: bytes | None) -> None:
        if topic != RETRY_TOPIC:
            await self._engine.on_event(decode_event(value))
            return
        delivery = decode_retry(value)
        task = asyncio.current_task()
        assert task is not None
        self._waiting.add(task)
        try:
            await self._engine.wait_due(delivery)
        finally:
            self._waiting.discard(task)
        await self._engine.on_retry(delivery)

    async def _drained(self, tps: list[TP], grace: float) -> None:
        tasks = {task for tp in tps for task in self._tasks.pop(tp, set())}
        for task in tasks & self._waiting:
            task.cancel()
        busy = [t for t in tasks if not t.done()]
        if busy and grace > 0:
            await asyncio.wait(busy, timeout=grace)
        for task in busy:
            task.cancel()
