"""`/v1/sessions`: list, terminate one, terminate others; admin extend/terminate; isolation."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from tests.integration.control_plane.conftest import Tenant

Api = tuple[FastAPI, httpx.AsyncClient]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(client: httpx.AsyncClient, tokens: Any) -> int:
    """The status of /v1/auth/me with these tokens' access token."""
    return (await client.get("/v1/auth/me", headers=bearer(tokens["accessToken"]))).status_code


async def _login(client: httpx.AsyncClient, tenant: Tenant, user: str, device: str) -> Any:
    response = await client.post(
        "/v1/auth/sdk/token",
        headers={**tenant.headers, "User-Agent": f"app/{device}"},
        json={"userId": user, "device": {"deviceId": device, "fingerprint": f"fp-{device}"}},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_user_lists_and_terminates_sessions(api: Api, tenant: Tenant) -> None:
    _, client = api
    phone, laptop, tablet = [await _login(client, tenant, "u-1", d) for d in ("p", "l", "t")]
    other_user = await _login(client, tenant, "u-2", "x")
    listed = await client.get("/v1/sessions", headers=bearer(phone["accessToken"]))
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {s["sessionId"] for s in items} == {
        phone["sessionId"],
        laptop["sessionId"],
        tablet["sessionId"],
    }
    mine = next(s for s in items if s["current"])
    assert mine["sessionId"] == phone["sessionId"]
    assert mine["device"]["fingerprint"] == "fp-p"
    assert mine["userAgent"] == "app/p"
    assert mine["ip"]
    assert datetime.fromisoformat(mine["lastSeenAt"]) >= datetime.fromisoformat(mine["createdAt"])

    # Another user's session is not the caller's: 404, and it stays alive.
    foreign = await client.delete(
        f"/v1/sessions/{other_user['sessionId']}", headers=bearer(phone["accessToken"])
    )
    assert foreign.status_code == 404
    assert (
        await client.get("/v1/auth/me", headers=bearer(other_user["accessToken"]))
    ).status_code == 200

    ended = await client.delete(
        f"/v1/sessions/{tablet['sessionId']}", headers=bearer(phone["accessToken"])
    )
    assert ended.status_code == 204
    assert (
        await client.get("/v1/auth/me", headers=bearer(tablet["accessToken"]))
    ).status_code == 401
    refresh = await client.post("/v1/auth/refresh", json={"refreshToken": tablet["refreshToken"]})
    assert refresh.status_code == 400

    others = await client.delete("/v1/sessions", headers=bearer(phone["accessToken"]))
    assert others.json() == {"terminated": 1}
    assert (
        await client.get("/v1/auth/me", headers=bearer(laptop["accessToken"]))
    ).status_code == 401
    assert (
        await client.get("/v1/auth/me", headers=bearer(phone["accessToken"]))
    ).status_code == 200
    left = (await client.get("/v1/sessions", headers=bearer(phone["accessToken"]))).json()
    assert [s["sessionId"] for s in left["items"]] == [phone["sessionId"]]


async def test_admin_key_extends_and_terminates_within_its_tenant_only(
    api: Api, tenant_factory: Callable[..., Any]
) -> None:
    _, client = api
    a: Tenant = await tenant_factory()
    b: Tenant = await tenant_factory()
    b_admin: Tenant = await tenant_factory(scopes=("sessions:admin",))
    session = await _login(client, a, "u-1", "p")
    sid = session["sessionId"]

    listed = await client.get("/v1/sessions/users/u-1", headers=a.headers)
    assert [s["sessionId"] for s in listed.json()["items"]] == [sid]
    before = datetime.fromisoformat(listed.json()["items"][0]["expiresAt"])

    # Tenant B's keys (even with sessions:admin) see nothing of tenant A.
    for key in (b, b_admin):
        assert (await client.get("/v1/sessions/users/u-1", headers=key.headers)).json() == {
            "items": []
        }
        extend = await client.post(
            f"/v1/sessions/{sid}/extend", headers=key.headers, json={"seconds": 3600}
        )
        assert extend.status_code == 404
        assert (await client.delete(f"/v1/sessions/{sid}", headers=key.headers)).status_code == 404
    # Tenant B's users cannot reach it either.
    b_user = await _login(client, b, "u-1", "q")
    denied = await client.delete(f"/v1/sessions/{sid}", headers=bearer(b_user["accessToken"]))
    assert denied.status_code == 404
    assert (
        await client.get("/v1/auth/me", headers=bearer(session["accessToken"]))
    ).status_code == 200

    # A key without sessions:admin may not act as admin.
    issuer: Tenant = await tenant_factory(scopes=("tokens:issue",))
    assert (await client.get("/v1/sessions/users/u-1", headers=issuer.headers)).status_code == 403

    extended = await client.post(
        f"/v1/sessions/{sid}/extend", headers=a.headers, json={"seconds": 3600}
    )
    # The default refresh lifetime is the cap from now, so an extension may be clipped or refused.
    assert extended.status_code in (200, 422), extended.text
    if extended.status_code == 200:
        assert datetime.fromisoformat(extended.json()["expiresAt"]) > before
    assert (await client.delete(f"/v1/sessions/{sid}", headers=a.headers)).status_code == 204
    assert (
        await client.get("/v1/auth/me", headers=bearer(session["accessToken"]))
    ).status_code == 401
