"""Backend outages under load: Kafka restarted mid-load, the dispatcher recovers by itself (no
restart, nothing lost) — on a private single-node Kafka this test starts from the stack's own
binaries, so the shared broker never goes down for anyone else. Redis: the dispatcher does not
use it at all (limits are per process), so it runs here with Redis unreachable throughout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_core.adapters import kafka
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.domain.topics import platform_topics
from caasctl.stack import probes
from caasctl.stack.components import KAFKA
from caasctl.stack.config import Ports, StackConfig
from caasctl.stack.processes import Process
from tests.integration.control_plane.conftest import CLOSED_PORT_URL, free_port
from tests.integration.dispatcher.support import (
    Events,
    await_for,
    failing_first,
    register,
    unique_tenant,
    wait_for,
)


class PrivateKafka:
    """A single-node KRaft broker on free ports with its own data directory."""

    def __init__(self, home: Path) -> None:
        self.conf = StackConfig(
            cache_dir=StackConfig.from_env().cache_dir,
            home=home,
            ports=Ports(kafka=free_port(), kafka_controller=free_port(), kafka_sasl=free_port()),
        )
        self.process = Process("kafka", self.conf.run_dir)
        self.bootstrap = f"127.0.0.1:{self.conf.ports.kafka}"
        self.was_down = False
        KAFKA.prepare(self.conf)

    def start(self) -> None:
        self.process.start(KAFKA.argv(self.conf), log=self.conf.logs_dir / "kafka.log")
        wait_for(lambda: probes.kafka_metadata(self.bootstrap) is None, timeout=90, what="Kafka up")

    def stop(self) -> None:
        self.process.stop()
        # Really down: a metadata request now fails.
        self.was_down = probes.kafka_metadata(self.bootstrap) is not None


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[PrivateKafka]:
    broker = PrivateKafka(tmp_path / "kafka")
    broker.start()
    try:
        report = asyncio.run(
            kafka.ensure_topics(kafka.connect(broker.bootstrap), platform_topics(), timeout=60)
        )
        assert not report.drifts
        yield broker
    finally:
        broker.stop()


async def test_kafka_restarted_mid_load_with_redis_down_loses_nothing(
    private_kafka: PrivateKafka,
    dispatcher: Callable[..., Any],
    receivers: Callable[..., Any],
    store: WebhookStore,
    sealer: WebhookSecretSealer,
) -> None:
    tenant = unique_tenant("outage")
    # Every message fails once: each one also goes through internal.retry on this broker.
    receiver = receivers(behaviour=failing_first(1, 503))
    await register(store, sealer, tenant=tenant, url=receiver.url)
    events = Events(private_kafka.bootstrap)
    ids: list[str] = []

    def publish(n: int) -> None:
        for _ in range(n):
            ids.extend(events.publish(tenant, 10))
            time.sleep(0.05)

    async with dispatcher(
        KAFKA_BOOTSTRAP_SERVERS=private_kafka.bootstrap,
        REDIS_URL=f"redis://default:x@{CLOSED_PORT_URL}/0",
        CAAS_BACKEND_TIMEOUT_SECONDS="2",
    ) as process:
        await await_for(process.consumer.assigned.is_set, what="assigned")
        publish(10)
        await await_for(lambda: receiver.event_ids() >= set(ids), what="the first events")
        load = threading.Thread(target=publish, args=(60,))
        load.start()
        # Restart the broker mid-load (its producer buffers what is published meanwhile).
        restarted = threading.Thread(target=lambda: (private_kafka.stop(), private_kafka.start()))
        restarted.start()
        await await_for(lambda: not restarted.is_alive(), timeout=120, what="Kafka restarted")
        await await_for(lambda: not load.is_alive(), timeout=120, what="the load published")
        events.close()
        await await_for(
            lambda: {r.body["id"] for r in receiver.received if r.seen > 0} >= set(ids),
            timeout=120,
            what="every event delivered after its retry",
        )
        failed_once = process.metrics.failures.labels("http_5xx")._value.get()
    assert private_kafka.was_down
    assert len(ids) == 700
    assert failed_once >= 700  # every message failed once and was retried through internal.retry
