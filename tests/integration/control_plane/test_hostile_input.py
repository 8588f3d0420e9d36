"""Hostile and careless input against a real API process over one keep-alive connection: every
refusal is a bounded problem+json 4xx naming what is wrong, and the connection survives it.

The classes of input outside testing found answered with 500s, 12 MB error bodies or a blocked
event loop: deep nesting, huge numbers of members, keys a document store cannot hold, naive
datetimes, identifiers longer than the stores behind them, control characters, wrong media types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Stack
from tests.integration.control_plane.edge_support import EdgeApi, edge_api

MAX_PROBLEM_BYTES = 8192
PROBLEM = "application/problem+json"


class Connection:
    """One HTTP/1.1 keep-alive connection to the API; counts the TCP connections it opened."""

    def __init__(self, api: EdgeApi) -> None:
        self.api = api
        self.opened = 0
        transport = httpx.HTTPTransport(limits=httpx.Limits(max_connections=1))
        self.client = httpx.Client(base_url=api.url, transport=transport, timeout=30)
        self._last_stream: object = None

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        # The same network stream object answers every request of one TCP connection.
        stream = response.extensions.get("network_stream")
        if stream is not self._last_stream:
            self.opened += 1
            self._last_stream = stream
        return response

    def key(self) -> dict[str, str]:
        return {"X-API-Key": self.api.api_key}

    def bearer(self, user: str = "edge-user") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api.login(self.client, user)}"}


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[EdgeApi]:
    with edge_api(stack, "it-hostile") as running:
        yield running


@pytest.fixture
def conn(api: EdgeApi) -> Iterator[Connection]:
    connection = Connection(api)
    # Warm the connection up, so every later request must reuse it.
    assert connection.send("GET", "/health").status_code == 200
    yield connection
    # Every refusal above was answered on the one connection this test opened.
    assert connection.opened == 1, f"{connection.opened} connections: one was closed on us"
    assert connection.send("GET", "/health").status_code == 200
    connection.client.close()


def assert_problem(response: httpx.Response, status: int, *, names: str | None = None) -> Any:
    """A bounded problem+json answer with this status, on a connection kept alive."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM)
    assert len(response.content) <= MAX_PROBLEM_BYTES, len(response.content)
    assert response.headers.get("connection", "keep-alive").lower() != "close"
    assert response.http_version == "HTTP/1.1"
    body = response.json()
    assert body["status"] == status
    assert body["requestId"] == response.headers["x-request-id"]
    if names is not None:
        assert names in json.dumps(body), body
    return body


def nested(depth: int) -> bytes:
    return b'{"token": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("path", ["/v1/auth/revoke", "/v1/auth/introspect", "/v1/auth/refresh"])
@pytest.mark.parametrize("depth", [17, 1_000, 7_000, 10_000, 30_000])
def test_deeply_nested_json_is_a_422(conn: Connection, path: str, depth: int) -> None:
    response = conn.send(
        "POST", path, content=nested(depth),
        headers={**conn.key(), "Content-Type": "application/json"},
    )  # fmt: skip
    status = 413 if len(nested(depth)) > 64 * 1024 else 422
    assert_problem(response, status, names="nested deeper" if status == 422 else "exceeds")


@pytest.mark.parametrize("path", ["/v1/auth/refresh", "/v1/auth/sdk/token"])
@pytest.mark.parametrize("members", [300, 600, 100_000])
def test_many_unknown_members_give_a_small_answer(
    conn: Connection, path: str, members: int
) -> None:
    body = json.dumps({f"m{i}": 1 for i in range(members)}).encode()
    response = conn.send(
        "POST", path, content=body, headers={**conn.key(), "Content-Type": "application/json"}
    )
    if len(body) > 64 * 1024:
        assert_problem(response, 413)
    elif members >= 512:
        assert_problem(response, 422, names="more than 512 members")
    else:
        problem = assert_problem(response, 422)
        assert len(problem["errors"]) == 10
        assert problem["errorCount"] >= members


