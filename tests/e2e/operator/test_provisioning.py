"""Applying a Tenant yields every backend object, checked in each backend; re-applying: no-op."""

from __future__ import annotations

import time

from tests.conftest import Stack
from tests.e2e.conftest import kubectl
from tests.e2e.operator.conftest import RESYNC_SECONDS
from tests.e2e.operator.support import (
    Backends,
    Kube,
    OperatorProcess,
    database,
    index_claims,
    manifest,
    tenants,
    unique,
    wait_for,
)

SPEC = {
    "displayName": "E2E provisioning",
    "plan": {
        "tier": "Enterprise",
        "maxApiKeys": 5,
        "rateLimit": {"requestsPerSecond": 50, "burst": 80},
    },
    "mongo": {
        "collections": [
            {"name": "messages", "indexes": [
                {"name": "by_room", "keys": [{"field": "room"}, {"field": "sentAt", "order": -1}]},
            ]},
            {"name": "users", "indexes": [
                {"name": "by_email", "keys": [{"field": "email"}], "unique": True},
            ]},
        ]
    },
    "kafka": {
        "topics": [
            {"suffix": "events", "retentionMs": 3_600_000, "compression": "zstd"},
            {"suffix": "chat", "partitions": 2, "cleanupPolicy": "compact"},
        ]
    },
    "redis": {"allowedCategories": ["read", "write", "keyspace", "pubsub", "connection"]},
    "deletionPolicy": "Delete",
}  # fmt: skip
EXPECTED_ACLS = {
    ("TOPIC", "READ"), ("TOPIC", "WRITE"), ("TOPIC", "DESCRIBE"), ("TOPIC", "DESCRIBE_CONFIGS"),
    ("GROUP", "READ"), ("GROUP", "DESCRIBE"),
    ("TRANSACTIONAL_ID", "WRITE"), ("TRANSACTIONAL_ID", "DESCRIBE"),
}  # fmt: skip


def _acl_set(backends: Backends, principal: str) -> set[tuple[str, str]]:
    return {
        (b.restype.name, b.operation.name)
        for b in backends.acls(principal)
        if b.resource_pattern_type.name == "PREFIXED" and b.permission_type.name == "ALLOW"
    }


