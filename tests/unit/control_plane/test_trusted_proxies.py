"""CAAS_TRUSTED_PROXIES: parsed and refused at load, and handed to uvicorn's proxy headers."""

import secrets
from typing import Any

import pytest
import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from caas_control_plane import __main__ as entry
from caas_control_plane.settings import load_settings
from caas_core.settings import SettingsError

pytestmark = pytest.mark.unit

BACKENDS = {
    "MONGODB_URI": "mongodb://127.0.0.1:17017/",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
    "REDIS_URL": "redis://127.0.0.1:16379/0",
    "CAAS_SECRET_KEY": secrets.token_urlsafe(48),
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Valid production settings in a clean environment."""
    for key in ("CAAS_ENV", "CAAS_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in BACKENDS.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_default_trusts_nobody(env: pytest.MonkeyPatch) -> None:
    assert load_settings().trusted_proxy_list == ()
    env.setenv("CAAS_TRUSTED_PROXIES", " , ")
    assert load_settings().trusted_proxy_list == ()


def test_addresses_and_networks_are_parsed_and_normalised(env: pytest.MonkeyPatch) -> None:
    env.setenv(
        "CAAS_TRUSTED_PROXIES",
        " 10.0.0.7 ,10.42.3.4/16, 192.168.0.0/255.255.0.0, 2001:DB8::1, fd00::/8, 10.0.0.7",
    )
    assert load_settings().trusted_proxy_list == (
        "10.0.0.7",
        "10.42.0.0/16",  # host bits dropped: uvicorn would otherwise silently never match it
        "192.168.0.0/16",
        "2001:db8::1",
        "fd00::/8",
    )


@pytest.mark.parametrize(
    "entry", ["proxy.internal", "10.0.0.256", "10.0.0.0/33", "10.0.0.1:8080", "fd00::/129"]
)
def test_a_bad_entry_is_refused_and_named(env: pytest.MonkeyPatch, entry: str) -> None:
    env.setenv("CAAS_TRUSTED_PROXIES", f"10.0.0.1,{entry}")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("CAAS_TRUSTED_PROXIES: ")
    assert repr(entry) in message
    assert "not an IP address or CIDR network" in message


@pytest.mark.parametrize(
    "value", ["*", "0.0.0.0/0", "::/0", "10.0.0.1, ::/0", "0.0.0.0/1,128.0.0.0/1", "1.2.3.4/0"]
)
def test_trusting_every_peer_is_refused_in_production(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("CAAS_TRUSTED_PROXIES", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("CAAS_TRUSTED_PROXIES: trusting every peer address")
    assert "any client set its own address with X-Forwarded-For" in message
    assert "CAAS_ENV=development" in message


@pytest.mark.parametrize(("value", "expected"), [("*", ("*",)), ("10.0.0.1,*", ("*",))])
def test_trusting_every_peer_is_allowed_in_development(
    env: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    env.setenv("CAAS_ENV", "development")
    env.setenv("CAAS_TRUSTED_PROXIES", value)
    assert load_settings().trusted_proxy_list == expected
    env.setenv("CAAS_TRUSTED_PROXIES", "0.0.0.0/0")
    assert load_settings().trusted_proxy_list == ("0.0.0.0/0",)


def test_broad_but_not_universal_networks_are_allowed(env: pytest.MonkeyPatch) -> None:
    env.setenv("CAAS_TRUSTED_PROXIES", "0.0.0.0/1,10.0.0.0/8")
    assert load_settings().trusted_proxy_list == ("0.0.0.0/1", "10.0.0.0/8")


def test_main_refuses_to_start_naming_the_entry(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("CAAS_TRUSTED_PROXIES", "10.0.0.1,ingress")
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err
    assert "'ingress'" in err


def _served_with(env: pytest.MonkeyPatch, proxies: str | None) -> dict[str, Any]:
    """The keyword arguments main() passes to uvicorn.run (which is not started)."""
    calls: list[dict[str, Any]] = []
    env.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    if proxies is not None:
        env.setenv("CAAS_TRUSTED_PROXIES", proxies)
    env.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own variable must never widen the trust
    entry.main()
    (kwargs,) = calls
    return kwargs


def test_main_keeps_proxy_headers_off_by_default(env: pytest.MonkeyPatch) -> None:
    kwargs = _served_with(env, None)
    assert kwargs["proxy_headers"] is False
    assert kwargs["forwarded_allow_ips"] == []


def test_main_hands_the_normalised_list_to_uvicorn(env: pytest.MonkeyPatch) -> None:
    kwargs = _served_with(env, "127.0.0.1, 10.9.9.9/8")
    assert kwargs["proxy_headers"] is True
    assert kwargs["forwarded_allow_ips"] == ["127.0.0.1", "10.0.0.0/8"]


async def _client_seen(
    trusted: list[str], peer: str, forwarded_for: str | None, proto: str | None = None
) -> tuple[str, str]:
    """(client host, scheme) the app sees behind uvicorn's middleware with `trusted`."""
    seen: list[tuple[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["client"][0], scope["scheme"]))

    headers = []
    if forwarded_for is not None:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto.encode()))
    scope = {"type": "http", "client": (peer, 1234), "scheme": "http", "headers": headers}
    await ProxyHeadersMiddleware(app, trusted_hosts=trusted)(scope, None, None)  # type: ignore[arg-type]
    return seen[0]


async def test_installed_uvicorn_picks_the_right_most_untrusted_hop(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("CAAS_TRUSTED_PROXIES", "127.0.0.1, 10.9.9.9/8")
    trusted = list(load_settings().trusted_proxy_list)
    # A direct client's (untrusted peer's) headers are ignored.
    assert await _client_seen(trusted, "198.51.100.1", "203.0.113.9", "https") == (
        "198.51.100.1",
        "http",
    )
    # Behind a trusted proxy: the forwarded client and scheme.
    assert await _client_seen(trusted, "127.0.0.1", "203.0.113.9", "https") == (
        "203.0.113.9",
        "https",
    )
    # A spoofed left-most entry is not believed past the right-most untrusted hop; trusted hops
    # (inside the normalised CIDR) on the right are skipped.
    chain = "198.51.100.66, 203.0.113.9, 10.1.2.3"
    assert await _client_seen(trusted, "127.0.0.1", chain) == ("203.0.113.9", "http")
    # Without the trusted proxy list nothing is believed.
    assert await _client_seen([], "127.0.0.1", chain) == ("127.0.0.1", "http")
