"""The control plane refuses to start with unsafe or missing settings."""

import secrets

import pytest
from pydantic import ValidationError

from caas_control_plane.__main__ import main
from caas_control_plane.settings import ApiSettings, load_settings
from caas_core.settings import SettingsError

pytestmark = pytest.mark.unit

STRONG = secrets.token_urlsafe(48)
BACKENDS = {
    "MONGODB_URI": "mongodb://127.0.0.1:17017/",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "REDIS_URL": "redis://default:pw@127.0.0.1:16379/0",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment holding only the backend locations."""
    for key in ("CAAS_ENV", "CAAS_SECRET_KEY", "CAAS_API_HOST", "CAAS_API_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in BACKENDS.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_defaults_are_production_on_loopback_port_3000(env: pytest.MonkeyPatch) -> None:
    env.setenv("CAAS_SECRET_KEY", STRONG)
    settings = load_settings()
    assert settings.env == "production"
    assert (settings.host, settings.port) == ("127.0.0.1", 3000)
    assert STRONG not in repr(settings)


def test_missing_secret_key_is_refused(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="CAAS_SECRET_KEY: Field required"):
        load_settings()


@pytest.mark.parametrize("key", ["changeme", "CHANGEME", "secret", "dev", " password "])
def test_known_defaults_are_refused_in_production(env: pytest.MonkeyPatch, key: str) -> None:
    env.setenv("CAAS_SECRET_KEY", key)
    with pytest.raises(SettingsError, match="well-known default"):
        load_settings()


def test_short_keys_are_refused_in_production(env: pytest.MonkeyPatch) -> None:
    env.setenv("CAAS_SECRET_KEY", "x" * 31)
    with pytest.raises(SettingsError, match="at least 32"):
        load_settings()


def test_development_accepts_a_weak_but_present_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("CAAS_ENV", "development")
    env.setenv("CAAS_SECRET_KEY", "dev")
    assert load_settings().env == "development"
    env.setenv("CAAS_SECRET_KEY", "   ")
    with pytest.raises(SettingsError, match="must not be empty"):
        load_settings()


def test_unknown_environment_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("CAAS_ENV", "staging")
    env.setenv("CAAS_SECRET_KEY", STRONG)
    with pytest.raises(SettingsError, match="CAAS_ENV"):
        load_settings()


def test_errors_never_echo_the_secret(env: pytest.MonkeyPatch) -> None:
    env.setenv("CAAS_SECRET_KEY", "changeme")
    env.setenv("CAAS_API_PORT", "not-a-port")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "changeme" not in str(caught.value).replace("CAAS_SECRET_KEY", "")
    assert "not-a-port" not in str(caught.value)


def test_missing_backend_location_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("CAAS_SECRET_KEY", STRONG)
    env.delenv("REDIS_URL")
    with pytest.raises(SettingsError, match="REDIS_URL"):
        load_settings()


def test_constructing_directly_validates_too() -> None:
    with pytest.raises(ValidationError):
        ApiSettings(
            mongodb_uri="mongodb://x/",
            kafka_bootstrap_servers="x:1",
            redis_url="redis://x",
            secret_key="changeme",
            env="production",
        )


def test_main_exits_with_a_clear_message(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("CAAS_SECRET_KEY", "changeme")
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "refusing to start" in capsys.readouterr().err
