"""The verifier's `platform.audit` consumer: a member of its consumer group, on a thread.

Unlike the API's revocation feed (every instance reads everything), the verifiers of a
deployment share the work: one consumer group (`audit-verifier`), each partition read by one
member, and Kafka keeps the group's position. Offsets are committed only after a batch has been
handled (its entries found, compared and their logs verified): a verifier that dies mid-batch
reads the batch again after a restart, which is harmless (every check is idempotent). A batch
whose handling fails (MongoDB away) is read again from its first offset after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from caas_core.adapters.audit import AUDIT_TOPIC
from caas_core.adapters.kafka_consumers import leave_group

logger = logging.getLogger(__name__)

_BATCH: Final = 500
_RETRY_SECONDS: Final = 1.0

Handler = Callable[[Sequence[Mapping[str, Any]]], Coroutine[Any, Any, None]]


def decode(values: Sequence[bytes | None]) -> list[Mapping[str, Any]]:
    """The JSON objects among message values (anything else is not an audit event: skipped)."""
    decoded: list[Mapping[str, Any]] = []
    for value in values:
        try:
            event = json.loads(value or b"")
        except ValueError:
            logger.warning("platform.audit message is not JSON; skipped")
            continue
        if isinstance(event, dict):
            decoded.append(event)
    return decoded


class AuditConsumer:
    """Reads `platform.audit` in a consumer group and hands batches to the event loop."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group_id: str,
        handler: Handler,
        topic: str = AUDIT_TOPIC,
        offset_reset: str = "earliest",
        timeout: float = 5.0,
    ) -> None:
        self._config = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
            # A new group starts at the oldest message Kafka keeps: every retained event is
            # compared with its entry once (tests start at the end with their own group).
            "auto.offset.reset": offset_reset,
            "socket.connection.setup.timeout.ms": int(timeout * 1000),
            "reconnect.backoff.ms": 500,
            "reconnect.backoff.max.ms": 5000,
            "log_level": 2,
        }
        self._topic = topic
        self._timeout = timeout
        self._handler = handler
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self.assigned = threading.Event()  # set once the group gave this member partitions
        self.handled = 0  # messages handled and committed
        self._thread = threading.Thread(target=self._run, name="audit-consumer", daemon=True)

    def start(self) -> None:
        """Start consuming (call from the event loop that runs the handler)."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the consumer thread is running."""
        return self._thread.is_alive()

    async def stop(self) -> None:
        """Stop the thread and leave the group."""
        self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, self._timeout + 15)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("audit consumer assigned", extra={"partitions": len(partitions)})
        self.assigned.set()

    def _run(self) -> None:
        consumer = Consumer(self._config)
        try:
            consumer.subscribe([self._topic], on_assign=self._on_assign)
            while not self._stop.is_set():
                messages = consumer.consume(num_messages=_BATCH, timeout=0.5)
                good = [m for m in messages if m.error() is None]
                for message in messages:
                    if message.error() is not None:  # transient; librdkafka reconnects
                        logger.debug("audit consumer", extra={"error": str(message.error())})
                if good and not self._handle(consumer, good):
                    continue
                if good:
                    self._commit(consumer)
                    self.handled += len(good)
        except Exception:  # the thread must not die silently; the periodic passes still verify
            logger.exception("audit consumer stopped")
        finally:
            leave_group(consumer, timeout=self._timeout + 5)

    def _handle(self, consumer: Consumer, messages: list[Message]) -> bool:
        """Run the handler on the loop and wait; on failure rewind to the batch's start."""
        if self._loop is None:
            return False
        batch = decode([m.value() for m in messages])
        future = asyncio.run_coroutine_threadsafe(self._handler(batch), self._loop)
        try:
            future.result()
        except Exception:
            logger.exception("audit messages not verified; reading them again")
            self._rewind(consumer, messages)
            self._stop.wait(_RETRY_SECONDS)
            return False
        return True

    @staticmethod
    def _rewind(consumer: Consumer, messages: list[Message]) -> None:
        first: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (str(message.topic()), int(message.partition() or 0))
            offset = int(message.offset() or 0)
            first[key] = min(offset, first.get(key, offset))
        for (topic, partition), offset in first.items():
            with contextlib.suppress(KafkaException):
                consumer.seek(TopicPartition(topic, partition, offset))

    @staticmethod
    def _commit(consumer: Consumer) -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            # Kafka went away after the batch was read: the batch is read again later, and
            # handling it twice changes nothing.
            logger.warning("audit consumer offsets not committed", extra={"error": str(exc)})
