"""Expiring records go by TTL index (no sweeper): the API declares the indexes at start, and the
server deletes refresh families, revocations and spent MFA codes once their date has passed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from pymongo import AsyncMongoClient

from caas_core.adapters.revocation_store import RevocationStore
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.revocations import Revocation, RevocationKind

TTL_FIELDS = {
    "refresh_families": "expiresAt",
    "revoked_tokens": "expireAt",
    "mfa_used_codes": "expiresAt",
}


async def test_expiring_collections_carry_ttl_indexes_and_expire(
    api: tuple[FastAPI, AsyncClient], mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    platform = mongo[PLATFORM_DATABASE]
    for collection, field in TTL_FIELDS.items():
        ttl = [
            info
            for info in (await platform[collection].index_information()).values()
            if info["key"] == [(field, 1)] and info.get("expireAfterSeconds") == 0
        ]
        assert ttl, f"{collection} has no TTL index on {field}"

    marker = uuid.uuid4().hex
    past = datetime.now(UTC) - timedelta(seconds=5)
    revocation = Revocation(
        id=f"it-expiry-{marker}",
        kind=RevocationKind.SESSION,
        tenant="it-expiry",
        subject=marker,
        expires_at=int(past.timestamp()),
        revoked_at=past.timestamp() - 60,
    )
    assert await RevocationStore(platform).record(revocation)
    stored = await platform.revoked_tokens.find_one({"_id": revocation.id})
    assert stored is not None
    assert stored["expireAt"] == datetime.fromtimestamp(revocation.expires_at, UTC)
    await platform.refresh_families.insert_one(
        {"_id": f"fam_{marker}", "tenant": "it-expiry", "expiresAt": past, "createdAt": past}
    )
    await platform.mfa_used_codes.insert_one({"_id": f"code-{marker}", "expiresAt": past})

    previous = await mongo.admin.command("setParameter", 1, ttlMonitorSleepSecs=1)
    try:
        for _ in range(60):
            left = [
                await platform.revoked_tokens.find_one({"_id": revocation.id}),
                await platform.refresh_families.find_one({"_id": f"fam_{marker}"}),
                await platform.mfa_used_codes.find_one({"_id": f"code-{marker}"}),
            ]
            if left == [None, None, None]:
                break
            await asyncio.sleep(0.5)
    finally:
        await mongo.admin.command("setParameter", 1, ttlMonitorSleepSecs=previous["was"])
    assert left == [None, None, None]
