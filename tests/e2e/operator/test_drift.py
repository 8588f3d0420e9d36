"""Changes made by hand in each backend are found by the periodic re-check, reported and undone."""

from __future__ import annotations

from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
)
from lightkube.resources.core_v1 import Secret

from tests.e2e.operator.support import (
    Backends,
    Kube,
    OperatorProcess,
    database,
    tenants,
    unique,
    wait_for,
)

SPEC = {
    "mongo": {
        "collections": [
            {"name": "messages", "indexes": [{"name": "by_room", "keys": [{"field": "room"}]}]}
        ]
    },
    "kafka": {"topics": [{"suffix": "events", "retentionMs": 3_600_000}, {"suffix": "audit"}]},
    "deletionPolicy": "Delete",
}


def _drift(kube: Kube, name: str) -> list[dict[str, Any]]:
    tenant = kube.get(name) or {}
    return list((tenant.get("status") or {}).get("drift") or [])


def _wait_drift(kube: Kube, name: str, backend: str, needle: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for record in _drift(kube, name):
            if record["backend"] == backend and needle in f"{record['object']} {record['found']}":
                return record
        return None

    record: dict[str, Any] = wait_for(find, timeout=30, what=f"{backend} drift '{needle}'")
    assert record["action"] == "Corrected"
    assert record["detectedAt"]
    return record


def test_drift_in_every_backend_is_reported_and_corrected(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-drift")
    topic, user, principal = f"tenant.{name}.events", f"tenant-{name}", f"User:tenant-{name}"
    with tenants(kube, name):
        kube.apply(name, SPEC)
        kube.wait_condition(name, "Ready")
        assert _drift(kube, name) == []

        # Kafka: retention changed, a topic deleted, an ACL removed, a broader ACL added.
        change = ConfigResource(
            ResourceType.TOPIC,
            topic,
            incremental_configs=[
                ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
            ],
        )
        for future in backends.kafka.incremental_alter_configs([change]).values():
            future.result(timeout=10)
        for future in backends.kafka.delete_topics([f"tenant.{name}.audit"]).values():
            future.result(timeout=10)
        removed = AclBindingFilter(
            ResourceType.TOPIC, f"tenant.{name}.", ResourcePatternType.PREFIXED, principal, "*",
            AclOperation.WRITE, AclPermissionType.ALLOW,
        )  # fmt: skip
        for future in backends.kafka.delete_acls([removed]).values():
            assert future.result(timeout=10)
        widened = AclBinding(
            ResourceType.TOPIC, "tenant.", ResourcePatternType.PREFIXED, principal, "*",
            AclOperation.READ, AclPermissionType.ALLOW,
        )  # fmt: skip
        for future in backends.kafka.create_acls([widened]).values():
            future.result(timeout=10)
        # Redis: the user deleted. MongoDB: an index dropped.
        backends.redis.acl_deluser(user)
        backends.mongo[database(name)]["messages"].drop_index("by_room")

        _wait_drift(kube, name, "Kafka", "retention.ms was 1000")
        _wait_drift(kube, name, "Kafka", f"tenant.{name}.audit")
        _wait_drift(kube, name, "Kafka", "missing TOPIC")
        _wait_drift(kube, name, "Kafka", "unexpected")
        _wait_drift(kube, name, "Redis", f"user {user}")
        _wait_drift(kube, name, "MongoDB", "by_room")

        assert backends.topic_config(topic)["retention.ms"] == "3600000"
        assert f"tenant.{name}.audit" in backends.topics(f"tenant.{name}.")
        acls = {(b.name, b.operation.name) for b in backends.acls(principal)}
        assert (f"tenant.{name}.", "WRITE") in acls
        assert ("tenant.", "READ") not in acls
        assert backends.redis_user(user) is not None
        assert "by_room" in backends.indexes(name, "messages")
        assert "DriftCorrected" in kube.reasons(name)
        ready = kube.condition(name, "Ready")
        assert ready is not None
        assert ready["status"] == "True"

        # Second round: the SCRAM credential deleted, the Redis user widened, the Secret
        # deleted (its passwords are regenerated and set in Redis and Kafka again).
        deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
        for future in backends.kafka.alter_user_scram_credentials([deletion]).values():
            future.result(timeout=10)
        backends.redis.execute_command("ACL", "SETUSER", user, "~*", "+@admin")
        old_password = (kube.secret(name) or {})["redisPassword"]
        kube.client.delete(Secret, name="caas-tenant-credentials", namespace=f"tenant-{name}")

        _wait_drift(kube, name, "Kafka", "SCRAM credential deleted")
        _wait_drift(kube, name, "Kubernetes", "caas-tenant-credentials")

        def converged() -> bool:
            secret = kube.secret(name)
            live = backends.redis_user(user) or {}
            return (
                secret is not None
                and secret["redisPassword"] != old_password
                and live.get("keys") == [f"~t:{name}:*"]
                and backends.scram_user_exists(user)
            )

        wait_for(converged, timeout=30, what="Secret, Redis user and SCRAM user restored")
        assert len(_drift(kube, name)) <= 20
