"""Platform topic specs and drift detection."""

import pytest

from caas_core.domain.topics import (
    DAY_MS,
    PLATFORM_TOPIC_NAMES,
    TopicSpec,
    diff_topic,
    platform_topics,
    topic_config,
)

pytestmark = pytest.mark.unit


def test_platform_topics_match_the_seed_inventory() -> None:
    specs = {t.name: t for t in platform_topics()}
    assert tuple(specs) == PLATFORM_TOPIC_NAMES
    expected = {
        "platform.events": (7, "snappy"),
        "platform.audit": (30, "snappy"),
        "platform.notifications": (7, "producer"),
        "internal.dlq": (30, "producer"),
        "internal.retry": (7, "producer"),
        "auth.revocation.events": (30, "producer"),
        "events": (7, "producer"),
    }
    for name, (days, compression) in expected.items():
        assert specs[name].config["retention.ms"] == str(days * DAY_MS)
        assert specs[name].config["compression.type"] == compression
        assert specs[name].config["cleanup.policy"] == "delete"
        assert specs[name].replication_factor == 1


def test_replication_and_partitions_are_configurable() -> None:
    specs = platform_topics(replication_factor=3, partitions=6)
    assert {(t.replication_factor, t.partitions) for t in specs} == {(3, 6)}


def test_topic_specs_are_frozen() -> None:
    spec = platform_topics()[0]
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


SPEC = TopicSpec(
    name="t", partitions=3, replication_factor=1, config=topic_config(retention_ms=1000)
)


def test_identical_topic_has_no_drift() -> None:
    live = {**SPEC.config, "segment.bytes": "1"}
    assert diff_topic(SPEC, partitions=3, replication_factor=1, config=live) == ()


def test_config_and_partition_growth_are_correctable() -> None:
    live = {**SPEC.config, "retention.ms": "5"}
    drifts = diff_topic(SPEC, partitions=2, replication_factor=1, config=live)
    assert {(d.setting, d.correctable) for d in drifts} == {
        ("partitions", True),
        ("retention.ms", True),
    }


def test_shrinking_and_replication_changes_need_a_human() -> None:
    drifts = diff_topic(SPEC, partitions=5, replication_factor=2, config=SPEC.config)
    assert {(d.setting, d.correctable) for d in drifts} == {
        ("partitions", False),
        ("replication.factor", False),
    }
    assert (
        "partitions is 5, want 3" in next(d for d in drifts if d.setting == "partitions").describe()
    )


def test_missing_config_key_is_reported_as_unset() -> None:
    drifts = diff_topic(SPEC, partitions=3, replication_factor=1, config={})
    assert {d.actual for d in drifts} == {"<unset>"}
