"""The whole SDK journey against a `caas-api` process over real HTTP, as a tenant and its app
would live it: a managed key, tokens, calls, MFA with an authenticator (pyotp), step-up,
sessions, refresh, usage, logout; the JWT checked by an independent library from JWKS alone."""

import secrets
import time
from collections.abc import Iterator

import httpx
import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import Stack
from tests.integration.control_plane.conftest import (
    Instance,
    Tenant,
    start_instance,
    stop_instance,
)


@pytest.fixture
def instance(stack: Stack) -> Iterator[Instance]:
    """One control plane process."""
    started = start_instance(stack, f"e2e-{secrets.token_hex(3)}")
    yield started
    stop_instance(started)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_sdk_journey_end_to_end(instance: Instance, tenant: Tenant) -> None:
    with httpx.Client(base_url=instance.url, timeout=10) as http:
        # The tenant's admin key mints a narrow key for its back end (plaintext shown once).
        created = http.post(
            "/v1/auth/api-keys", headers=tenant.headers,
            json={"name": "backend", "scopes": ["tokens:issue"]},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        backend = {"X-API-Key": created.json()["apiKey"]}

        login = http.post(
            "/v1/auth/sdk/token", headers={**backend, "User-Agent": "journey/1.0"},
            json={"userId": "alice", "device": {"deviceId": "phone-1", "platform": "ios"}},
        )  # fmt: skip
        assert login.status_code == 200, login.text
        tokens = login.json()

        # An independent JOSE library verifies the token from the published JWKS alone.
        keys = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
        decoded = jwt.decode(tokens["accessToken"], keys, algorithms=["EdDSA"])
        assert decoded.claims["sub"] == "alice"
        assert decoded.claims["tid"] == tenant.name
        assert decoded.header["typ"] == "at+jwt"

        me = http.get("/v1/auth/me", headers=bearer(tokens["accessToken"]))
        assert me.json()["userId"] == "alice"
        sessions = http.get("/v1/sessions", headers=bearer(tokens["accessToken"])).json()
        assert sessions["items"][0]["device"]["deviceId"] == "phone-1"
        assert sessions["items"][0]["userAgent"] == "journey/1.0"

        # MFA with a real authenticator algorithm (pyotp); each code works once.
        enrol = http.post("/v1/mfa/totp/enroll", headers=bearer(tokens["accessToken"])).json()
        totp = pyotp.parse_uri(enrol["otpauthUri"])
        confirm = http.post(
            "/v1/mfa/totp/confirm", headers=bearer(tokens["accessToken"]),
            json={"code": totp.now()},
        )  # fmt: skip
        assert confirm.status_code == 200, confirm.text
        code = totp.at(time.time() + 30)
        step_up = http.post(
            "/v1/mfa/verify", headers=bearer(tokens["accessToken"]), json={"code": code}
        )
        assert step_up.status_code == 200, step_up.text
        replay = http.post(
            "/v1/mfa/verify", headers=bearer(tokens["accessToken"]), json={"code": code}
        )
        assert replay.status_code == 401
        step_claims = jwt.decode(step_up.json()["stepUpToken"], keys, algorithms=["EdDSA"])
        assert step_claims.claims["amr"] == ["mfa", "otp"]

        # Refresh rotates; the old refresh token is spent.
        refreshed = http.post("/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert refreshed.status_code == 200, refreshed.text
        new = refreshed.json()
        assert new["sessionId"] == tokens["sessionId"]

        usage = http.get("/v1/tenant/usage", headers=tenant.headers).json()
        assert usage["tokensIssued"] == 1
        assert usage["activeSessions"] == 1

        assert http.post("/v1/auth/logout", headers=bearer(new["accessToken"])).status_code == 204
        assert http.get("/v1/auth/me", headers=bearer(new["accessToken"])).status_code == 401
        again = http.post("/v1/auth/refresh", json={"refreshToken": new["refreshToken"]})
        assert again.status_code == 400
        metrics = http.get("/internal/metrics").text
        assert 'route="/v1/auth/sdk/token",status="200"' in metrics
