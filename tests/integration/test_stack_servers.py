"""The local stack's servers are real: each test talks to one through its own client."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from pymongo import MongoClient

from tests.conftest import Stack


def test_kafka_topic_config_round_trips_through_the_admin_api(stack: Stack) -> None:
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    name = f"it.stack.{uuid.uuid4().hex[:8]}"
    config = {"retention.ms": "3600000", "compression.type": "snappy", "cleanup.policy": "delete"}
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1, config=config)])[
        name
    ].result(timeout=30)
    try:
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        described = admin.describe_configs([resource])[resource].result(timeout=30)
        assert {key: described[key].value for key in config} == config
        assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 2
    finally:
        admin.delete_topics([name])[name].result(timeout=30)


def test_kafka_rejects_an_invalid_topic_config(stack: Stack) -> None:
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    name = f"it.stack.{uuid.uuid4().hex[:8]}"
    future = admin.create_topics([NewTopic(name, 1, 1, config={"retention.ms": "soon"})])[name]
    with pytest.raises(KafkaException, match=r"retention\.ms"):
        future.result(timeout=30)


def test_mongo_writes_and_reads_back(stack: Stack) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(stack.mongodb_uri)
    database = f"it_stack_{uuid.uuid4().hex[:8]}"
    try:
        coll = client[database]["things"]
        coll.create_index("key", unique=True)
        coll.insert_one({"key": "k1", "value": 42})
        assert coll.find_one({"key": "k1"}, {"_id": 0}) == {"key": "k1", "value": 42}
        assert database in client.list_database_names()
    finally:
        client.drop_database(database)
        client.close()


def test_apiserver_enforces_rbac_for_an_unprivileged_identity(stack: Stack) -> None:
    """RBAC is on: an identity with no bindings is forbidden what the admin may do."""
    result = subprocess.run(
        [stack.kubectl, "auth", "can-i", "list", "secrets", "--as=nobody"],
        capture_output=True,
        text=True,
        env=stack.process_env(),
        check=False,
    )
    assert result.stdout.strip() == "no", result.stderr
    version = subprocess.run(
        [stack.kubectl, "version", "-o", "json"],
        capture_output=True,
        text=True,
        env=stack.process_env(),
        check=True,
    )
    assert json.loads(version.stdout)["serverVersion"]["gitVersion"].startswith("v1.34.")
