"""The pause annotation stops every change; objects the operator does not own are never touched."""

from __future__ import annotations

import time

from confluent_kafka.admin import NewTopic
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from tests.e2e.operator.conftest import RESYNC_SECONDS
from tests.e2e.operator.support import Backends, Kube, OperatorProcess, tenants, unique, wait_for

PAUSED = "platform.caas.io/paused"


def test_pause_stops_changes_and_drift_correction_until_removed(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-pause")
    user = f"tenant-{name}"
    spec = {
        "kafka": {"topics": [{"suffix": "events", "retentionMs": 3_600_000}]},
        "deletionPolicy": "Delete",
    }
    with tenants(kube, name):
        kube.apply(name, spec)
        kube.wait_condition(name, "Ready")
        kube.annotate(name, PAUSED, "true")
        synced = kube.wait_condition(name, "Synced", status="False", reason="Paused")
        assert PAUSED in synced["message"]

        # While paused: a spec change is not applied, and drift is left alone.
        kube.patch_spec(
            name, {"kafka": {"topics": [{"suffix": "events", "retentionMs": 7_200_000}]}}
        )
        backends.redis.acl_deluser(user)
        time.sleep(RESYNC_SECONDS * 3)
        assert backends.topic_config(f"tenant.{name}.events")["retention.ms"] == "3600000"
        assert backends.redis_user(user) is None
        ready = kube.condition(name, "Ready")
        assert ready is not None
        assert ready["status"] == "True"  # last known state, not a fresh observation
        assert "Paused" in kube.reasons(name)

        # Removing the annotation resumes: the pending spec change and the drift are handled.
        kube.annotate(name, PAUSED, None)
        kube.wait_condition(name, "Synced", reason="ReconcileSuccess")
        wait_for(
            lambda: backends.topic_config(f"tenant.{name}.events")["retention.ms"] == "7200000",
            what="the change made while paused to be applied",
        )
        wait_for(lambda: backends.redis_user(user) is not None, what="the Redis user restored")
        assert "Resumed" in kube.reasons(name)


def test_objects_the_operator_does_not_own_are_reported_not_adopted(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-owner")
    squatted_topic = f"tenant.{name}.events"
    redis_user = f"tenant-{name}"
    # Someone else already made a topic, a Redis user and the namespace with these names.
    for future in backends.kafka.create_topics(
        [
            NewTopic(
                squatted_topic,
                num_partitions=1,
                replication_factor=1,
                config={"retention.ms": "1000"},
            )
        ]
    ).values():
        future.result(timeout=10)
    backends.redis.acl_setuser(redis_user, enabled=True, passwords=["+theirs"], keys=["*"])
    kube.client.create(Namespace(metadata=ObjectMeta(name=f"tenant-{name}", labels={"team": "x"})))
    try:
        with tenants(kube, name):
            kube.apply(name, {"deletionPolicy": "Delete"})
            ready = kube.wait_condition(name, "Ready", status="False", reason="NotOwned")
            assert (
                f"namespace tenant-{name} exists but is not managed by caas-operator"
                in ready["message"]
            )
            kafka = kube.wait_condition(name, "KafkaReady", status="False", reason="NotOwned")
            assert squatted_topic in kafka["message"]
            assert "not adopted" in kafka["message"]
            # Redis waits for the Secret, which cannot be written into a namespace not ours.
            assert "NotOwned" in kube.reasons(name)
            # Nothing of theirs was changed.
            assert backends.topic_config(squatted_topic)["retention.ms"] == "1000"
            theirs = backends.redis_user(redis_user)
            assert theirs is not None
            assert theirs["keys"] == ["~*"]
            namespace = kube.namespace(name)
            assert namespace is not None
            assert namespace.metadata.labels == {
                "team": "x",
                "kubernetes.io/metadata.name": f"tenant-{name}",
            }  # type: ignore[union-attr]
            # Never a crash loop: the operator keeps running and re-checks without retrying hot.
            assert running_operator.alive()
        # Deleting the Tenant (policy Delete) leaves the foreign objects alone too.
        assert squatted_topic in backends.topics(f"tenant.{name}.")
        assert backends.redis_user(redis_user) is not None
        assert kube.namespace(name) is not None
    finally:
        for future in backends.kafka.delete_topics([squatted_topic]).values():
            future.result(timeout=10)
        backends.redis.acl_deluser(redis_user)
        kube.client.delete(Namespace, name=f"tenant-{name}")
