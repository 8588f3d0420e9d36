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
