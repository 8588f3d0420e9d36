"""The Tenant spec model: defaults and the rules the CRD mirrors in CEL."""

import pytest
from pydantic import ValidationError

from caas_core.domain.topics import CleanupPolicy, Compression
from caas_core.resources import DeletionPolicy, KafkaTopic, TenantSpec

pytestmark = pytest.mark.unit


def test_empty_spec_gets_every_default() -> None:
    spec = TenantSpec.model_validate({})
    assert spec.display_name is None
    assert spec.deletion_policy is DeletionPolicy.RETAIN
    assert spec.kafka.topics == [
        KafkaTopic(
            suffix="events",
            partitions=3,
            retention_ms=7 * 24 * 3600 * 1000,
            compression=Compression.PRODUCER,
            cleanup_policy=CleanupPolicy.DELETE,
        )
    ]


def test_camel_case_input_as_stored_by_kubernetes() -> None:
    spec = TenantSpec.model_validate(
        {
            "displayName": "Acme",
            "deletionPolicy": "Delete",
            "kafka": {"topics": [{"suffix": "chat.messages", "retentionMs": -1}]},
            "unknownFutureField": True,
        }
    )
    assert spec.display_name == "Acme"
    assert spec.deletion_policy is DeletionPolicy.DELETE
    assert spec.kafka.topics[0].retention_ms == -1


@pytest.mark.parametrize(
    ("topics", "needle"),
    [
        ([{"suffix": "a"}, {"suffix": "a"}], "unique"),
        ([{"suffix": "a", "retentionMs": 10}], "retentionMs"),
        ([{"suffix": "A"}], "suffix"),
        ([{"suffix": "a", "partitions": 0}], "partitions"),
        ([{"suffix": "a", "compression": "brotli"}], "compression"),
        ([{"suffix": f"s{i}"} for i in range(33)], "topics"),
    ],
)
def test_invalid_topics_are_rejected(topics: list[dict[str, object]], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        TenantSpec.model_validate({"kafka": {"topics": topics}})


def test_deletion_policy_is_an_enum() -> None:
    with pytest.raises(ValidationError, match="deletionPolicy"):
        TenantSpec.model_validate({"deletionPolicy": "Nuke"})


def test_shred_is_reserved_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="Shred is reserved"):
        TenantSpec.model_validate({"deletionPolicy": "Shred"})


def test_plan_defaults_and_burst_rule() -> None:
    plan = TenantSpec.model_validate({}).plan
    assert (plan.tier.value, plan.max_api_keys, plan.max_webhooks) == ("Standard", 10, 10)
    assert (plan.rate_limit.requests_per_second, plan.rate_limit.burst) == (100, 200)
    with pytest.raises(ValidationError, match="burst"):
        TenantSpec.model_validate({"plan": {"rateLimit": {"requestsPerSecond": 10, "burst": 5}}})


@pytest.mark.parametrize(
    ("collections", "needle"),
    [
        ([{"name": "a"}, {"name": "a"}], "collection names must be unique"),
        ([{"name": "Bad"}], "name"),
        ([{"name": "system.users"}], "name"),
        ([{"name": "users", "indexes": [{"name": "user_id_unique", "keys": [{"field": "x"}]}]}],
         "reserved"),
        ([{"name": "m", "indexes": [{"name": "i", "keys": [{"field": "x"}, {"field": "x"}]}]}],
         "each field once"),
        ([{"name": "m", "indexes": [{"name": "i", "keys": [{"field": "x", "order": 2}]}]}],
         "order"),
        ([{"name": "m", "indexes": [{"name": "i", "keys": [{"field": "$x"}]}]}], "field"),
        ([{"name": "m", "indexes": [{"name": "i", "keys": []}]}], "keys"),
    ],
)  # fmt: skip
def test_invalid_mongo_collections_are_rejected(
    collections: list[dict[str, object]], needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle):
        TenantSpec.model_validate({"mongo": {"collections": collections}})


def test_redis_categories_default_to_all_and_are_an_enum() -> None:
    assert [c.value for c in TenantSpec().redis.allowed_categories] == ["all"]
    with pytest.raises(ValidationError, match="allowedCategories"):
        TenantSpec.model_validate({"redis": {"allowedCategories": ["admin"]}})
