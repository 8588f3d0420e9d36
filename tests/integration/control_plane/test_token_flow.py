"""The SDK flow over HTTP, JWKS for independent verifiers, refresh rotation and reuse detection."""

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import KeySet

from caas_control_plane.auth.signing import build_access_claims
from tests.conftest import Stack
from tests.integration.control_plane.conftest import Tenant, make_settings, running_app

Api = tuple[FastAPI, httpx.AsyncClient]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, tenant: Tenant, user: str = "u-1") -> dict[str, Any]:
    response = await client.post(
        "/v1/auth/sdk/token",
        headers=tenant.headers,
        json={"userId": user, "device": {"deviceId": "d-1", "platform": "ios"}},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def test_full_sdk_flow_key_token_call_refresh_logout(api: Api, tenant: Tenant) -> None:
    _, client = api
    tokens = await login(client, tenant)
    assert tokens["tokenType"] == "Bearer"
    assert tokens["tenant"] == tenant.name
    me = await client.get("/v1/auth/me", headers=bearer(tokens["accessToken"]))
    assert me.status_code == 200
    assert me.json()["userId"] == "u-1"
    assert me.json()["sessionId"] == tokens["sessionId"]

    refreshed = await client.post("/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refreshToken"] != tokens["refreshToken"]
    assert new["sessionId"] == tokens["sessionId"]
    assert (await client.get("/v1/auth/me", headers=bearer(new["accessToken"]))).status_code == 200

    logout = await client.post("/v1/auth/logout", headers=bearer(new["accessToken"]))
    assert logout.status_code == 204
    for token in (tokens["accessToken"], new["accessToken"]):
        rejected = await client.get("/v1/auth/me", headers=bearer(token))
        assert rejected.status_code == 401
        assert rejected.headers["content-type"] == "application/problem+json"
        assert rejected.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    after = await client.post("/v1/auth/refresh", json={"refreshToken": new["refreshToken"]})
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"


async def test_bad_api_keys_and_missing_scope_are_refused(api: Api, tenant_factory: Any) -> None:
    _, client = api
    no_key = await client.post("/v1/auth/sdk/token", json={"userId": "u"})
    assert no_key.status_code == 401
    forged = await client.post(
        "/v1/auth/sdk/token",
        headers={"X-API-Key": "caas_sk_aaaaaaaaaaaaaaaa_" + "A" * 43},
        json={"userId": "u"},
    )
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    narrow = await tenant_factory(scopes=("tokens:introspect",))
    denied = await client.post("/v1/auth/sdk/token", headers=narrow.headers, json={"userId": "u"})
    assert denied.status_code == 403
    bad_body = await client.post("/v1/auth/sdk/token", headers=narrow.headers, json={})
    assert bad_body.status_code in (403, 422)


async def test_jwt_verifies_with_an_independent_library_from_the_jwks_alone(
    api: Api, tenant: Tenant
) -> None:
    _, client = api
    tokens = await login(client, tenant)
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age=" in response.headers["cache-control"]
    key_set = KeySet.import_key_set(response.json())
    decoded = jwt.decode(tokens["accessToken"], key_set, algorithms=["EdDSA"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["alg"] == "EdDSA"
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "https://api.caas.local"},
        aud={"essential": True, "value": "caas-api"},
        sub={"essential": True, "value": "u-1"},
        tid={"essential": True, "value": tenant.name},
    )
    registry.validate(decoded.claims)
    assert decoded.claims["sid"] == tokens["sessionId"]


def _segment(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_attacks_on_access_tokens_are_rejected(api: Api, tenant: Tenant) -> None:
    app, client = api
    tokens = await login(client, tenant)
    header_b64, payload_b64, signature_b64 = tokens["accessToken"].split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=="))
    kid = json.loads(base64.urlsafe_b64decode(header_b64 + "=="))["kid"]
    jwks = (await client.get("/.well-known/jwks.json")).json()
    public_x = next(k["x"] for k in jwks["keys"] if k["kid"] == kid)

    def hs256(secret: bytes, header: dict[str, Any]) -> str:
        signing_input = f"{_segment(header)}.{_segment(payload)}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    attacks = {
        "alg none": f"{_segment({'alg': 'none', 'typ': 'at+jwt'})}.{payload_b64}.",
        "alg none with kid": f"{_segment({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}"
        f".{payload_b64}.",
        "HS256 keyed with the public key (confusion)": hs256(
            base64.urlsafe_b64decode(public_x + "="), {"alg": "HS256", "kid": kid, "typ": "at+jwt"}
        ),
        "HS256 keyed with the JWK text": hs256(
            json.dumps(jwks["keys"][0]).encode(), {"alg": "HS256", "kid": kid, "typ": "at+jwt"}
        ),
        "forged kid": f"{_segment({'alg': 'EdDSA', 'kid': 'attacker', 'typ': 'at+jwt'})}"
        f".{payload_b64}.{signature_b64}",
        "embedded jwk": ".".join(
            [
                _segment({"alg": "EdDSA", "jwk": jwks["keys"][0], "kid": kid, "typ": "at+jwt"}),
                payload_b64,
                signature_b64,
            ]
        ),
        "tampered payload": f"{header_b64}.{_segment({**payload, 'sub': 'admin'})}.{signature_b64}",
    }
    keys = app.state.runtime.keys
    now = datetime.now(UTC)

    def signed(**changes: Any) -> str:
        base = {
            "issuer": "https://api.caas.local",
            "audience": "caas-api",
            "subject": "u-1",
            "tenant_id": tenant.name,
            "session_id": tokens["sessionId"],
            "now": now,
            "ttl": timedelta(minutes=5),
        }
        return str(keys.sign(build_access_claims(**{**base, **changes})))

    attacks |= {
        "expired": signed(now=now - timedelta(hours=1)),
        "not yet valid": signed(now=now + timedelta(hours=1)),
        "wrong audience": signed(audience="someone-else"),
        "wrong issuer": signed(issuer="https://evil.example"),
    }
    assert (await client.get("/v1/auth/me", headers=bearer(signed()))).status_code == 200
    for name, token in attacks.items():
        response = await client.get("/v1/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/problem+json", name


async def test_tenant_a_tokens_are_useless_to_tenant_b(api: Api, tenant_factory: Any) -> None:
    _, client = api
    a, b = await tenant_factory(), await tenant_factory()
    tokens = await login(client, a)
    # B's back end cannot see A's tokens...
    for token in (tokens["accessToken"], tokens["refreshToken"]):
        seen = await client.post("/v1/auth/introspect", headers=b.headers, data={"token": token})
        assert seen.status_code == 200
        assert seen.json() == {"active": False}
    # ...nor revoke them (RFC 7009 answers 200 either way, but nothing changes).
    for token in (tokens["accessToken"], tokens["refreshToken"]):
        revoked = await client.post("/v1/auth/revoke", headers=b.headers, data={"token": token})
        assert revoked.status_code == 200
    own = await client.post(
        "/v1/auth/introspect", headers=a.headers, data={"token": tokens["accessToken"]}
    )
    assert own.json()["active"] is True
    assert own.json()["tid"] == a.name
    assert (
        await client.get("/v1/auth/me", headers=bearer(tokens["accessToken"]))
    ).status_code == 200
    # B's revoke-all touches only B.
    await client.post("/v1/auth/revoke-all", headers=b.headers, json={})
    await asyncio.sleep(0)
    assert (
        await client.get("/v1/auth/me", headers=bearer(tokens["accessToken"]))
    ).status_code == 200
    assert (
        await client.post("/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    ).status_code == 200


async def test_refresh_reuse_after_rotation_revokes_the_family(
    stack: Stack, tenant: Tenant
) -> None:
    settings = make_settings(stack, CAAS_REFRESH_GRACE_SECONDS="0.2")
    async with running_app(settings) as (_, client):
        first = await login(client, tenant)
        second = (
            await client.post("/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
        ).json()
        await asyncio.sleep(0.5)  # past the grace window
        reuse = await client.post("/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
        assert reuse.status_code == 400
        # The whole family is gone: the legitimate successor and the session's access tokens.
        successor = await client.post(
            "/v1/auth/refresh", json={"refreshToken": second["refreshToken"]}
        )
        assert successor.status_code == 400
        for token in (first["accessToken"], second["accessToken"]):
            assert (await client.get("/v1/auth/me", headers=bearer(token))).status_code == 401


async def test_a_forged_token_naming_a_real_family_is_refused_and_harms_nothing(
    api: Api, tenant: Tenant
) -> None:
    """The family id in a refresh token is no secret: only the token's hash opens the family."""
    _, client = api
    tokens = await login(client, tenant)
    family_part, _, secret = tokens["refreshToken"].partition(".")
    forged = f"{family_part}.{'A' * (len(secret) - 1)}A"
    assert forged != tokens["refreshToken"]
    refused = await client.post("/v1/auth/refresh", json={"refreshToken": forged})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    # Not read as reuse: the family, its session and its real token are untouched.
    assert (
        await client.get("/v1/auth/me", headers=bearer(tokens["accessToken"]))
    ).status_code == 200
    real = await client.post("/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert real.status_code == 200


async def test_100_concurrent_refreshes_yield_one_successor(api: Api, tenant: Tenant) -> None:
    _, client = api
    tokens = await login(client, tenant)
    responses = await asyncio.gather(
        *(
            client.post("/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
            for _ in range(100)
        )
    )
    assert [r.status_code for r in responses] == [200] * 100, responses[0].text
    successors = {r.json()["refreshToken"] for r in responses}
    assert len(successors) == 1
    # Nobody was logged out: every access token works, and the successor rotates normally.
    assert (
        await client.get("/v1/auth/me", headers=bearer(responses[-1].json()["accessToken"]))
    ).status_code == 200
    nxt = await client.post("/v1/auth/refresh", json={"refreshToken": successors.pop()})
    assert nxt.status_code == 200


async def test_revoke_introspect_and_revoke_all(api: Api, tenant: Tenant) -> None:
    _, client = api
    one = await login(client, tenant, "u-1")
    two = await login(client, tenant, "u-2")
    # RFC 7009 with an access token: only that token dies; the session refreshes on.
    revoked = await client.post(
        "/v1/auth/revoke",
        headers=tenant.headers,
        data={"token": one["accessToken"], "token_type_hint": "access_token"},
    )
    assert revoked.status_code == 200
    assert (await client.get("/v1/auth/me", headers=bearer(one["accessToken"]))).status_code == 401
    inactive = await client.post(
        "/v1/auth/introspect", headers=tenant.headers, data={"token": one["accessToken"]}
    )
    assert inactive.json() == {"active": False}
    refreshed = await client.post("/v1/auth/refresh", json={"refreshToken": one["refreshToken"]})
    assert refreshed.status_code == 200
    # Refresh-token introspection.
    active = await client.post(
        "/v1/auth/introspect", headers=tenant.headers,
        data={"token": refreshed.json()["refreshToken"], "token_type_hint": "refresh_token"},
    )  # fmt: skip
    assert active.json()["active"] is True
    assert active.json()["token_type"] == "refresh_token"
    # A user revoking their own refresh token with their Bearer token ends the session.
    own = await client.post(
        "/v1/auth/revoke",
        headers=bearer(two["accessToken"]),
        data={"token": two["refreshToken"]},
    )
    assert own.status_code == 200
    assert (await client.get("/v1/auth/me", headers=bearer(two["accessToken"]))).status_code == 401
    # Revoke-all for u-1: every token issued so far dies, new logins work.
    answer = await client.post(
        "/v1/auth/revoke-all", headers=tenant.headers, json={"userId": "u-1"}
    )
    assert answer.status_code == 200
    assert answer.json()["notBefore"] > 0
    assert (
        await client.get("/v1/auth/me", headers=bearer(refreshed.json()["accessToken"]))
    ).status_code == 401
    fresh = await login(client, tenant, "u-1")
    assert (
        await client.get("/v1/auth/me", headers=bearer(fresh["accessToken"]))
    ).status_code == 200
