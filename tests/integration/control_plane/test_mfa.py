"""`/v1/mfa` with codes from pyotp: enrol, confirm, verify once, backup codes, step-up, trusted
devices, disable; brute force locked on both of two API processes (lockout shared in Redis)."""

import base64
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from redis import Redis

from caas_control_plane.services.api_keys import api_key_subject
from caas_control_plane.stores.lockout import FAIL_PREFIX, LOCK_PREFIX
from caas_control_plane.stores.mfa import FACTORS, USED
from tests.conftest import Stack
from tests.integration.control_plane.conftest import (
    Instance,
    Tenant,
    start_instance,
    stop_instance,
)

Api = tuple[FastAPI, httpx.AsyncClient]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(client: httpx.AsyncClient, tenant: Tenant, user: str) -> Any:
    response = await client.post(
        "/v1/auth/sdk/token",
        headers=tenant.headers,
        json={"userId": user, "device": {"deviceId": f"dev-{user}"}},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _enrol(client: httpx.AsyncClient, access: str) -> tuple[pyotp.TOTP, list[str]]:
    enrol = await client.post("/v1/mfa/totp/enroll", headers=bearer(access))
    assert enrol.status_code == 200, enrol.text
    body = enrol.json()
    assert base64.b64decode(body["qrPng"]).startswith(PNG_MAGIC)
    assert body["otpauthUri"].startswith("otpauth://totp/")
    totp = pyotp.parse_uri(body["otpauthUri"])
    assert totp.secret == body["secret"]
    confirm = await client.post(
        "/v1/mfa/totp/confirm", headers=bearer(access), json={"code": totp.now()}
    )
    assert confirm.status_code == 200, confirm.text
    return totp, confirm.json()["backupCodes"]


def _next_code(totp: pyotp.TOTP) -> str:
    """A code of the next time step (accepted: ±1 step; later than the step just used)."""
    return totp.at(time.time() + 30)


async def test_totp_codes_from_pyotp_are_accepted_once(
    api: Api, tenant: Tenant, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    tokens = await _login(client, tenant, "mfa-user")
    access = tokens["accessToken"]
    assert (await client.get("/v1/mfa", headers=bearer(access))).json()["totp"] == "none"
    totp, backup = await _enrol(client, access)
    assert len(backup) == 10
    status = (await client.get("/v1/mfa", headers=bearer(access))).json()
    assert status == {"totp": "enabled", "backupCodesRemaining": 10, "trustedDevices": {}}

    # The secret is sealed at rest: the base32 secret appears nowhere in the document.
    doc = await mongo["caas_platform"][FACTORS].find_one({"_id": f"{tenant.name}/mfa-user"})
    assert doc is not None
    assert totp.secret not in str(doc)
    assert doc["totp"]["sealed"].startswith("v1.")

    code = _next_code(totp)
    verified = await client.post("/v1/mfa/verify", headers=bearer(access), json={"code": code})
    assert verified.status_code == 200, verified.text
    step_up = verified.json()["stepUpToken"]
    replay = await client.post("/v1/mfa/verify", headers=bearer(access), json={"code": code})
    assert replay.status_code == 401
    # The confirmation code (an earlier step) is not accepted either.
    older = await client.post("/v1/mfa/verify", headers=bearer(access), json={"code": totp.now()})
    assert older.status_code == 401

    # Sensitive action: ending other sessions needs the step-up token once MFA is on.
    other = await _login(client, tenant, "mfa-user")
    refused = await client.delete("/v1/sessions", headers=bearer(access))
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/mfa-required")
    allowed = await client.delete("/v1/sessions", headers=bearer(step_up))
    assert allowed.json() == {"terminated": 1}
    gone = await client.get("/v1/auth/me", headers=bearer(other["accessToken"]))
    assert gone.status_code == 401

    # Backup codes: single use; regenerating invalidates the old set.
    first = await client.post(
        "/v1/mfa/verify", headers=bearer(access), json={"backupCode": backup[0].lower()}
    )
    assert first.status_code == 200
    assert first.json()["method"] == "backup_code"
    again = await client.post(
        "/v1/mfa/verify", headers=bearer(access), json={"backupCode": backup[0]}
    )
    assert again.status_code == 401
    # (No TOTP code is left in this time window: the current and next steps are spent.)
    fresh = await client.post(
        "/v1/mfa/backup-codes", headers=bearer(access), json={"backupCode": backup[2]}
    )
    assert fresh.status_code == 200, fresh.text
    old = await client.post(
        "/v1/mfa/verify", headers=bearer(access), json={"backupCode": backup[1]}
    )
    assert old.status_code == 401
    new_code = fresh.json()["backupCodes"][0]
    ok = await client.post("/v1/mfa/verify", headers=bearer(access), json={"backupCode": new_code})
    assert ok.status_code == 200

    # Disable needs re-authentication.
    no_proof = await client.post("/v1/mfa/totp/disable", headers=bearer(access), json={})
    assert no_proof.status_code == 422
    disabled = await client.post(
        "/v1/mfa/totp/disable", headers=bearer(access),
        json={"backupCode": fresh.json()["backupCodes"][1]},
    )  # fmt: skip
    assert disabled.status_code == 204
    assert (await client.get("/v1/mfa", headers=bearer(access))).json()["totp"] == "none"
    await mongo["caas_platform"][FACTORS].delete_many({"tenant": tenant.name})
    await mongo["caas_platform"][USED].delete_many({"_id": {"$regex": f"/{tenant.name}/"}})


async def test_trusted_device_challenge(api: Api, tenant: Tenant) -> None:
    _, client = api
    tokens = await _login(client, tenant, "trusting")
    access = tokens["accessToken"]
    totp, _ = await _enrol(client, access)
    refused = await client.post("/v1/mfa/challenge", headers=bearer(access))
    assert refused.status_code == 403
    trusted = await client.post(
        "/v1/mfa/verify", headers=bearer(access),
        json={"code": _next_code(totp), "trustDevice": True},
    )  # fmt: skip
    assert trusted.status_code == 200
    status = (await client.get("/v1/mfa", headers=bearer(access))).json()
    assert list(status["trustedDevices"]) == ["dev-trusting"]
    # A later session on the same device gets a step-up without a code.
    later = await _login(client, tenant, "trusting")
    challenge = await client.post("/v1/mfa/challenge", headers=bearer(later["accessToken"]))
    assert challenge.status_code == 200
    assert challenge.json()["method"] == "trusted_device"
    step_up = challenge.json()["stepUpToken"]
    forget = await client.delete("/v1/mfa/trusted-devices/dev-trusting", headers=bearer(access))
    assert forget.status_code == 403  # sensitive: needs the step-up token
    forget = await client.delete("/v1/mfa/trusted-devices/dev-trusting", headers=bearer(step_up))
    assert forget.status_code == 204
    assert (await client.post("/v1/mfa/challenge", headers=bearer(access))).status_code == 403


def test_brute_force_of_totp_and_backup_codes_locks_on_both_instances(
    two_instances: tuple[Instance, Instance], tenant: Tenant
) -> None:
    a, b = two_instances
    with httpx.Client(base_url=a.url) as ca, httpx.Client(base_url=b.url) as cb:
        login = ca.post(
            "/v1/auth/sdk/token", headers=tenant.headers,
            json={"userId": "victim", "device": {"deviceId": "d"}},
        ).json()  # fmt: skip
        access = bearer(login["accessToken"])
        enrol = ca.post("/v1/mfa/totp/enroll", headers=access).json()
        totp = pyotp.parse_uri(enrol["otpauthUri"])
        assert (
            ca.post("/v1/mfa/totp/confirm", headers=access, json={"code": totp.now()}).status_code
            == 200
        )
        valid = _next_code(totp)
        wrong = f"{(int(valid) + 1) % 1_000_000:06d}"
        # Wrong guesses alternate between the instances: the count is shared.
        statuses = [
            (ca if i % 2 else cb)
            .post("/v1/mfa/verify", headers=access, json={"code": wrong})
            .status_code
            for i in range(5)
        ]
        assert statuses[:4] == [401] * 4
        assert statuses[4] == 429
        for client in (ca, cb):  # even the right code is refused while locked, on both
            locked = client.post("/v1/mfa/verify", headers=access, json={"code": valid})
            assert locked.status_code == 429
            assert locked.headers["content-type"] == "application/problem+json"
            assert int(locked.headers["retry-after"]) > 0
        # Backup codes have their own counter, locked the same way.
        guesses = [
            (ca if i % 2 else cb)
            .post("/v1/mfa/verify", headers=access, json={"backupCode": "AAAAA-AAAAA"})
            .status_code
            for i in range(6)
        ]
        assert guesses[:4] == [401] * 4
        assert guesses[4:] == [429, 429]


@pytest.fixture
def strict_instances(stack: Stack) -> Iterator[tuple[Instance, Instance]]:
    """Two processes locking an address after 3 bad API keys, for 3 s (the lock is shared by
    everything on this stack connecting from 127.0.0.1, so it is short and removed after)."""
    strict = {"CAAS_API_KEY_MAX_FAILURES": "3", "CAAS_LOCKOUT_SECONDS": "3"}
    redis = Redis.from_url(stack.redis_url)
    subject = api_key_subject("127.0.0.1")
    redis.delete(FAIL_PREFIX + subject, LOCK_PREFIX + subject)
    first = start_instance(stack, f"it-la-{secrets.token_hex(3)}", **strict)
    try:
        second = start_instance(stack, f"it-lb-{secrets.token_hex(3)}", **strict)
    except BaseException:
        stop_instance(first)
        raise
    try:
        yield first, second
    finally:
        stop_instance(first)
        stop_instance(second)
        redis.delete(FAIL_PREFIX + subject, LOCK_PREFIX + subject)
        redis.close()


def test_api_key_guessing_locks_the_address_on_both_instances(
    strict_instances: tuple[Instance, Instance], tenant: Tenant
) -> None:
    a, b = strict_instances
    bad = tenant.api_key[:-6] + "AAAAAA"
    with httpx.Client(base_url=a.url) as ca, httpx.Client(base_url=b.url) as cb:
        statuses = [
            (ca if i % 2 else cb)
            .post("/v1/auth/sdk/token", headers={"X-API-Key": bad}, json={"userId": "u"})
            .status_code
            for i in range(4)
        ]
        assert statuses[:2] == [401, 401]
        assert statuses[2:] == [429, 429]
        for client in (ca, cb):  # the valid key from the locked address is refused too
            response = client.post(
                "/v1/auth/sdk/token", headers=tenant.headers, json={"userId": "u"}
            )
            assert response.status_code == 429
            assert response.json()["type"].endswith("/locked")
        time.sleep(3.5)  # the lock lapses on its own
        after = ca.post("/v1/auth/sdk/token", headers=tenant.headers, json={"userId": "u"})
        assert after.status_code == 200


async def test_tenant_requiring_mfa_blocks_sensitive_actions_until_enrolled(
    api: Api, tenant: Tenant, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    _, client = api
    tokens = await _login(client, tenant, "newcomer")
    access = tokens["accessToken"]
    assert (await client.delete("/v1/sessions", headers=bearer(access))).status_code == 200
    required = {"mfaRequired": True}
    saved = await client.put("/v1/tenant/settings", headers=tenant.headers, json=required)
    assert saved.status_code == 200
    try:
        refused = await client.delete("/v1/sessions", headers=bearer(access))
        assert refused.status_code == 403
        assert "enrol" in refused.json()["detail"]
        totp, _ = await _enrol(client, access)
        step_up = await client.post(
            "/v1/mfa/verify", headers=bearer(access), json={"code": _next_code(totp)}
        )
        token = step_up.json()["stepUpToken"]
        assert (await client.delete("/v1/sessions", headers=bearer(token))).status_code == 200
    finally:
        await mongo["caas_platform"]["saas_clients"].delete_one({"_id": tenant.name})
