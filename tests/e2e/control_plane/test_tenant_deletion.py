"""Deleting a Tenant with kubectl ends its users' sessions and its back ends' keys on the running
API: the operator revokes the keys and broadcasts a tenant revocation, the API enforces both."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from pymongo import MongoClient

from caas_core.domain.api_key_records import COLLECTION as API_KEYS
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, to_document
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from caas_core.domain.naming import PLATFORM_DATABASE
from caasctl.platform import API_PORT
from tests.conftest import Stack
from tests.e2e.conftest import kubectl

API = f"http://127.0.0.1:{API_PORT}"
# Kafka propagation is milliseconds; an API relay's outbox scan (2 s) and the API-key cache
# (5 s) bound the rest.
_WITHIN = 20.0


def _eventually(check: Callable[[], bool], *, what: str) -> None:
    deadline = time.monotonic() + _WITHIN
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {_WITHIN}s: {what}")


def _tenant(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "platform.caas.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"displayName": f"E2E {name}", "deletionPolicy": "Delete"},
        }
    )


def test_deleting_a_tenant_ends_its_sessions_and_keys(running_platform: Stack) -> None:
    stack = running_platform
    name = f"e2e-gone-{uuid.uuid4().hex[:6]}"
    kubectl(stack, "apply", "-f", "-", stdin=_tenant(name))
    kubectl(stack, "wait", f"tenant/{name}", "--for=condition=Ready", "--timeout=120s")
    mongo: MongoClient[dict[str, object]] = MongoClient(stack.mongodb_uri, tz_aware=True)
    keys = mongo[PLATFORM_DATABASE][API_KEYS]
    key = new_api_key()
    record = ApiKeyRecord(
        key_id=key.key_id, tenant=name, name="back end", key_hash=hash_api_key(key),
        scopes=("*",), managed_by=KeyWriter.API, created_at=datetime.now(UTC),
    )  # fmt: skip
    keys.insert_one(to_document(record))
    backend = {"X-API-Key": format_api_key(key)}
    try:
        with httpx.Client(base_url=API, timeout=10) as http:
            login = http.post("/v1/auth/sdk/token", headers=backend, json={"userId": "alice"})
            assert login.status_code == 200, login.text
            tokens = login.json()
            bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
            assert http.get("/v1/auth/me", headers=bearer).status_code == 200

            kubectl(stack, "delete", f"tenant/{name}", "--timeout=120s")

            _eventually(
                lambda: http.get("/v1/auth/me", headers=bearer).status_code == 401,
                what="the access token refused",
            )
            refresh = http.post("/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
            assert refresh.status_code == 400, refresh.text
            assert refresh.json()["error"] == "invalid_grant"
            _eventually(
                lambda: (
                    http.post(
                        "/v1/auth/sdk/token", headers=backend, json={"userId": "bob"}
                    ).status_code
                    == 401
                ),
                what="the back end's API key refused",
            )
    finally:
        keys.delete_one({"_id": key.key_id})
        mongo.close()