def test_apply_yields_every_backend_object_and_reapply_changes_nothing(
    stack: Stack, running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-prov")
    with tenants(kube, name):
        kubectl(stack, "apply", "-f", "-", stdin=manifest(name, SPEC))
        kube.wait_condition(name, "Ready")
        tenant = kube.get(name)
        assert tenant is not None
        conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
        for kind in ("Ready", "Synced", "MongoReady", "KafkaReady", "RedisReady"):
            assert conditions[kind]["status"] == "True", conditions[kind]
            assert conditions[kind]["observedGeneration"] == tenant["metadata"]["generation"]
            assert conditions[kind]["lastTransitionTime"]
        assert (
            f"user tenant-{name} has readWrite on {database(name)} only"
            in (conditions["MongoReady"]["message"])
        )
        status = tenant["status"]
        assert status["namespace"] == f"tenant-{name}"
        assert status["database"] == database(name)
        assert status["redisUser"] == status["kafkaUser"] == f"tenant-{name}"
        assert sorted(status["topics"]) == [f"tenant.{name}.chat", f"tenant.{name}.events"]

        # Kubernetes: labelled namespace, Secret owned by the Tenant with every credential.
        namespace = kube.namespace(name)
        assert namespace is not None
        assert namespace.metadata.labels["platform.caas.io/tenant"] == name  # type: ignore[index,union-attr]
        secret = kube.secret(name)
        assert secret is not None
        assert secret["redisUsername"] == secret["kafkaUsername"] == f"tenant-{name}"
        assert secret["kafkaSaslMechanism"] == "SCRAM-SHA-512"
        assert secret["kafkaBootstrapServers"] == stack.env["KAFKA_SASL_BOOTSTRAP_SERVERS"]
        assert secret["mongodbDatabase"] == database(name)
        assert secret["mongodbUsername"] == f"tenant-{name}"
        assert len(secret["mongodbPassword"]) >= 24

        # MongoDB: default and extra collections with their named indexes.
        assert backends.collections(name) == {"users", "sessions", "devices", "messages"}
        room = backends.indexes(name, "messages")["by_room"]
        assert [(k, int(v)) for k, v in room["key"]] == [("room", 1), ("sentAt", -1)]
        users = backends.indexes(name, "users")
        assert {"user_id_unique", "by_email"} <= set(users)
        assert users["by_email"].get("unique")

        # Kafka: topics with their configs, the SCRAM principal and its prefixed ACLs.
        assert backends.topics(f"tenant.{name}.") == {
            f"tenant.{name}.events": 3,
            f"tenant.{name}.chat": 2,
        }
        events_config = backends.topic_config(f"tenant.{name}.events")
        assert events_config["retention.ms"] == "3600000"
        assert events_config["compression.type"] == "zstd"
        assert backends.topic_config(f"tenant.{name}.chat")["cleanup.policy"] == "compact"
        assert backends.scram_user_exists(f"tenant-{name}")
        assert _acl_set(backends, f"User:tenant-{name}") == EXPECTED_ACLS
        assert {b.name for b in backends.acls(f"User:tenant-{name}")} == {f"tenant.{name}."}

        # Redis: the ACL user with the allow-listed categories, confined to its prefix.
        user = backends.redis_user(f"tenant-{name}")
        assert user is not None
        assert user["keys"] == [f"~t:{name}:*"]
        assert user["channels"] == [f"&t:{name}:*"]
        assert "-@admin" not in user["categories"] or "+@admin" not in user["categories"]

        # The registry holds exactly what was made.
        claims = {(c["kind"], c["name"]) for c in backends.claims(name)}
        assert claims == {
            ("mongo-database", database(name)),
            *index_claims(name, SPEC),
            ("kafka-topic", f"tenant.{name}.events"),
            ("kafka-topic", f"tenant.{name}.chat"),
            ("kafka-user", f"tenant-{name}"),
            ("redis-user", f"tenant-{name}"),
            ("mongo-user", f"tenant-{name}"),
        }

        # Re-applying the same manifest changes nothing: no write, no event, same backends,
        # across several drift re-checks.
        before = kube.get(name)
        assert before is not None
        events_before = kube.reasons(name)
        user_before = backends.redis_user(f"tenant-{name}")
        # (kubectl reports "configured": CRs get JSON merge patches, and lists the API server
        # filled with defaults differ from the manifest's; the server then finds no change.)
        kubectl(stack, "apply", "-f", "-", stdin=manifest(name, SPEC))
        time.sleep(RESYNC_SECONDS * 3)
        after = kube.get(name)
        assert after is not None
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["status"] == before["status"]
        assert kube.reasons(name) == events_before
        assert backends.redis_user(f"tenant-{name}") == user_before
        assert backends.topic_config(f"tenant.{name}.events") == events_config

        # Editing a topic's retention in the spec changes it in Kafka.
        topics = SPEC["kafka"]["topics"]  # type: ignore[index]
        edited = {**SPEC, "kafka": {"topics": [{**topics[0], "retentionMs": 7_200_000}, topics[1]]}}
        kubectl(stack, "apply", "-f", "-", stdin=manifest(name, edited))
        kube.wait_condition(name, "Ready")
        wait_for(
            lambda: backends.topic_config(f"tenant.{name}.events")["retention.ms"] == "7200000",
            what="retention.ms=7200000 in Kafka",
        )
        assert "KafkaUpdated" in kube.reasons(name)
        tenant = kube.get(name)
        assert tenant is not None
        assert tenant["status"].get("drift") is None  # a spec change is not drift

    # Delete policy: nothing left anywhere.
    assert backends.topics(f"tenant.{name}.") == {}
    assert backends.collections(name) == set()
    assert backends.redis_user(f"tenant-{name}") is None
    assert not backends.scram_user_exists(f"tenant-{name}")
    assert backends.acls(f"User:tenant-{name}") == []
    assert backends.claims(name) == []


def test_topics_grow_and_removed_topics_follow_the_deletion_policy(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-topics")
    with tenants(kube, name):
        kube.apply(
            name,
            {"kafka": {"topics": [{"suffix": "a"}, {"suffix": "b"}]}, "deletionPolicy": "Delete"},
        )
        kube.wait_condition(name, "Ready")
        kube.apply(
            name,
            {"kafka": {"topics": [{"suffix": "a", "partitions": 6}]}, "deletionPolicy": "Delete"},
        )
        kube.wait_condition(name, "Ready")
        wait_for(
            lambda: backends.topics(f"tenant.{name}.") == {f"tenant.{name}.a": 6},
            what="topic a grown to 6 partitions and topic b deleted",
        )
        assert {c["name"] for c in backends.claims(name) if c["kind"] == "kafka-topic"} == {
            f"tenant.{name}.a"
        }
        # Retain keeps a topic taken out of the spec, and says so.
        kube.apply(name, {"kafka": {"topics": [{"suffix": "a", "partitions": 6}, {"suffix": "c"}]}})
        kube.wait_condition(name, "Ready")
        kube.apply(name, {"kafka": {"topics": [{"suffix": "a", "partitions": 6}]}})
        kube.wait_condition(name, "Ready")
        kafka = kube.condition(name, "KafkaReady")
        assert kafka is not None
        assert f"tenant.{name}.c removed from the spec are retained" in kafka["message"]
        assert f"tenant.{name}.c" in backends.topics(f"tenant.{name}.")


def test_an_index_taken_out_of_the_spec_is_dropped_and_an_application_index_stays(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-index")
    by_customer = {"name": "by_customer", "keys": [{"field": "customer"}], "unique": True}
    with_index = {"mongo": {"collections": [{"name": "orders", "indexes": [by_customer]}]}}
    with tenants(kube, name):
        kube.apply(name, with_index)
        kube.wait_condition(name, "Ready")
        assert "by_customer" in backends.indexes(name, "orders")
        # The tenant's application adds an index of its own to the same collection.
        backends.mongo[database(name)]["orders"].create_index("total", name="app_by_total")

        kube.apply(name, {"mongo": {"collections": [{"name": "orders", "indexes": []}]}})
        wait_for(
            lambda: "by_customer" not in backends.indexes(name, "orders"),
            what="by_customer dropped once out of the spec",
        )
        kube.wait_condition(name, "Ready")
        assert "app_by_total" in backends.indexes(name, "orders")  # never the operator's
        claimed = {c["name"] for c in backends.claims(name) if c["kind"] == "mongo-index"}
        assert f"{database(name)}.orders.by_customer" not in claimed
        assert ("mongo-index", f"{database(name)}.users.user_id_unique") in index_claims(name)
        assert f"{database(name)}.users.user_id_unique" in claimed
        # The unique constraint went with it: two orders of one customer are fine now.
        orders = backends.mongo[database(name)]["orders"]
        orders.insert_many([{"customer": "c1"}, {"customer": "c1"}])


def test_metrics_count_reconciles(running_operator: OperatorProcess) -> None:
    text = running_operator.wait_metrics()
    assert 'caas_operator_reconciles_total{kind="Tenant",result="success",trigger="timer"}' in text
    assert "caas_operator_reconcile_duration_seconds_bucket" in text
    assert "caas_operator_tenants" in text
