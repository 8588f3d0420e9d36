"""The body guard's limits and the error boundary: an unexpected error is a problem+json 500,
logged with the request id, and the keep-alive connection survives it (a real uvicorn server,
no backends)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from caas_control_plane.app import create_app
from caas_control_plane.body_guard import MAX_DEPTH, MAX_MEMBERS, json_shape_problem
from caas_control_plane.settings import ApiSettings

pytestmark = pytest.mark.unit


class BoomError(RuntimeError):
    """An error no handler knows."""


def _app(settings: ApiSettings) -> FastAPI:
    app = create_app(settings, probes={})

    @app.get("/boom")
    async def boom() -> None:
        raise BoomError("secret internal detail")

    @app.post("/echo")
    async def echo(body: dict[str, object]) -> dict[str, object]:
        return body

    return app


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b'{"a": [1, 2, {"b": "c"}]}', None),
        (b'{"s": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None),  # brackets inside a string
        (b'{"s": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None),  # after an escaped quote
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
        (b"[" + b"1," * MAX_MEMBERS + b"1]", "members"),
        (b'{"s": "' + b"," * 10_000 + b'"}', None),  # commas inside a string do not count
    ],
)
def test_json_shape(text: bytes, problem: str | None) -> None:
    found = json_shape_problem(text, max_depth=MAX_DEPTH, max_members=MAX_MEMBERS)
    assert found is None if problem is None else problem in (found or "")


def test_guard_answers_before_the_app_and_replays_sane_bodies(settings: ApiSettings) -> None:
    with TestClient(_app(settings)) as client:
        assert client.post("/echo", json={"a": [1, {"b": 2}]}).json() == {"a": [1, {"b": 2}]}
        deep = client.post(
            "/echo", content=b"[" * 5000 + b"]" * 5000, headers={"Content-Type": "application/json"}
        )
        assert deep.status_code == 422
        assert deep.headers["content-type"] == "application/problem+json"
        big = client.post(
            "/echo", content=b" " * (70 * 1024), headers={"Content-Type": "application/json"}
        )
        assert big.status_code == 413
        plain = client.post("/echo", content=b"{}", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415
        latin = client.post(
            "/echo", content=b'{"a": "\xe9"}', headers={"Content-Type": "application/json"}
        )
        assert latin.status_code == 422


def test_unexpected_errors_are_problem_500s_logged_with_the_request_id(
    settings: ApiSettings, caplog: pytest.LogCaptureFixture
) -> None:
    # raise_server_exceptions: the error must not escape the app at all.
    with (
        TestClient(_app(settings), raise_server_exceptions=True) as client,
        caplog.at_level(logging.ERROR),
    ):
        response = client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-500"
    body = response.json()
    assert body == {
        "type": "about:blank", "title": "Internal Server Error", "status": 500,
        "instance": "/boom", "requestId": "trace-500",
    }  # fmt: skip
    assert "secret internal detail" not in response.text
    records = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert len(records) == 1
    assert records[0].__dict__["request_id"] == "trace-500"
    assert records[0].exc_info is not None


@pytest.fixture
def served(settings: ApiSettings) -> Iterator[str]:
    """The app on a real uvicorn server (HTTP/1.1 keep-alive, as in production)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        threading.Event().wait(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_the_connection_survives_a_500(served: str) -> None:
    with httpx.Client(base_url=served, limits=httpx.Limits(max_connections=1)) as client:
        first = client.get("/health")
        streams = {id(first.extensions["network_stream"])}
        for _ in range(3):
            response = client.get("/boom")
            assert response.status_code == 500
            assert response.headers.get("connection", "keep-alive") != "close"
            assert json.loads(response.content)["status"] == 500
            streams.add(id(response.extensions["network_stream"]))
        last = client.get("/health")
        streams.add(id(last.extensions["network_stream"]))
    assert last.status_code == 200
    assert len(streams) == 1, "the server closed the connection after an error"
