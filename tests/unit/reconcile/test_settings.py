"""Operator settings come from the stack's environment contract."""

import pytest

from caas_core.resources import DeletionPolicy
from caas_operator.deletion import deletion_policy
from caas_operator.settings import (
    DEFAULT_RESYNC_SECONDS,
    OperatorSettings,
    resync_interval,
    tenant_selector,
)

pytestmark = pytest.mark.unit

ENV = {
    "MONGODB_URI": "mongodb://127.0.0.1:17017/",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "REDIS_URL": "redis://default:pw@127.0.0.1:16379/0",
}


def test_reads_the_stack_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CAAS_KAFKA_REPLICATION_FACTOR", "2")
    settings = OperatorSettings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.redis_url.get_secret_value().endswith("/0")
    assert "pw" not in repr(settings)
    assert settings.kafka_replication_factor == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", DEFAULT_RESYNC_SECONDS), ("30", 30.0), ("junk", DEFAULT_RESYNC_SECONDS), ("-1", 300.0)],
)
def test_resync_interval(monkeypatch: pytest.MonkeyPatch, raw: str, expected: float) -> None:
    monkeypatch.setenv("CAAS_OPERATOR_RESYNC_SECONDS", raw)
    assert resync_interval() == expected


def test_unreadable_spec_falls_back_to_retain() -> None:
    assert deletion_policy({"deletionPolicy": "Delete"}) is DeletionPolicy.DELETE
    assert deletion_policy({"deletionPolicy": "Nuke"}) is DeletionPolicy.RETAIN
    assert deletion_policy({}) is DeletionPolicy.RETAIN


def test_tenant_selector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAAS_OPERATOR_TENANT_SELECTOR", raising=False)
    assert tenant_selector() is None
    monkeypatch.setenv("CAAS_OPERATOR_TENANT_SELECTOR", "suite=e2e, shard = a")
    assert tenant_selector() == {"suite": "e2e", "shard": "a"}
    monkeypatch.setenv("CAAS_OPERATOR_TENANT_SELECTOR", "nonsense")
    with pytest.raises(ValueError, match="key=value"):
        tenant_selector()
