"""`kubectl apply` of a Tenant gives it its own slice of every backend, verified in each one."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from confluent_kafka.admin import AdminClient
from pymongo import MongoClient

from tests.conftest import Stack
from tests.e2e.conftest import kubectl

TENANT_COLLECTIONS = {"users", "sessions", "devices"}


def _manifest(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "platform.caas.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {
                "displayName": f"E2E {name}",
                "kafka": {"topics": [{"suffix": "events", "retentionMs": 3600000}]},
                "deletionPolicy": "Delete",
            },
        }
    )


@pytest.fixture
def tenant(running_platform: Stack) -> Iterator[str]:
    """A fresh Tenant applied with kubectl and Ready; deleted (and its data dropped) afterwards."""
    stack = running_platform
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    kubectl(stack, "apply", "-f", "-", stdin=_manifest(name))
    waited = kubectl(
        stack, "wait", f"tenant/{name}", "--for=condition=Ready", "--timeout=120s", check=False
    )
    if "condition met" not in waited:
        described = kubectl(stack, "get", f"tenant/{name}", "-o", "yaml", check=False)
        pytest.fail(
            f"tenant {name} did not become Ready:\n{described}\noperator log: "
            f"{stack.conf.logs_dir / 'caas-operator.log'}",
            pytrace=False,
        )
    yield name
    # deletionPolicy Delete: the operator drops the database and topics itself.
    kubectl(stack, "delete", f"tenant/{name}", "--ignore-not-found", "--timeout=120s")
    client: MongoClient[dict[str, object]] = MongoClient(stack.mongodb_uri)
    try:
        assert client[f"tenant_{name.replace('-', '_')}"].list_collection_names() == []
    finally:
        client.close()
    topics = AdminClient({"bootstrap.servers": stack.kafka_bootstrap}).list_topics(timeout=10)
    assert f"tenant.{name}.events" not in topics.topics


def _secret(stack: Stack, tenant: str) -> dict[str, str]:
    raw = json.loads(
        kubectl(stack, "get", "secret", "caas-tenant-credentials", "-n", f"tenant-{tenant}", "-o",
                "json")
    )  # fmt: skip
    return {k: base64.b64decode(v).decode() for k, v in raw["data"].items()}


def test_applied_tenant_is_ready_with_every_backend_object(stack: Stack, tenant: str) -> None:
    resource = json.loads(kubectl(stack, "get", f"tenant/{tenant}", "-o", "json"))
    conditions = {c["type"]: c for c in resource["status"]["conditions"]}
    for kind in ("Ready", "Synced", "MongoReady", "KafkaReady", "RedisReady"):
        assert conditions[kind]["status"] == "True", conditions[kind]
        assert conditions[kind]["observedGeneration"] == resource["metadata"]["generation"]

    namespace = json.loads(kubectl(stack, "get", "namespace", f"tenant-{tenant}", "-o", "json"))
    assert namespace["metadata"]["labels"]["platform.caas.io/tenant"] == tenant

    client: MongoClient[dict[str, object]] = MongoClient(stack.mongodb_uri)
    try:
        database = client[f"tenant_{tenant.replace('-', '_')}"]
        assert set(database.list_collection_names()) >= TENANT_COLLECTIONS
        # The plan reaches the control plane, which enforces its quotas.
        profile = client["caas_platform"]["saas_clients"].find_one({"_id": tenant})
        assert profile is not None
        assert profile["plan"]["maxApiKeys"] == resource["spec"]["plan"]["maxApiKeys"]
    finally:
        client.close()

    topics = AdminClient({"bootstrap.servers": stack.kafka_bootstrap}).list_topics(timeout=10)
    assert f"tenant.{tenant}.events" in topics.topics
    # The Kafka principal's credentials are in the Secret (the stack's Kafka has an authorizer).
    credentials = _secret(stack, tenant)
    assert credentials["kafkaUsername"] == f"tenant-{tenant}"
    assert credentials["kafkaSaslMechanism"] == "SCRAM-SHA-512"


def test_tenant_redis_user_is_confined_to_its_prefix(stack: Stack, tenant: str) -> None:
    admin = redis.Redis.from_url(stack.redis_url)
    admin.set("t:someone-else:secret", "x")
    credentials = _secret(stack, tenant)
    user = redis.Redis(
        host="127.0.0.1",
        port=stack.conf.ports.redis,
        username=credentials["redisUsername"],
        password=credentials["redisPassword"],
    )
    try:
        user.set(f"t:{tenant}:greeting", "hello")
        assert user.get(f"t:{tenant}:greeting") == b"hello"
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.get("t:someone-else:secret")
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.keys("*")
    finally:
        admin.delete("t:someone-else:secret", f"t:{tenant}:greeting")
        user.close()
        admin.close()
