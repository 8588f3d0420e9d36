"""A backend outage leaves a truthful per-backend status; the operator converges when it returns.

The outage is the operator's alone: it reaches Kafka (bootstrap) and Redis through proxies this
test cuts, so the shared servers stay up for everyone else; and that operator handles only this
test's Tenants (a label selector), so no other Tenant on the shared cluster sees the outage.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import Stack
from tests.e2e.operator.support import (
    Backends,
    Kube,
    OperatorProcess,
    TcpProxy,
    database,
    index_claims,
    tenants,
    unique,
    wait_for,
)

LABEL = "e2e.caas.io/outage"
SUITE = uuid.uuid4().hex[:8]


@pytest.fixture
def proxies(stack: Stack, operator: OperatorProcess) -> Iterator[tuple[TcpProxy, TcpProxy]]:
    """The operator restarted behind a Kafka bootstrap proxy and a Redis proxy (both up)."""
    kafka_proxy = TcpProxy(stack.conf.ports.kafka)
    redis_proxy = TcpProxy(stack.conf.ports.redis)
    redis_url = urlsplit(stack.redis_url)
    credentials = redis_url.netloc.rsplit("@", 1)[0]
    proxied_redis = urlunsplit(
        redis_url._replace(netloc=f"{credentials}@127.0.0.1:{redis_proxy.port}")
    )
    operator.stop()
    operator.start(
        {
            "CAAS_OPERATOR_TENANT_SELECTOR": f"{LABEL}={SUITE}",
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_proxy.port}",
            "REDIS_URL": proxied_redis,
            "CAAS_BACKEND_TIMEOUT_SECONDS": "2",
        }
    )
    yield kafka_proxy, redis_proxy
    operator.stop()
    kafka_proxy.down()
    redis_proxy.down()
    operator.start()
    operator.wait_metrics()


def test_kafka_down_while_mongo_and_redis_succeed_then_converges(
    proxies: tuple[TcpProxy, TcpProxy], kube: Kube, backends: Backends
) -> None:
    kafka_proxy, redis_proxy = proxies
    redis_proxy.up()  # Kafka stays unreachable for now
    name = unique("e2e-partial")
    spec = {
        "kafka": {"topics": [{"suffix": "events"}, {"suffix": "audit"}]},
        "deletionPolicy": "Delete",
    }
    with tenants(kube, name):
        kube.apply(name, spec, labels={LABEL: SUITE})
        kafka = kube.wait_condition(name, "KafkaReady", status="False", reason="KafkaUnavailable")
        assert kafka["message"]
        kube.wait_condition(name, "MongoReady")
        kube.wait_condition(name, "RedisReady")
        ready = kube.wait_condition(name, "Ready", status="False", reason="KafkaUnavailable")
        assert ready["message"].startswith("KafkaReady: ")
        synced = kube.condition(name, "Synced")
        assert synced is not None
        assert (synced["status"], synced["reason"]) == ("False", "ReconcileError")
        # Truthful: what succeeded is really there, and nothing of Kafka was made.
        assert backends.collections(name) == {"users", "sessions", "devices"}
        assert backends.redis_user(f"tenant-{name}") is not None
        assert backends.topics(f"tenant.{name}.") == {}
        assert kube.reasons(name).count("KafkaUnavailable") == 1  # one event, not one per retry

        kafka_proxy.up()
        kube.wait_condition(name, "Ready", timeout=90)
        assert sorted(backends.topics(f"tenant.{name}.")) == [
            f"tenant.{name}.audit",
            f"tenant.{name}.events",
        ]
        assert len(backends.acls(f"User:tenant-{name}")) == 8
        secret = kube.secret(name)
        assert secret is not None
        assert "kafkaPassword" in secret
        claims = sorted((c["kind"], c["name"]) for c in backends.claims(name))
        assert claims == sorted(
            [
                ("mongo-database", database(name)),
                *index_claims(name),
                ("kafka-topic", f"tenant.{name}.events"),
                ("kafka-topic", f"tenant.{name}.audit"),
                ("kafka-user", f"tenant-{name}"),
                ("redis-user", f"tenant-{name}"),
                ("mongo-user", f"tenant-{name}"),
            ]
        )


def test_redis_outage_after_provisioning_is_reported_and_recovers(
    proxies: tuple[TcpProxy, TcpProxy], kube: Kube, backends: Backends
) -> None:
    kafka_proxy, redis_proxy = proxies
    kafka_proxy.up()
    redis_proxy.up()
    name = unique("e2e-redis-out")
    with tenants(kube, name):
        kube.apply(name, {"deletionPolicy": "Delete"}, labels={LABEL: SUITE})
        kube.wait_condition(name, "Ready")
        redis_proxy.down()
        kube.wait_condition(name, "RedisReady", status="False", reason="RedisUnavailable")
        for kind in ("MongoReady", "KafkaReady"):
            condition = kube.condition(name, kind)
            assert condition is not None
            assert condition["status"] == "True"
        redis_proxy.up()
        kube.wait_condition(name, "Ready", timeout=60)
        wait_for(lambda: backends.redis_user(f"tenant-{name}") is not None, what="Redis user")
