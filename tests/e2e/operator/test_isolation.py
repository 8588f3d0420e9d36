"""Tenants made by the operator cannot reach each other's data, with their own credentials."""

from __future__ import annotations

import uuid

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from tests.conftest import Stack
from tests.e2e.operator.support import Backends, Kube, OperatorProcess, tenants, unique


def _kafka_conf(secret: dict[str, str]) -> dict[str, str]:
    return {
        "bootstrap.servers": secret["kafkaBootstrapServers"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": secret["kafkaSaslMechanism"],
        "sasl.username": secret["kafkaUsername"],
        "sasl.password": secret["kafkaPassword"],
    }


def _produce(secret: dict[str, str], topic: str) -> str:
    """Produce one record; '' on success, else the delivery error."""
    producer = Producer({**_kafka_conf(secret), "message.timeout.ms": "10000"})
    outcome: dict[str, str] = {}

    def delivered(err: KafkaError | None, _msg: object) -> None:
        outcome["error"] = "" if err is None else err.name()

    try:
        producer.produce(topic, b"hello", on_delivery=delivered)
    except KafkaException as exc:
        return str(exc.args[0].name())
    producer.flush(15)
    return outcome.get("error", "NOT_DELIVERED")


def _consume(secret: dict[str, str], topic: str, group: str) -> str:
    """Subscribe and read; '' when a record came back, else the first error seen."""
    errors: list[str] = []
    consumer = Consumer(
        {
            **_kafka_conf(secret),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "error_cb": lambda err: errors.append(err.name()),
        }
    )
    try:
        consumer.subscribe([topic])
        for _ in range(30):
            message = consumer.poll(0.5)
            if message is not None and message.error():
                return str(message.error().name())
            if message is not None:
                return ""
            if errors:
                return errors[0]
        return "NO_RECORD"
    finally:
        consumer.close()


def test_tenant_credentials_reach_only_their_own_keys_topics_and_groups(
    stack: Stack, running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    a, b = unique("e2e-iso-a"), unique("e2e-iso-b")
    spec = {
        "kafka": {"topics": [{"suffix": "events", "partitions": 1}]},
        "deletionPolicy": "Delete",
    }
    with tenants(kube, a, b):
        kube.apply(a, spec)
        kube.apply(b, spec)
        kube.wait_condition(a, "Ready")
        kube.wait_condition(b, "Ready")
        secret_a, secret_b = kube.secret(a), kube.secret(b)
        assert secret_a is not None
        assert secret_b is not None

        # Redis: A's user works under t:<a>: and is refused B's keys, channels and KEYS *.
        backends.redis.set(f"t:{b}:secret", "b-only")
        user_a = redis.Redis(
            host="127.0.0.1",
            port=stack.conf.ports.redis,
            username=secret_a["redisUsername"],
            password=secret_a["redisPassword"],
            decode_responses=True,
        )
        try:
            user_a.set(f"t:{a}:greeting", "hello")
            assert user_a.get(f"t:{a}:greeting") == "hello"
            with pytest.raises(redis.exceptions.NoPermissionError):
                user_a.get(f"t:{b}:secret")
            with pytest.raises(redis.exceptions.NoPermissionError):
                user_a.publish(f"t:{b}:chan", "x")
            with pytest.raises(redis.exceptions.NoPermissionError):
                user_a.keys("*")
            with pytest.raises(redis.exceptions.NoPermissionError):
                user_a.flushall()
        finally:
            user_a.close()
            backends.redis.delete(f"t:{b}:secret", f"t:{a}:greeting")

        # Kafka (authorizer on): A produces to and consumes from its own topic, and is
        # refused B's topic both ways.
        own, other = f"tenant.{a}.events", f"tenant.{b}.events"
        assert _produce(secret_a, own) == ""
        assert _consume(secret_a, own, group=f"tenant.{a}.g-{uuid.uuid4().hex[:4]}") == ""
        assert _produce(secret_b, other) == ""
        assert _produce(secret_a, other) == "TOPIC_AUTHORIZATION_FAILED"
        assert _consume(secret_a, other, group=f"tenant.{a}.g2") in {
            "TOPIC_AUTHORIZATION_FAILED",
            "GROUP_AUTHORIZATION_FAILED",
        }
        # Consumer groups outside the tenant's prefix are refused too.
        assert _consume(secret_a, own, group=f"tenant.{b}.stolen") == "GROUP_AUTHORIZATION_FAILED"

        # MongoDB (authentication on): A's own user reads and writes A's database only; B's
        # database, the platform registry and admin refuse it (mongod's Unauthorized, 13).
        mongo_a = MongoClient(
            host="127.0.0.1",
            port=stack.conf.ports.mongo,
            username=secret_a["mongodbUsername"],
            password=secret_a["mongodbPassword"],
            authSource=secret_a["mongodbDatabase"],
            serverSelectionTimeoutMS=5000,
        )
        try:
            own_db = mongo_a[secret_a["mongodbDatabase"]]
            own_db.probe.insert_one({"_id": "hello"})
            assert own_db.probe.find_one({"_id": "hello"}) == {"_id": "hello"}
            for name in (secret_b["mongodbDatabase"], "caas_platform", "admin"):
                with pytest.raises(OperationFailure) as read:
                    mongo_a[name].probe.find_one()
                assert read.value.code == 13, name
                with pytest.raises(OperationFailure) as write:
                    mongo_a[name].probe.insert_one({"x": 1})
                assert write.value.code == 13, name
        finally:
            mongo_a.close()
        mongo = kube.condition(a, "MongoReady")
        assert mongo is not None
        assert f"user {secret_a['mongodbUsername']} has readWrite" in mongo["message"]
    # Deleting the tenants removed their MongoDB users.
    for tenant, secret in ((a, secret_a), (b, secret_b)):
        found = backends.mongo[secret["mongodbDatabase"]].command(
            {"usersInfo": secret["mongodbUsername"]}
        )
        assert found["users"] == [], tenant
