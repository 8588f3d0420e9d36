"""Operator settings come from the stack's environment contract, validated once at start."""

import pytest
from pydantic import ValidationError

from caas_core.resources import DeletionPolicy
from caas_core.settings import describe_validation_error
from caas_operator.settings import DEFAULT_RESYNC_SECONDS, DEFAULT_SWEEP_SECONDS, OperatorSettings
from caas_operator.tenant.plan import deletion_policy

pytestmark = pytest.mark.unit

ENV = {
    "MONGODB_URI": "mongodb://127.0.0.1:17017/",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "REDIS_URL": "redis://default:pw@127.0.0.1:16379/0",
}
OPTIONAL = (
    "CAAS_OPERATOR_RESYNC_SECONDS",
    "CAAS_OPERATOR_TENANT_SELECTOR",
    "CAAS_ENV",
    "CAAS_RETENTION_SWEEP_SECONDS",
)


@pytest.fixture(autouse=True)
def stack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    for key in OPTIONAL:
        monkeypatch.delenv(key, raising=False)


def test_reads_the_stack_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAAS_KAFKA_REPLICATION_FACTOR", "2")
    settings = OperatorSettings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.redis_url.get_secret_value().endswith("/0")
    assert "pw" not in repr(settings)
    assert settings.kafka_replication_factor == 2


def test_defaults() -> None:
    settings = OperatorSettings()
    assert settings.resync_seconds == DEFAULT_RESYNC_SECONDS
    assert settings.retention_sweep_seconds == DEFAULT_SWEEP_SECONDS
    assert settings.tenant_selector is None
    assert settings.environment == "production"
    assert not settings.development


def test_resync_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAAS_OPERATOR_RESYNC_SECONDS", "30")
    assert OperatorSettings().resync_seconds == 30.0


def test_development_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAAS_ENV", "development")
    assert OperatorSettings().development


def test_unreadable_spec_falls_back_to_retain() -> None:
    assert deletion_policy({"deletionPolicy": "Delete"}) is DeletionPolicy.DELETE
    assert deletion_policy({"deletionPolicy": "Nuke"}) is DeletionPolicy.RETAIN
    assert deletion_policy({}) is DeletionPolicy.RETAIN


def test_tenant_selector(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings().tenant_selector is None
    monkeypatch.setenv("CAAS_OPERATOR_TENANT_SELECTOR", "suite=e2e, shard = a")
    assert OperatorSettings().tenant_selector == {"suite": "e2e", "shard": "a"}


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        # Unparsable or non-positive intervals used to fall back to 300 s silently.
        ("CAAS_OPERATOR_RESYNC_SECONDS", "junk"),
        ("CAAS_OPERATOR_RESYNC_SECONDS", "-1"),
        ("CAAS_OPERATOR_RESYNC_SECONDS", "0"),
        ("CAAS_OPERATOR_RESYNC_SECONDS", ""),
        ("CAAS_RETENTION_SWEEP_SECONDS", "hourly"),
        ("CAAS_RETENTION_SWEEP_SECONDS", "0"),
        ("CAAS_OPERATOR_TENANT_SELECTOR", "nonsense"),
        ("CAAS_OPERATOR_TENANT_SELECTOR", "=value"),
        # Anything but development used to count as production; a typo is now refused.
        ("CAAS_ENV", "staging"),
        ("CAAS_ENV", "Development "),
        ("CAAS_KAFKA_REPLICATION_FACTOR", "0"),
        ("CAAS_KAFKA_PLATFORM_PARTITIONS", "three"),
        ("CAAS_OPERATOR_STEP_TIMEOUT_SECONDS", "0"),
        ("CAAS_OPERATOR_EVENT_LEVEL", "debug"),
        ("CAAS_OPERATOR_METRICS_PORT", "70000"),
        ("CAAS_OPERATOR_MAX_CONCURRENT_RECONCILES", "0"),
        ("CAAS_BACKEND_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_an_invalid_setting_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str
) -> None:
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ValidationError) as caught:
        OperatorSettings()
    message = describe_validation_error(caught.value)
    assert message.startswith(f"{variable}: ")
    assert "pw" not in message
