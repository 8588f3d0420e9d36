"""Consumes `auth.revocation.events` on a thread and hands each event to the event loop.

Every API instance must see every revocation, so each consumes all partitions itself: it is
*assigned* every partition at the end of the log (its own consumer group id, no group
membership, no rebalance pause, no committed offsets). What it misses before the assignment or
during an outage is covered by the periodic MongoDB resync of the durable revocations.
"""

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from caas_core.domain.revocations import REVOCATION_TOPIC

logger = logging.getLogger(__name__)

_RETRY_SECONDS: Final = 1.0

Handler = Callable[[Mapping[str, Any]], None]


class RevocationFeed:
    """A background consumer thread; `assigned` is set once it reads the topic's live end."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group_id: str,
        handler: Handler,
        topic: str = REVOCATION_TOPIC,
        timeout: float = 5.0,
    ) -> None:
        self._config = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            # Latency over throughput: answer fetches as soon as one byte is there.
            "fetch.wait.max.ms": 10,
            "fetch.min.bytes": 1,
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
        self.assigned = threading.Event()
        self.received = 0
        self._thread = threading.Thread(target=self._run, name="revocation-feed", daemon=True)

    def start(self) -> None:
        """Start consuming (call from the event loop that handles the events)."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    async def stop(self) -> None:
        """Stop the thread and close the consumer."""
        self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, self._timeout + 2)

    def _run(self) -> None:
        consumer = Consumer(self._config)
        try:
            while not self._stop.is_set() and not self._assign(consumer):
                self._stop.wait(_RETRY_SECONDS)
            while not self._stop.is_set():
                message = consumer.poll(0.1)
                if message is None:
                    continue
                if message.error() is not None:
                    # Transient broker errors; librdkafka reconnects by itself.
                    logger.debug("revocation feed error", extra={"error": str(message.error())})
                    continue
                self._dispatch(message.value())
        except Exception:  # the thread must not die silently; the resync still covers
            logger.exception("revocation feed stopped")
        finally:
            with contextlib.suppress(Exception):
                consumer.close()

    def _assign(self, consumer: Consumer) -> bool:
        try:
            metadata = consumer.list_topics(self._topic, timeout=self._timeout)
        except KafkaException as exc:
            logger.warning(
                "revocation feed cannot reach Kafka; retrying", extra={"error": str(exc)}
            )
            return False
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            logger.warning("revocation topic not available yet", extra={"topic": self._topic})
            return False
        # Explicit high-watermark offsets, not OFFSET_END (resolved lazily at the first fetch):
        # from here on every event is read, so a snapshot taken afterwards leaves no gap.
        assignment = []
        for partition in topic.partitions:
            try:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topic, partition), timeout=self._timeout
                )
            except KafkaException:
                high = OFFSET_END
            assignment.append(TopicPartition(self._topic, partition, high))
        consumer.assign(assignment)
        self.assigned.set()
        logger.info("revocation feed assigned", extra={"partitions": len(topic.partitions)})
        return True

    def _dispatch(self, value: bytes | None) -> None:
        try:
            event = json.loads(value or b"")
        except ValueError:
            logger.warning("revocation event is not JSON; ignored")
            return
        if not isinstance(event, dict) or self._loop is None:
            return
        self.received += 1
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._handler, event)
