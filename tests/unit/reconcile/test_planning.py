"""The pure reconcile core: plans, conditions, status and retry policy."""

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.collections import TENANT_COLLECTION_NAMES
from caas_core.domain.naming import tenant_names
from caas_core.resources import DeletionPolicy, TenantSpec
from caas_operator.planning import (
    KAFKA_READY,
    MONGO_READY,
    READY,
    REDIS_READY,
    CredentialKey,
    StepOutcome,
    desired_conditions,
    existing_password,
    needs_retry,
    plan_deletion,
    plan_tenant,
    ready_change,
    retry_delay,
    tenant_status,
)

pytestmark = pytest.mark.unit

NAMES = tenant_names("acme")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _ok(condition: str) -> StepOutcome:
    return StepOutcome(condition=condition, ok=True, reason="Fine", message="ok")


def _down(condition: str, reason: str = "Down", *, retryable: bool = True) -> StepOutcome:
    return StepOutcome(
        condition=condition, ok=False, reason=reason, message="broken", retryable=retryable
    )


ALL_OK = [_ok(MONGO_READY), _ok(KAFKA_READY), _ok(REDIS_READY)]


def test_plan_derives_every_backend_object() -> None:
    spec = TenantSpec.model_validate(
        {"kafka": {"topics": [{"suffix": "events"}, {"suffix": "chat", "compression": "zstd"}]}}
    )
    plan = plan_tenant(names=NAMES, spec=spec, password="pw", replication_factor=1)
    assert [t.name for t in plan.topics] == ["tenant.acme.events", "tenant.acme.chat"]
    assert plan.topics[1].config["compression.type"] == "zstd"
    assert {t.replication_factor for t in plan.topics} == {1}
    assert tuple(c.name for c in plan.collections) == TENANT_COLLECTION_NAMES
    assert plan.redis_user.name == "tenant-acme"
    assert plan.redis_user.key_pattern == "t:acme:*"
    assert plan.redis_user.channel_pattern == "t:acme:*"
    assert set(plan.redis_user.categories) == {"+@all", "-@admin", "-@dangerous"}
    assert dict(plan.secret_data) == {
        "redisUsername": "tenant-acme",
        "redisPassword": "pw",
        "redisKeyPrefix": "t:acme:",
        "mongodbDatabase": "tenant_acme",
        "kafkaTopicPrefix": "tenant.acme.",
    }


def test_plan_repr_never_shows_the_password() -> None:
    plan = plan_tenant(
        names=NAMES, spec=TenantSpec(), password="hunter2-secret", replication_factor=1
    )
    assert "hunter2-secret" not in repr(plan)


def test_stored_password_is_reused() -> None:
    assert existing_password({CredentialKey.REDIS_PASSWORD.value: "old"}) == "old"
    assert existing_password({CredentialKey.REDIS_PASSWORD.value: ""}) is None
    assert existing_password({}) is None
    assert existing_password(None) is None


def test_retain_only_revokes_access() -> None:
    plan = plan_deletion(names=NAMES, policy=DeletionPolicy.RETAIN)
    assert plan.redis_user == "tenant-acme"
    assert plan.namespace == "tenant-acme"
    assert plan.database is None
    assert plan.topic_prefix is None


def test_delete_also_drops_data() -> None:
    plan = plan_deletion(names=NAMES, policy=DeletionPolicy.DELETE)
    assert plan.database == "tenant_acme"
    assert plan.topic_prefix == "tenant.acme."


def test_all_ok_means_ready_provisioned() -> None:
    ready, *backends = desired_conditions(ALL_OK)
    assert (ready.type, ready.status, ready.reason) == (READY, "True", "Provisioned")
    assert [c.type for c in backends] == [MONGO_READY, KAFKA_READY, REDIS_READY]


def test_first_failing_backend_names_the_ready_reason() -> None:
    outcomes = [
        _ok(MONGO_READY),
        _down(REDIS_READY, "RedisUnavailable"),
        _down(KAFKA_READY, "KafkaUnavailable"),
    ]
    ready = desired_conditions(outcomes)[0]
    assert (ready.status, ready.reason) == ("False", "KafkaUnavailable")
    assert ready.message == "KafkaReady: broken"


def test_kubernetes_failure_wins_over_backends() -> None:
    outcomes = [_down(READY, "KubernetesError"), _down(MONGO_READY, "MongoUnavailable")]
    conditions = desired_conditions(outcomes)
    assert conditions[0].reason == "KubernetesError"
    assert conditions[0].message == "broken"
    assert [c.type for c in conditions] == [READY, MONGO_READY]


def test_status_carries_generation_conditions_and_names() -> None:
    status = tenant_status(
        old_status=None,
        outcomes=ALL_OK,
        generation=4,
        now=T0,
        names=NAMES,
        topics=["tenant.acme.events"],
    )
    assert status["observedGeneration"] == 4
    assert {c["observedGeneration"] for c in status["conditions"]} == {4}
    assert [c["type"] for c in status["conditions"]] == [
        READY,
        MONGO_READY,
        KAFKA_READY,
        REDIS_READY,
    ]
    assert status["namespace"] == "tenant-acme"
    assert status["database"] == "tenant_acme"
    assert status["redisUser"] == "tenant-acme"
    assert status["topics"] == ["tenant.acme.events"]


def test_status_keeps_transition_times_of_unchanged_conditions() -> None:
    first = tenant_status(old_status=None, outcomes=ALL_OK, generation=1, now=T0)
    later = T0 + timedelta(hours=1)
    second = tenant_status(
        old_status=first,
        outcomes=[_ok(MONGO_READY), _ok(KAFKA_READY), _down(REDIS_READY)],
        generation=1,
        now=later,
    )
    times = {c["type"]: c["lastTransitionTime"] for c in second["conditions"]}
    assert times[MONGO_READY] == "2024-01-01T00:00:00Z"
    assert times[REDIS_READY] == "2024-01-01T01:00:00Z"
    assert times[READY] == "2024-01-01T01:00:00Z"


def test_ready_change_only_on_status_or_reason_change() -> None:
    ok = tenant_status(old_status=None, outcomes=ALL_OK, generation=1, now=T0)
    change = ready_change(None, ok)
    assert change is not None
    assert change.ready
    assert ready_change(ok, ok) is None
    down = tenant_status(old_status=ok, outcomes=[_down(MONGO_READY)], generation=1, now=T0)
    change = ready_change(ok, down)
    assert change is not None
    assert not change.ready
    assert change.reason == "Down"


def test_only_retryable_failures_ask_for_a_retry() -> None:
    assert not needs_retry(ALL_OK)
    assert needs_retry([_down(KAFKA_READY)])
    assert not needs_retry([_down(KAFKA_READY, "TopicDrift", retryable=False)])


def test_retry_delay_backs_off_exponentially_and_is_capped() -> None:
    assert [retry_delay(n) for n in range(5)] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert retry_delay(10) == 300.0
    assert retry_delay(10_000) == 300.0
    assert retry_delay(-1) == 5.0
