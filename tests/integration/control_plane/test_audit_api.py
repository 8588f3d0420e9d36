"""The audit log's REST API on the real stack: events made by real requests, queried with every
filter and paged, isolated per tenant, and verified the way an outside auditor would — checkpoints,
inclusion and consistency proofs with the published key, an export checked by the standard-library
script, and the server's own verification naming an entry changed in MongoDB."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.auditlog.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from caas_core.auditlog.merkle import verify_consistency, verify_inclusion
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.api_keys import format_api_key, hash_api_key, new_api_key
from tests.integration.control_plane.conftest import Tenant

Api = tuple[FastAPI, httpx.AsyncClient]
Mongo = AsyncMongoClient[dict[str, Any]]
AUDIT = "/v1/security/audit"
STANDALONE = Path(__file__).resolve().parents[3] / "hack" / "audit_verify_standalone.py"
WAIT_SECONDS = 120.0  # an event may wait for a lease (30 s) or two on a loaded shared stack


@pytest.fixture
async def tenants(
    tenant_factory: Callable[..., Awaitable[Tenant]], mongo: Mongo
) -> AsyncIterator[Callable[..., Awaitable[Tenant]]]:
    """Tenants whose audit logs (entries, head, tree nodes, checkpoints) are removed afterwards."""
    made: list[Tenant] = []

    async def make(scopes: tuple[str, ...] = ("*",)) -> Tenant:
        tenant = await tenant_factory(scopes=scopes)
        made.append(tenant)
        return tenant

    yield make
    db = mongo["caas_platform"]
    # Events still in flight would be appended to a log deleted under the writer's feet: let the
    # relay (the app is still running) deliver them first.
    names = [tenant.name for tenant in made]
    deadline = time.monotonic() + WAIT_SECONDS
    while await db["outbox"].count_documents({"payload.tenant": {"$in": names}}, limit=1):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    for tenant in made:
        log = f"tenant:{tenant.name}"
        await db["security_audit_logs"].delete_many({"log": log})
        await db["audit_heads"].delete_one({"_id": log})
        await db["audit_nodes"].delete_many({"_id": {"$regex": f"^{log}/"}})
        await db["audit_checkpoints"].delete_many({"log": log})
        await db["api_keys"].delete_many({"tenant": tenant.name})


async def second_key(mongo: Mongo, tenant: Tenant, scopes: tuple[str, ...]) -> Tenant:
    """Another API key of the same tenant (removed with the tenant's keys)."""
    key = new_api_key()
    await ApiKeyStore(mongo["caas_platform"]).insert(
        ApiKeyRecord(
            key_id=key.key_id,
            tenant=tenant.name,
            name="narrow",
            key_hash=hash_api_key(key),
            scopes=scopes,
            managed_by=KeyWriter.API,
            created_at=datetime.now(UTC),
        )
    )
    return Tenant(name=tenant.name, api_key=format_api_key(key), key_id=key.key_id)


async def login(client: httpx.AsyncClient, tenant: Tenant, user: str) -> str:
    """Issue tokens (one `auth.token.issued` event); the session id is the event's target."""
    response = await client.post(
        "/v1/auth/sdk/token", headers=tenant.headers, json={"userId": user}
    )
    assert response.status_code == 200, response.text
    session: str = response.json()["sessionId"]
    return session


async def listing(client: httpx.AsyncClient, tenant: Tenant, **query: Any) -> dict[str, Any]:
    response = await client.get(AUDIT, headers=tenant.headers, params=query)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def logged(client: httpx.AsyncClient, tenant: Tenant, count: int) -> list[dict[str, Any]]:
    """The tenant's entries once `count` are in its log (the relay appends them shortly after
    the requests; polled, with a deadline only against a relay that never delivers)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        items: list[dict[str, Any]] = (await listing(client, tenant, limit=200))["items"]
        if len(items) >= count:
            return items
        if time.monotonic() > deadline:
            pytest.fail(f"{len(items)} of {count} audit events logged", pytrace=False)
        await asyncio.sleep(0.2)


async def published_key(client: httpx.AsyncClient) -> VerifierKey:
    response = await client.get("/.well-known/caas-audit-keys")
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public, max-age=")
    (published,) = response.json()["keys"]
    key = VerifierKey.parse(published["verifierKey"])
    jwk = published["jwk"]
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == key.public_key
    assert published["name"] == key.name
    return key


def field_of(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    field: str = error["field"]
    return field


async def test_query_filters_and_cursor_paging(api: Api, tenants: Any, mongo: Mongo) -> None:
    _, client = api
    tenant = await tenants()
    sessions = [await login(client, tenant, f"u-{i}") for i in range(3)]
    narrow = await second_key(mongo, tenant, ("tokens:introspect",))
    denied = await client.post("/v1/auth/sdk/token", headers=narrow.headers, json={"userId": "x"})
    assert denied.status_code == 403

    items = await logged(client, tenant, 4)
    assert [i["seq"] for i in items] == [3, 2, 1, 0]
    assert [i["action"] for i in items] == ["auth.api_key.scope_denied"] + ["auth.token.issued"] * 3
    issued = items[1:]
    assert [i["target"] for i in issued] == [{"type": "session", "id": s} for s in sessions[::-1]]
    assert all(i["actor"] == {"type": "api_key", "id": tenant.key_id} for i in issued)
    assert items[0]["actor"] == {"type": "api_key", "id": narrow.key_id}
    personal = issued[0]["personalData"]
    assert personal["matchesCommitment"] is True
    assert personal["details"]["userId"] == "u-2"
    assert personal["ip"]
    assert all(len(i["hash"]) == 64 and len(i["pd"]) == 64 for i in items)

    async def seqs(**query: Any) -> list[int]:
        return [i["seq"] for i in (await listing(client, tenant, **query))["items"]]

    assert await seqs(action="auth.token.issued") == [2, 1, 0]
    assert await seqs(outcome="failure") == [3]
    assert await seqs(outcome="success", action="auth.api_key.scope_denied") == []
    assert await seqs(actor=narrow.key_id) == [3]
    assert await seqs(actor=tenant.key_id, limit=2) == [2, 1]
    assert await seqs(target=sessions[1]) == [1]
    assert await seqs(targetType="session") == [2, 1, 0]
    at_1 = issued[-2]["at"]  # entry 1's time: `from` includes it, `to` excludes it
    assert await seqs(**{"from": at_1}) == [3, 2, 1]
    assert await seqs(to=at_1) == [0]
    assert await seqs(**{"from": at_1, "to": items[0]["at"]}) == [2, 1]

    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
        page = await listing(client, tenant, **query)
        pages.append([i["seq"] for i in page["items"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == [[3], [2], [1], [0]]
    filtered = await listing(client, tenant, action="auth.token.issued", limit=2)
    rest = await listing(
        client, tenant, action="auth.token.issued", limit=2, cursor=filtered["nextCursor"]
    )
    assert [i["seq"] for i in rest["items"]] == [0]
    assert rest["nextCursor"] is None

    bad = await client.get(AUDIT, headers=tenant.headers, params={"cursor": "AAAAAAAA"})
    assert bad.status_code == 400
    assert field_of(bad) == "cursor"
    too_many = await client.get(AUDIT, headers=tenant.headers, params={"limit": 201})
    assert too_many.status_code == 422


async def test_one_tenant_never_sees_another_tenants_log(api: Api, tenants: Any) -> None:
    _, client = api
    first, second = await tenants(), await tenants()
    await login(client, first, "a-user")
    await login(client, second, "b-user")
    (mine,) = await logged(client, first, 1)
    (theirs,) = await logged(client, second, 1)
    assert mine["id"] != theirs["id"]

    async def ids(**query: Any) -> list[str]:
        return [i["id"] for i in (await listing(client, second, **query))["items"]]

    assert await ids() == [theirs["id"]]
    assert await ids(action="auth.token.issued") == [theirs["id"]]
    assert await ids(actor=first.key_id) == []
    assert await ids(target=mine["target"]["id"]) == []
    other = await client.get(f"{AUDIT}/entries/{mine['id']}", headers=second.headers)
    assert other.status_code == 404
    assert field_of(other) == "id"
    proof = await client.get(
        f"{AUDIT}/entries/{mine['id']}", headers=second.headers, params={"proof": "true"}
    )
    assert proof.status_code == 404
    own = await client.get(f"{AUDIT}/entries/{mine['id']}", headers=first.headers)
    assert own.status_code == 200
    assert own.json()["seq"] == 0
    export = await client.get(f"{AUDIT}/export", headers=second.headers)
    assert export.status_code == 200
    assert mine["id"] not in export.text
    assert theirs["id"] in export.text
    assert f"tenant:{first.name}" not in export.text
    verified = await client.post(f"{AUDIT}/verify", headers=second.headers, json={})
    assert verified.json()["log"] == f"tenant:{second.name}"


async def test_keys_without_audit_read_are_refused(api: Api, tenants: Any) -> None:
    _, client = api
    tenant = await tenants(scopes=("tokens:issue", "tenant:read"))
    calls = [
        ("GET", AUDIT),
        ("GET", f"{AUDIT}/checkpoints/latest"),
        ("POST", f"{AUDIT}/checkpoints"),
        ("GET", f"{AUDIT}/entries/some-id"),
        ("GET", f"{AUDIT}/proofs/consistency?from=1"),
        ("POST", f"{AUDIT}/verify"),
        ("GET", f"{AUDIT}/export"),
    ]
    for method, path in calls:
        refused = await client.request(method, path, headers=tenant.headers)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, path
    # The published key needs no credentials at all.
    assert (await client.get("/.well-known/caas-audit-keys")).status_code == 200


async def test_checkpoints_and_proofs_verify_with_the_published_key(api: Api, tenants: Any) -> None:
    _, client = api
    tenant = await tenants()
    key = await published_key(client)
    for user in ("p-1", "p-2", "p-3"):
        await login(client, tenant, user)
    items = await logged(client, tenant, 3)

    signed = await client.post(f"{AUDIT}/checkpoints", headers=tenant.headers)
    assert signed.status_code == 200, signed.text
    old = signed.json()
    checkpoint = open_checkpoint(note=old["note"], key=key)
    assert checkpoint.size == old["size"] == 3
    assert checkpoint.root.hex() == old["root"]
    assert checkpoint.origin == f"{key.name}/tenant:{tenant.name}"
    latest = (await client.get(f"{AUDIT}/checkpoints/latest", headers=tenant.headers)).json()
    assert latest == old, "the newest stored checkpoint, nothing waiting unsigned for long"

    for item in items:
        proved = await client.get(
            f"{AUDIT}/entries/{item['id']}", headers=tenant.headers, params={"proof": "true"}
        )
        assert proved.status_code == 200, proved.text
        body = proved.json()
        assert body["entry"] == item
        assert body["leafIndex"] == item["seq"]
        assert body["leafHash"] == item["hash"]
        root = _opened(body["checkpoint"]["note"], key)
        assert verify_inclusion(
            leaf=bytes.fromhex(body["leafHash"]),
            index=body["leafIndex"],
            size=root.size,
            proof=[bytes.fromhex(h) for h in body["proof"]],
            root=root.root,
        )

    for user in ("p-4", "p-5"):
        await login(client, tenant, user)
    await logged(client, tenant, 5)
    new = (await client.post(f"{AUDIT}/checkpoints", headers=tenant.headers)).json()
    assert new["size"] == 5
    consistent = await client.get(
        f"{AUDIT}/proofs/consistency", headers=tenant.headers, params={"from": 3, "to": 5}
    )
    assert consistent.status_code == 200, consistent.text
    body = consistent.json()
    older, newer = _opened(body["old"]["note"], key), _opened(body["new"]["note"], key)
    assert (older.size, older.root.hex()) == (3, old["root"])
    assert (newer.size, newer.root.hex()) == (5, new["root"])
    assert verify_consistency(
        old_size=3,
        new_size=5,
        old_root=older.root,
        new_root=newer.root,
        proof=[bytes.fromhex(h) for h in body["proof"]],
    )
    # Against an earlier size on request: the proof of entry 1 in the tree of 3.
    early = await client.get(
        f"{AUDIT}/entries/{items[1]['id']}",
        headers=tenant.headers,
        params={"proof": "true", "size": 3},
    )
    body = early.json()
    assert body["checkpoint"]["size"] == 3
    assert verify_inclusion(
        leaf=bytes.fromhex(body["leafHash"]),
        index=1,
        size=3,
        proof=[bytes.fromhex(h) for h in body["proof"]],
        root=bytes.fromhex(old["root"]),
    )

    refusals = [
        (f"{AUDIT}/entries/{items[0]['id']}", {"proof": "true", "size": 9}, "size"),
        (f"{AUDIT}/entries/{items[0]['id']}", {"proof": "true", "size": 2}, "size"),
        (f"{AUDIT}/proofs/consistency", {"from": 4, "to": 3}, "from"),
        (f"{AUDIT}/proofs/consistency", {"from": 1, "to": 6}, "to"),
        (f"{AUDIT}/export", {"from": 5}, "from"),
        (f"{AUDIT}/export", {"to": 6}, "to"),
    ]
    for path, query, field in refusals:
        refused = await client.get(path, headers=tenant.headers, params=query)
        assert refused.status_code == 400, (path, query, refused.text)
        assert field_of(refused) == field, (path, query)
    unknown = await client.get(f"{AUDIT}/entries/no-such-event", headers=tenant.headers)
    assert unknown.status_code == 404
    assert field_of(unknown) == "id"


def _opened(note: str, key: VerifierKey) -> Checkpoint:
    return open_checkpoint(note=note, key=key)


def _standalone(export: Path, key: str) -> subprocess.CompletedProcess[str]:
    # -I -S: no site-packages and no environment, so nothing but the standard library and the
    # two arguments (the export and the published key) can take part.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(STANDALONE), str(export), key],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


async def test_an_export_verifies_with_only_the_published_key_and_hashlib(
    api: Api, tenants: Any, tmp_path: Path
) -> None:
    _, client = api
    tenant = await tenants()
    for user in ("e-1", "e-2", "e-3", "e-4"):
        await login(client, tenant, user)
    await logged(client, tenant, 4)
    published = (await client.get("/.well-known/caas-audit-keys")).json()["keys"][0]
    key = published["verifierKey"]

    whole = await client.get(f"{AUDIT}/export", headers=tenant.headers)
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("application/x-ndjson")
    kinds = [json.loads(line)["type"] for line in whole.text.splitlines()]
    assert kinds[-1] == "checkpoint"
    assert kinds.count("entry") == 4
    exported = tmp_path / "whole.ndjson"
    exported.write_bytes(whole.content)
    result = _standalone(exported, key)
    assert (result.returncode, result.stdout.strip()) == (0, "OK"), result.stderr

    later = await client.get(f"{AUDIT}/export", headers=tenant.headers, params={"from": 2})
    kinds = [json.loads(line)["type"] for line in later.text.splitlines()]
    assert kinds[0] == "pruned"
    assert kinds.count("entry") == 2
    (tmp_path / "later.ndjson").write_bytes(later.content)
    result = _standalone(tmp_path / "later.ndjson", key)
    assert (result.returncode, result.stdout.strip()) == (0, "OK"), result.stderr

    # One entry changed in the file: the same script, the same key, refuses it.
    changed = whole.text.replace('"action":"auth.token.issued"', '"action":"auth.token.issueD"', 1)
    (tmp_path / "changed.ndjson").write_text(changed)
    result = _standalone(tmp_path / "changed.ndjson", key)
    assert result.returncode == 1
    assert "modified" in result.stdout


async def test_verify_reports_ok_then_names_the_entry_changed_in_the_database(
    api: Api, tenants: Any, mongo: Mongo
) -> None:
    _, client = api
    tenant = await tenants()
    for user in ("v-1", "v-2", "v-3"):
        await login(client, tenant, user)
    items = await logged(client, tenant, 3)
    verify = f"{AUDIT}/verify"

    whole = await client.post(verify, headers=tenant.headers)
    assert whole.status_code == 200, whole.text
    report = whole.json()
    assert report["ok"] is True
    assert report["problem"] is None
    assert (report["from"], report["to"], report["size"], report["entries"]) == (0, 3, 3, 3)
    signed = (await client.get(f"{AUDIT}/checkpoints/latest", headers=tenant.headers)).json()
    assert (signed["size"], signed["root"]) == (3, report["root"])
    part = (await client.post(verify, headers=tenant.headers, json={"from": 1, "to": 2})).json()
    assert part["ok"] is True
    assert (part["from"], part["to"], part["entries"]) == (1, 2, 1)

    # Someone with database access rewrites entry 1's action (still a well-formed entry).
    entries = mongo["caas_platform"]["security_audit_logs"]
    stored = await entries.find_one({"_id": items[1]["id"]})
    assert stored is not None
    assert stored["seq"] == 1
    forged = stored["e"].replace('"action":"auth.token.issued"', '"action":"auth.token.revoked"')
    assert forged != stored["e"]
    await entries.update_one({"_id": stored["_id"]}, {"$set": {"e": forged}})

    broken = (await client.post(verify, headers=tenant.headers)).json()
    assert broken["ok"] is False
    assert broken["problem"]["kind"] == "modified"
    assert broken["problem"]["seq"] == 1
    before = (await client.post(verify, headers=tenant.headers, json={"from": 0, "to": 1})).json()
    assert before["ok"] is True, "the range before the change still verifies"
    shown = (await client.get(f"{AUDIT}/entries/{items[1]['id']}", headers=tenant.headers)).json()
    assert shown["action"] == "auth.token.revoked", "what is shown is what is stored in `e`"

    # Entry 2's bytes made an unknown format: not an entry any more. The first problem is
    # still entry 1's; once that is put back, it is entry 2, which nothing can display.
    third = await entries.find_one({"_id": items[0]["id"]})
    assert third is not None
    assert third["seq"] == 2
    unknown = third["e"].replace('{"v":1,', '{"v":2,', 1)
    await entries.update_one({"_id": third["_id"]}, {"$set": {"e": unknown}})
    broken = (await client.post(verify, headers=tenant.headers)).json()
    assert (broken["problem"]["kind"], broken["problem"]["seq"]) == ("modified", 1)
    await entries.update_one({"_id": stored["_id"]}, {"$set": {"e": stored["e"]}})
    broken = (await client.post(verify, headers=tenant.headers)).json()
    assert (broken["problem"]["kind"], broken["problem"]["seq"]) == ("malformed", 2)
    assert broken["size"] == 2, "entries 0 and 1 verified"
    corrupt = await client.get(AUDIT, headers=tenant.headers)
    assert corrupt.status_code == 500
    assert corrupt.json()["type"].endswith("/audit-log-corrupt")

    for body, field in (({"from": 2, "to": 1}, "from"), ({"to": 4}, "to"), ({"from": 3}, "from")):
        refused = await client.post(verify, headers=tenant.headers, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert field_of(refused) == field