@pytest.mark.parametrize("key", ["a.b", ".", "..", ".lead", "trail.", "$set", "a$b", "a b"])
def test_metadata_keys_a_document_store_cannot_hold_are_named(conn: Connection, key: str) -> None:
    response = conn.send(
        "PUT", "/v1/tenant/settings", json={"metadata": {key: "v"}}, headers=conn.key()
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == f"metadata[{json.dumps(key)}]"
    assert problem["errors"][0]["detail"].startswith("invalid key")


def test_plain_metadata_keys_are_stored(conn: Connection) -> None:
    settings = {"metadata": {"region": "eu-west", "cost_center": "42"}}
    response = conn.send("PUT", "/v1/tenant/settings", json=settings, headers=conn.key())
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == settings["metadata"]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/auth/api-keys"), ("PUT", "/v1/auth/api-keys/{key}")]
)
@pytest.mark.parametrize("instant", ["2030-01-01T00:00:00", "2030-01-01 00:00", "2030-01-01"])
def test_datetimes_without_an_offset_are_refused(
    conn: Connection, method: str, path: str, instant: str
) -> None:
    key_id = conn.api.api_key.split("_")[2]
    body = {"expiresAt": instant} | (
        {"name": "naive", "scopes": ["tenant:read"]} if method == "POST" else {}
    )
    response = conn.send(method, path.format(key=key_id), json=body, headers=conn.key())
    problem = assert_problem(response, 422, names="expiresAt")
    assert any(e["field"] == "expiresAt" for e in problem["errors"])


def test_an_expiry_in_the_past_is_refused(conn: Connection) -> None:
    body = {"name": "past", "scopes": ["tenant:read"], "expiresAt": "2001-01-01T00:00:00Z"}
    response = conn.send("POST", "/v1/auth/api-keys", json=body, headers=conn.key())
    assert_problem(response, 422, names="future")


@pytest.mark.parametrize("length", [129, 236, 256, 257, 5000])
def test_oversized_user_ids_are_refused_at_the_edge(conn: Connection, length: int) -> None:
    user = "u" * length
    for path, body in (
        ("/v1/auth/revoke-all", {"userId": user}),
        ("/v1/auth/sdk/token", {"userId": user}),
    ):
        response = conn.send("POST", path, json=body, headers=conn.key())
        assert_problem(response, 422, names="userId")
    response = conn.send("GET", f"/v1/sessions/users/{user}", headers=conn.key())
    assert_problem(response, 422, names="user_id")


def test_the_longest_user_id_logs_in_and_out_everywhere(conn: Connection) -> None:
    user = "u" * 128
    bearer = conn.bearer(user)
    assert conn.send("GET", "/v1/auth/me", headers=bearer).json()["userId"] == user
    response = conn.send("POST", "/v1/auth/logout", json={"everywhere": True}, headers=bearer)
    assert response.status_code == 204, response.text
    response = conn.send("POST", "/v1/auth/revoke-all", json={"userId": user}, headers=conn.key())
    assert response.status_code == 200, response.text
    assert_problem(conn.send("GET", "/v1/auth/me", headers=bearer), 401)


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("scopes", {"name": "k", "scopes": ["tenant:read"] * 21}),
        ("allowedOrigins", {"allowedOrigins": [f"https://o{i}.example" for i in range(21)]}),
        ("metadata", {"metadata": {f"k{i}": "v" for i in range(21)}}),
    ],
)
def test_oversized_collections_are_refused(conn: Connection, field: str, body: Any) -> None:
    path = "/v1/auth/api-keys" if field == "scopes" else "/v1/tenant/settings"
    method = "POST" if field == "scopes" else "PUT"
    response = conn.send(method, path, json=body, headers=conn.key())
    assert_problem(response, 422, names=field)


CONTROL = ["nul\x00", "rtl\u202eexe.txt", "bell\x07", "zero\u200bwidth", "line\nbreak"]


