"""Client addresses behind a proxy, over real HTTP to `python -m caas_control_plane` processes:
X-Forwarded-For is believed only from CAAS_TRUSTED_PROXIES, and then only up to the right-most
hop that is not a trusted proxy (the per-IP rate limit, API-key lockout and sessions see it).

Untrusted peers connect from their own random loopback address (127.x.y.z), so these tests never
touch 127.0.0.1's budget or lockout, which every other suite on the stack shares."""

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest
from redis import Redis

from caas_control_plane.services.api_keys import api_key_subject
from caas_control_plane.stores.lockout import FAIL_PREFIX, LOCK_PREFIX
from caas_control_plane.stores.rate_limit import KEY_PREFIX
from tests.conftest import Stack
from tests.integration.control_plane.conftest import (
    Instance,
    Tenant,
    api_env,
    start_instance,
    stop_instance,
)

# Tight per-address limits: 3 refreshes, then 1 a minute; 3 invalid API keys lock the address.
STRICT = {
    "CAAS_IP_RATE_LIMIT_PER_MINUTE": "1",
    "CAAS_RATE_LIMIT_BURST": "3",
    "CAAS_RATE_LIMIT_PER_MINUTE": "1000000",  # keys: never limited by the small burst here
    "CAAS_API_KEY_MAX_FAILURES": "3",
    "CAAS_LOCKOUT_SECONDS": "60",
}
# The test client on 127.0.0.1 is the trusted ingress; 10.9.9.9/8 (host bits set on purpose: it
# must be normalised, uvicorn alone would silently never match it) is a second trusted hop.
TRUSTED = "127.0.0.1, 10.9.9.9/8"
SECOND_PROXY = "10.1.2.3"

Addresses = Callable[[str], str]


