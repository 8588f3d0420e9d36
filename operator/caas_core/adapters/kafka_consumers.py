"""Leaving a Kafka consumer group safely: what every group member of the platform does on stop."""

from __future__ import annotations

import contextlib
import time

from confluent_kafka import Consumer


def leave_group(consumer: Consumer, *, timeout: float) -> None:
    """Close a group member without letting `close()` run the rebalance callback.

    confluent-kafka calls librdkafka's `rd_kafka_rebalance_protocol()` at the start of every
    rebalance callback, and that call can block forever when the callback is run by
    `rd_kafka_consumer_close()` (librdkafka#4041) — seen here as a dispatcher that never
    stopped because another member joined the group while it closed. So the member unsubscribes
    first and lets `consume()` serve the revocation, where its `on_revoke` drains and commits as
    in any rebalance, then closes with nothing assigned. Records fetched meanwhile are not
    handled and their offsets not committed: the partition's next owner reads them again.
    Best effort: errors are swallowed and the close always runs.
    """
    with contextlib.suppress(Exception):
        consumer.unsubscribe()
        deadline = time.monotonic() + timeout
        while consumer.assignment() and time.monotonic() < deadline:
            consumer.consume(num_messages=1, timeout=0.1)
    with contextlib.suppress(Exception):
        consumer.close()