@pytest.mark.parametrize("text", CONTROL)
def test_control_characters_are_refused_where_a_human_reads(conn: Connection, text: str) -> None:
    for method, path, body, field in (
        ("POST", "/v1/auth/api-keys", {"name": text, "scopes": ["tenant:read"]}, "name"),
        ("PUT", "/v1/tenant", {"displayName": text}, "displayName"),
        ("PUT", "/v1/tenant/settings", {"metadata": {"k": text}}, "metadata.k"),
        ("POST", "/v1/auth/sdk/token", {"userId": "u1", "device": {"name": text}}, "device.name"),
        (
            "POST",
            "/v1/auth/sdk/token",
            {"userId": "u1", "device": {"deviceId": f"d{text}"}},
            "device.deviceId",
        ),
        (
            "POST",
            "/v1/auth/sdk/token",
            {"userId": "u1", "device": {"platform": text}},
            "device.platform",
        ),
    ):
        response = conn.send(method, path, json=body, headers=conn.key())
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["field"] == field, problem


def test_ordinary_unicode_is_accepted(conn: Connection) -> None:
    response = conn.send(
        "PUT", "/v1/tenant", json={"displayName": "Société Générale 日本 😀"}, headers=conn.key()
    )
    assert response.status_code in (200, 404), response.text  # 404: no profile yet


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({}, b"token=abc", 415),
        ({"Content-Type": "text/plain"}, b"token=abc", 415),
        ({"Content-Type": "application/json"}, b"token=abc", 422),
        ({"Content-Type": "application/json"}, b'["token"]', 422),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"token=", 422),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"tok\xffen=a", 422),
    ],
)
def test_revoke_reads_only_its_documented_bodies(
    conn: Connection, headers: dict[str, str], content: bytes, status: int
) -> None:
    response = conn.send(
        "POST", "/v1/auth/revoke", content=content, headers={**conn.key(), **headers}
    )
    assert_problem(response, status)


def test_revoke_and_introspect_answer_both_documented_media_types(conn: Connection) -> None:
    for path in ("/v1/auth/revoke", "/v1/auth/introspect"):
        form = conn.send("POST", path, data={"token": "nope"}, headers=conn.key())
        as_json = conn.send("POST", path, json={"token": "nope", "other": 1}, headers=conn.key())
        assert form.status_code == as_json.status_code == 200


def test_rotate_reads_only_json(conn: Connection) -> None:
    token = {"Authorization": f"Bearer {conn.api.internal_token}"}
    response = conn.send(
        "POST", "/internal/signing-keys/rotate", content=b"immediate=true",
        headers={**token, "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert_problem(response, 415)


def test_signing_keys_need_their_documented_header(conn: Connection) -> None:
    assert_problem(conn.send("GET", "/internal/signing-keys"), 401)
    assert_problem(
        conn.send("GET", "/internal/signing-keys", headers={"Authorization": "Bearer wrong"}), 401
    )


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/auth/api-keys", "GET, POST"),
        ("/v1/auth/api-keys/abcdefghijklmnop", "DELETE, GET, PUT"),
        ("/v1/sessions", "DELETE, GET"),
        ("/v1/tenant", "GET, PUT"),
        ("/v1/tenant/settings", "GET, PUT"),
    ],
)
def test_options_and_unknown_methods_list_every_method_of_the_route(
    conn: Connection, path: str, methods: str
) -> None:
    for method in ("OPTIONS", "PATCH"):
        response = conn.send(method, path, headers=conn.key())
        assert_problem(response, 405)
        assert response.headers["allow"] == methods


def test_validation_problems_never_echo_the_input(conn: Connection) -> None:
    value = 987654321987654321
    response = conn.send(
        "POST", "/v1/auth/refresh", json={"refreshToken": value, "password": "hunter2-secret"}
    )
    assert_problem(response, 422, names="refreshToken")
    assert str(value) not in response.text
    assert "hunter2-secret" not in response.text


def test_a_user_agent_is_recorded_without_hidden_characters(conn: Connection) -> None:
    login = conn.send(
        "POST", "/v1/auth/sdk/token", json={"userId": "ua-user"},
        headers={**conn.key(), "User-Agent": "agent\tnext"},
    )  # fmt: skip
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    sessions = conn.send("GET", "/v1/sessions", headers=bearer).json()["items"]
    assert [s["userAgent"] for s in sessions if s["current"]] == ["agent\ufffdnext"]