def xff(*hops: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(hops)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def addresses(stack: Stack) -> Iterator[Addresses]:
    """Fresh addresses, `forwarded` (198.18.0.0/15) or `loopback` peers (127.1-254.x.y, never
    127.0.0.1); their rate-limit and lockout keys are removed afterwards."""
    made: list[str] = []

    def make(kind: str) -> str:
        first = {"forwarded": 18 + secrets.randbelow(2), "loopback": secrets.randbelow(254) + 1}
        octet = {"forwarded": 198, "loopback": 127}[kind]
        address = f"{octet}.{first[kind]}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
        made.append(address)
        return address

    yield make
    redis = Redis.from_url(stack.redis_url)
    try:
        for address in made:
            subject = api_key_subject(address)
            redis.delete(f"{KEY_PREFIX}ip:{address}", FAIL_PREFIX + subject, LOCK_PREFIX + subject)
    finally:
        redis.close()


def _lock_out(stack: Stack, address: str) -> None:
    """Lock `address` out for a minute, as if it had guessed API keys and spent its budget."""
    redis = Redis.from_url(stack.redis_url)
    try:
        seconds, micros = redis.time()
        in_an_hour = seconds * 1_000_000 + micros + 3_600_000_000  # the GCRA's "TAT" is in µs
        redis.set(f"{KEY_PREFIX}ip:{address}", in_an_hour, px=3_600_000)
        redis.set(LOCK_PREFIX + api_key_subject(address), "1", px=60_000)
    finally:
        redis.close()


def _client(instance: Instance, peer: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client connecting from `peer` (any 127.0.0.0/8 address is this machine)."""
    return httpx.Client(
        base_url=instance.url, transport=httpx.HTTPTransport(local_address=peer), timeout=10
    )


def _session_ip(client: httpx.Client, tenant: Tenant, **headers: str) -> str:
    """Log a fresh user in with `headers`; the `ip` recorded in their (only) session."""
    login = client.post(
        "/v1/auth/sdk/token",
        headers={**tenant.headers, **headers},
        json={"userId": f"u-{secrets.token_hex(4)}"},
    )
    assert login.status_code == 200, login.text
    listed = client.get("/v1/sessions", headers=bearer(login.json()["accessToken"]))
    assert listed.status_code == 200, listed.text
    (session,) = listed.json()["items"]
    ip: str = session["ip"]
    return ip


def _limited(client: httpx.Client, *hops: str) -> bool:
    """Whether an (invalid) refresh is refused by the per-address limit, charged before the
    token is even looked at; anything else (a 4xx for the bad token) means it was charged."""
    headers = xff(*hops) if hops else {}
    response = client.post("/v1/auth/refresh", headers=headers, json={"refreshToken": "caas_rt_x"})
    assert response.status_code < 500, response.text
    return response.status_code == 429


def _login_status(client: httpx.Client, key: dict[str, str], *hops: str) -> int:
    headers = {**key, **(xff(*hops) if hops else {})}
    response = client.post("/v1/auth/sdk/token", headers=headers, json={"userId": "u"})
    if response.status_code == 429:
        assert response.json()["type"].endswith("/locked"), response.text
    return response.status_code


@pytest.fixture(scope="module")
def behind_proxy(stack: Stack) -> Iterator[Instance]:
    """One API process trusting 127.0.0.1 (the test client) and 10.0.0.0/8, strict limits."""
    name = f"it-px-{secrets.token_hex(3)}"
    instance = start_instance(stack, name, CAAS_TRUSTED_PROXIES=TRUSTED, **STRICT)
    try:
        yield instance
    finally:
        stop_instance(instance)


def test_forwarded_for_is_ignored_without_trusted_proxies(
    stack: Stack, tenant: Tenant, addresses: Addresses
) -> None:
    peer, forged = addresses("loopback"), addresses("forwarded")
    _lock_out(stack, forged)
    name = f"it-np-{secrets.token_hex(3)}"
    instance = start_instance(stack, name, CAAS_TRUSTED_PROXIES="", **STRICT)
    try:
        with _client(instance, peer) as client:
            spoof = {**xff(forged), "X-Forwarded-Proto": "https"}
            assert _session_ip(client, tenant, **spoof) == peer
            # Claiming a locked-out address changes nothing: the peer's own lockout applies.
            assert _login_status(client, tenant.headers, forged) == 200
            # Every refresh is charged to the peer, whatever address each one claims (a forged
            # address with a spent budget included): 3 pass, the 4th is over the peer's budget.
            claims = [forged, addresses("forwarded"), addresses("forwarded"), forged]
            assert [_limited(client, claim) for claim in claims] == [False, False, False, True]
    finally:
        stop_instance(instance)


def test_trusted_proxy_forwards_the_right_most_untrusted_hop(
    behind_proxy: Instance, tenant: Tenant, addresses: Addresses
) -> None:
    with _client(behind_proxy) as client:
        assert _session_ip(client, tenant, **xff("203.0.113.9")) == "203.0.113.9"
        # The client claims to be 198.51.100.66; the ingress (127.0.0.1 here) appended the address
        # it saw, 203.0.113.10, and a second trusted hop (in 10.0.0.0/8) appended its own.
        chain = xff("198.51.100.66", "203.0.113.10", SECOND_PROXY)
        assert _session_ip(client, tenant, **chain) == "203.0.113.10"
    # A peer that is not a trusted proxy is not believed on the same instance.
    peer = addresses("loopback")
    with _client(behind_proxy, peer) as client:
        assert _session_ip(client, tenant, **xff("203.0.113.9", SECOND_PROXY)) == peer


def test_a_forwarded_locked_out_address_is_refused(
    stack: Stack, behind_proxy: Instance, tenant: Tenant, addresses: Addresses
) -> None:
    # The mirror of the untrusted case: the same forged header, now from a trusted proxy.
    forged = addresses("forwarded")
    _lock_out(stack, forged)
    with _client(behind_proxy) as client:
        assert _limited(client, forged)
        assert _login_status(client, tenant.headers, forged) == 429


def test_forwarded_clients_have_separate_ip_budgets(
    behind_proxy: Instance, addresses: Addresses
) -> None:
    a, b = addresses("forwarded"), addresses("forwarded")
    with _client(behind_proxy) as client:
        assert [_limited(client, a) for _ in range(5)] == [False, False, False, True, True]
        assert not _limited(client, b)  # a's budget is spent; b has its own
        # a cannot borrow b's budget by putting b on the left: a is the right-most untrusted hop.
        assert _limited(client, b, a)
        assert _limited(client, b, a, SECOND_PROXY)
        # ... while b behind a spoofed a (and a trusted hop) is charged as b.
        assert not _limited(client, a, b, SECOND_PROXY)
        assert not _limited(client, a, b)
        assert _limited(client, b)  # b's 3 are spent now too


def test_forwarded_clients_have_separate_api_key_lockouts(
    behind_proxy: Instance, tenant: Tenant, addresses: Addresses
) -> None:
    a, b = addresses("forwarded"), addresses("forwarded")
    bad = {"X-API-Key": tenant.api_key[:-6] + "AAAAAA"}
    with _client(behind_proxy) as client:
        assert [_login_status(client, bad, a) for _ in range(4)] == [401, 401, 429, 429]
        assert _login_status(client, tenant.headers, a) == 429  # even the valid key
        assert _login_status(client, tenant.headers, b) == 200  # another client: not locked
        # A spoofed left-most entry does not unlock a; a trusted hop on the right changes nothing.
        assert _login_status(client, tenant.headers, b, a) == 429
        assert _login_status(client, tenant.headers, b, a, SECOND_PROXY) == 429
        assert _login_status(client, tenant.headers, a, b, SECOND_PROXY) == 200


@pytest.mark.parametrize("proxies", ["*", "0.0.0.0/0", "10.0.0.1,::/0", "10.0.0.1,ingress"])
def test_unsafe_or_bad_trusted_proxies_refuse_to_start(stack: Stack, proxies: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "caas_control_plane"],
        env={**os.environ, **api_env(stack, CAAS_TRUSTED_PROXIES=proxies, CAAS_API_PORT="9")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "caas-api: refusing to start: CAAS_TRUSTED_PROXIES" in result.stderr
