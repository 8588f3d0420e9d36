"""The pure reconcile core: plans, credentials, ownership decisions, deletion and retries."""

from datetime import UTC, datetime, timedelta

import pytest

from caas_core.domain.collections import TENANT_COLLECTION_NAMES
from caas_core.domain.kafka_acl import AclOp, AclResource
from caas_core.domain.legal_holds import LegalHold
from caas_core.domain.naming import tenant_names
from caas_core.domain.retention import DataClass, Rule, topic_retention
from caas_core.resources import DeletionPolicy, TenantSpec
from caas_operator.shared.conditions import retry_delay
from caas_operator.shared.ownership import (
    Capabilities,
    Ownership,
    decide_ownership,
    owns_kubernetes_object,
)
from caas_operator.tenant.plan import (
    CredentialKey,
    Credentials,
    credentials_from,
    listed_names,
    plan_deletion,
    plan_tenant,
    steady_conditions,
    tenant_collections,
)

pytestmark = pytest.mark.unit

NAMES = tenant_names("acme")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
CREDS = Credentials(redis="pw")


def test_plan_derives_every_backend_object() -> None:
    spec = TenantSpec.model_validate(
        {"kafka": {"topics": [{"suffix": "events"}, {"suffix": "chat", "compression": "zstd"}]}}
    )
    plan = plan_tenant(names=NAMES, spec=spec, credentials=CREDS, replication_factor=1)
    assert [t.name for t in plan.topics] == ["tenant.acme.events", "tenant.acme.chat"]
    assert plan.topics[1].config["compression.type"] == "zstd"
    assert {t.replication_factor for t in plan.topics} == {1}
    assert tuple(c.name for c in plan.collections) == TENANT_COLLECTION_NAMES
    assert plan.redis_user.name == "tenant-acme"
    assert plan.redis_user.key_pattern == "t:acme:*"
    assert plan.redis_user.channel_pattern == "t:acme:*"
    assert tuple(plan.redis_user.categories) == ("+@all", "-@admin", "-@dangerous")
    assert dict(plan.secret_data) == {
        "redisUsername": "tenant-acme",
        "redisPassword": "pw",
        "redisKeyPrefix": "t:acme:",
        "mongodbDatabase": "tenant_acme",
        "kafkaTopicPrefix": "tenant.acme.",
    }
    assert plan.deletion_policy is DeletionPolicy.RETAIN


def test_kafka_acls_are_prefixed_and_never_administrative() -> None:
    plan = plan_tenant(names=NAMES, spec=TenantSpec(), credentials=CREDS, replication_factor=1)
    assert {r.principal for r in plan.kafka_acls} == {"User:tenant-acme"}
    assert {r.prefix for r in plan.kafka_acls} == {"tenant.acme."}
    topic_ops = {r.operation for r in plan.kafka_acls if r.resource is AclResource.TOPIC}
    assert topic_ops == {AclOp.READ, AclOp.WRITE, AclOp.DESCRIBE, AclOp.DESCRIBE_CONFIGS}
    assert {r.resource for r in plan.kafka_acls} == set(AclResource)


def test_secret_holds_kafka_and_mongo_credentials_when_those_exist() -> None:
    creds = Credentials(redis="r", kafka="k", mongo="m")
    plan = plan_tenant(
        names=NAMES,
        spec=TenantSpec(),
        credentials=creds,
        replication_factor=1,
        kafka_sasl_bootstrap="127.0.0.1:19094",
    )
    data = dict(plan.secret_data)
    assert data["kafkaUsername"] == "tenant-acme"
    assert data["kafkaPassword"] == "k"
    assert data["kafkaSaslMechanism"] == "SCRAM-SHA-512"
    assert data["kafkaBootstrapServers"] == "127.0.0.1:19094"
    assert (data["mongodbUsername"], data["mongodbPassword"]) == ("tenant-acme", "m")


def test_redis_categories_follow_the_spec_and_always_deny_admin() -> None:
    spec = TenantSpec.model_validate({"redis": {"allowedCategories": ["write", "read"]}})
    plan = plan_tenant(names=NAMES, spec=spec, credentials=CREDS, replication_factor=1)
    assert tuple(plan.redis_user.categories) == ("+@read", "+@write", "-@admin", "-@dangerous")


def test_extra_collections_and_indexes_extend_the_defaults() -> None:
    by_email = {"name": "by_email", "keys": [{"field": "email"}]}
    by_room = {
        "name": "by_room",
        "keys": [{"field": "room"}, {"field": "at", "order": -1}],
        "unique": True,
    }
    spec = TenantSpec.model_validate(
        {
            "mongo": {
                "collections": [
                    {"name": "users", "indexes": [by_email]},
                    {"name": "messages", "indexes": [by_room]},
                ]
            }
        }
    )
    collections = {c.name: c for c in tenant_collections(spec.mongo)}
    assert list(collections) == [*TENANT_COLLECTION_NAMES, "messages"]
    assert [i.name for i in collections["users"].indexes] == ["user_id_unique", "by_email"]
    (room,) = collections["messages"].indexes
    assert room.keys == (("room", 1), ("at", -1))
    assert room.unique


def test_plan_repr_never_shows_passwords() -> None:
    plan = plan_tenant(
        names=NAMES,
        spec=TenantSpec(),
        credentials=Credentials(redis="hunter2-secret", kafka="kafka-secret"),
        replication_factor=1,
    )
    assert "hunter2-secret" not in repr(plan)
    assert "kafka-secret" not in repr(plan)


