"""A real API process for edge tests (property-based and hostile input), with a tenant whose
credentials survive whatever the tests send: its API key is operator-managed (the REST API
answers 409 to any change or revocation of it) and holds every scope."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from pymongo import MongoClient

from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, ResourceRef, to_document
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from caas_core.domain.naming import database_name
from tests.conftest import Stack
from tests.integration.control_plane.conftest import start_instance, stop_instance


@dataclass(frozen=True)
class EdgeApi:
    """A running API process and the credentials to call every operation of it."""

    url: str
    tenant: str
    api_key: str
    internal_token: str

    def login(self, client: httpx.Client, user: str = "edge-user") -> str:
        """A fresh access token for a user of the tenant."""
        response = client.post(
            f"{self.url}/v1/auth/sdk/token",
            json={"userId": user, "device": {"deviceId": "edge-device"}},
            headers={"X-API-Key": self.api_key},
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["accessToken"]
        return token


@contextmanager
def edge_api(stack: Stack, name: str) -> Iterator[EdgeApi]:
    """Start the API process and the tenant; remove both afterwards."""
    key = new_api_key()
    tenant = f"it-edge-{secrets.token_hex(4)}"
    internal_token = secrets.token_urlsafe(32)
    mongo: MongoClient[dict[str, object]] = MongoClient(stack.mongodb_uri, tz_aware=True)
    platform = mongo["caas_platform"]
    platform["api_keys"].insert_one(
        to_document(
            ApiKeyRecord(
                key_id=key.key_id,
                tenant=tenant,
                name="edge tests",
                key_hash=hash_api_key(key),
                scopes=("*",),
                managed_by=KeyWriter.OPERATOR,
                created_at=datetime.now(UTC),
                source=ResourceRef(namespace=f"tenant-{tenant}", name="edge", uid=tenant),
            )
        )
    )
    # Cases log in often: the per-key limit (its own tests cover it) must not bite. A short
    # failure window and lockout keep the thousands of invalid keys a fuzzer presents from
    # locking anything out for long (test_openapi_conformance also speaks from its own address).
    started = datetime.now(UTC)
    instance = start_instance(
        stack, name, CAAS_INTERNAL_TOKEN=internal_token,
        CAAS_RATE_LIMIT_PER_MINUTE="1000000", CAAS_RATE_LIMIT_BURST="100000",
        CAAS_FAILURE_WINDOW_SECONDS="1", CAAS_LOCKOUT_SECONDS="1",
    )  # fmt: skip
    try:
        yield EdgeApi(
            url=instance.url, tenant=tenant, api_key=format_api_key(key),
            internal_token=internal_token,
        )  # fmt: skip
    finally:
        stop_instance(instance)
        platform["api_keys"].delete_many({"tenant": tenant})
        platform["refresh_families"].delete_many({"tenant": tenant})
        platform["revoked_tokens"].delete_many({"tenant": tenant})
        platform["saas_clients"].delete_many({"_id": tenant})
        platform["mfa_factors"].delete_many({"tenant": tenant})
        # Signing keys rotated in (not immediately) during the run have signed nothing: drop
        # them from the shared store. Keys that did sign stay until their lifecycle prunes them.
        platform["signing_keys"].delete_many(
            {"createdAt": {"$gte": started}, "activatesAt": {"$gt": datetime.now(UTC)}}
        )
        mongo.drop_database(database_name(tenant))
        mongo.close()