def test_stored_passwords_are_reused_and_missing_ones_generated() -> None:
    counter = iter(range(100))

    def generate() -> str:
        return f"new-{next(counter)}"

    both = Capabilities(kafka_authorizer=True, mongo_users=False)
    fresh = credentials_from(None, capabilities=both, generate=generate)
    assert (fresh.redis, fresh.kafka, fresh.mongo) == ("new-0", "new-1", None)
    stored = {CredentialKey.REDIS_PASSWORD.value: "r", CredentialKey.KAFKA_PASSWORD.value: "k"}
    kept = credentials_from(stored, capabilities=both, generate=generate)
    assert (kept.redis, kept.kafka, kept.mongo) == ("r", "k", None)
    # A capability not detected yet never drops a password the Secret already holds.
    unknown = credentials_from(stored, capabilities=Capabilities(), generate=generate)
    assert unknown.kafka == "k"
    empty = credentials_from({"redisPassword": ""}, capabilities=Capabilities(), generate=generate)
    assert empty.redis.startswith("new-")
    assert empty.kafka is None


@pytest.mark.parametrize(
    ("claimed", "exists", "listed", "expected"),
    [
        (True, True, False, Ownership.MANAGED),
        (True, False, False, Ownership.MANAGED),
        (False, False, False, Ownership.CLAIM),
        (False, False, True, Ownership.CLAIM),
        (False, True, True, Ownership.ADOPT),
        (False, True, False, Ownership.FOREIGN),
    ],
)
def test_ownership_decisions(
    claimed: bool, exists: bool, listed: bool, expected: Ownership
) -> None:
    assert decide_ownership(claimed=claimed, exists=exists, listed_in_status=listed) is expected


def test_kubernetes_ownership_needs_both_labels() -> None:
    ours = NAMES.labels()
    assert owns_kubernetes_object(ours, tenant="acme")
    assert not owns_kubernetes_object(ours, tenant="other")
    assert not owns_kubernetes_object({"platform.caas.io/tenant": "acme"}, tenant="acme")
    assert not owns_kubernetes_object(None, tenant="acme")


def test_listed_names_come_from_the_status() -> None:
    status = {
        "namespace": "tenant-acme",
        "database": "tenant_acme",
        "redisUser": "tenant-acme",
        "topics": ["tenant.acme.events"],
    }
    assert listed_names(status) == {"tenant-acme", "tenant_acme", "tenant.acme.events"}
    assert listed_names(None) == frozenset()


def test_steady_conditions_are_true_for_this_generation() -> None:
    def condition(kind: str, status: str, generation: int) -> dict[str, object]:
        return {
            "type": kind,
            "status": status,
            "reason": "X",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
            "observedGeneration": generation,
        }

    status = {
        "conditions": [
            condition("Ready", "True", 2),
            condition("MongoReady", "True", 1),
            condition("KafkaReady", "False", 2),
            condition("RedisReady", "True", 2),
        ]
    }
    assert steady_conditions(status, 2) == {"Ready", "RedisReady"}
    assert steady_conditions(status, None) == frozenset()
    assert steady_conditions(None, 2) == frozenset()


def _hold(hold_id: str, *, released: datetime | None = None) -> LegalHold:
    return LegalHold(
        hold_id=hold_id,
        tenant="acme",
        reason="litigation",
        created_at=T0,
        released_at=released,
    )


def test_retain_never_drops_data() -> None:
    plan = plan_deletion(names=NAMES, policy=DeletionPolicy.RETAIN, holds=[_hold("h1")], now=T0)
    assert not plan.drop_data
    assert not plan.blocked


def test_delete_drops_data_unless_an_active_hold_blocks_it() -> None:
    now = T0 + timedelta(days=1)
    assert plan_deletion(names=NAMES, policy=DeletionPolicy.DELETE, now=now).drop_data
    released = _hold("old", released=T0 + timedelta(hours=1))
    assert plan_deletion(
        names=NAMES, policy=DeletionPolicy.DELETE, holds=[released], now=now
    ).drop_data
    blocked = plan_deletion(
        names=NAMES, policy=DeletionPolicy.DELETE, holds=[released, _hold("h1")], now=now
    )
    assert not blocked.drop_data
    assert [h.hold_id for h in blocked.blocking_holds] == ["h1"]
    assert "h1 (litigation)" in blocked.blocked_message()
    assert "access is revoked" in blocked.blocked_message()


def test_retry_delay_backs_off_exponentially_and_is_capped() -> None:
    assert [retry_delay(n) for n in range(5)] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert retry_delay(10) == 300.0
    assert retry_delay(10_000) == 300.0
    assert retry_delay(-1) == 5.0


def test_retention_policies_govern_the_retention_of_the_topics_they_back() -> None:
    """The Tenant and a RetentionPolicy must agree on retention.ms, or they would fight."""
    spec = TenantSpec.model_validate(
        {"kafka": {"topics": [{"suffix": "events"}, {"suffix": "chat"}]}}
    )
    rules = [Rule(data_class=DataClass.MESSAGES, max_age_days=3)]
    overrides = topic_retention(
        rules, topic_prefix=NAMES.topic_prefix, topics=["tenant.acme.events", "tenant.acme.chat"]
    )
    plan = plan_tenant(
        names=NAMES, spec=spec, credentials=CREDS, replication_factor=1,
        retention_overrides=overrides,
    )  # fmt: skip
    retention = {t.name: t.config["retention.ms"] for t in plan.topics}
    assert retention["tenant.acme.events"] == str(3 * 24 * 3600 * 1000)
    default = plan_tenant(names=NAMES, spec=spec, credentials=CREDS, replication_factor=1)
    assert retention["tenant.acme.chat"] == default.topics[1].config["retention.ms"]
