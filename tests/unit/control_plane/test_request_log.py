"""The request log: one JSON line per HTTP request with request id, route template, status,
latency and tenant — and never a credential, a raw path or a query string."""

import json
import logging
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from caas_control_plane.app import create_app
from caas_control_plane.middleware import RequestIdMiddleware
from caas_control_plane.observe import ObserveMiddleware
from caas_control_plane.request_log import REQUEST_LOGGER, log_request
from caas_control_plane.settings import ApiSettings
from caas_core.logs import JsonFormatter

pytestmark = pytest.mark.unit

TOKEN = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXRva2VuLWNsYWltcw.c2lnbmF0dXJl"
API_KEY = "caas_sk_AAAABBBBCCCCDDDD.very-secret-key-material"
SECRETS = (TOKEN, API_KEY, "c2VjcmV0", "very-secret", "query-secret")


class _Lines(logging.Handler):
    """Keeps each record as the JSON line the processes would write."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def lines() -> list[str]:
    handler = _Lines()
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def _requests(lines: list[str]) -> list[dict[str, object]]:
    return [line for line in map(json.loads, lines) if line["message"] == "request"]


def test_one_line_per_request_by_route_template_without_secrets(
    settings: ApiSettings, lines: list[str]
) -> None:
    with TestClient(create_app(settings, probes={})) as client:
        client.delete(
            "/v1/sessions/ses_secret-id-42?token=query-secret",
            headers={"Authorization": f"Bearer {TOKEN}", "X-API-Key": API_KEY,
                     "X-Request-ID": "req-1"},
        )  # fmt: skip
        client.get("/no/such/path?api_key=query-secret")
    first, second = _requests(lines)
    assert first["request_id"] == "req-1"
    assert first["method"] == "DELETE"
    assert first["route"] == "/v1/sessions/{session_id}"
    assert first["status"] == 503  # no runtime in unit tests
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
    assert first["level"] == "info"
    assert first["logger"] == REQUEST_LOGGER
    assert "tenant" not in first  # no credential was verified
    assert (second["route"], second["status"]) == ("<unmatched>", 404)
    assert second["request_id"]  # minted
    text = "\n".join(lines)
    for secret in SECRETS:
        assert secret not in text
    assert "ses_secret-id-42" not in text
    assert "/no/such/path" not in text


def test_the_tenant_is_named_once_authentication_named_it(lines: list[str]) -> None:
    async def credential(request: Request) -> str:
        request.state.tenant = "acme"  # what deps.py does once a credential is verified
        return "acme"

    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str, tenant: Annotated[str, Depends(credential)]) -> str:
        return tenant

    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ObserveMiddleware, observers=[log_request])
    with TestClient(app) as client:
        assert client.get("/v1/things/t-1", headers={"X-API-Key": API_KEY}).status_code == 200
    (line,) = _requests(lines)
    assert (line["route"], line["status"], line["tenant"]) == ("/v1/things/{thing_id}", 200, "acme")
    assert API_KEY not in "\n".join(lines)


def test_an_unhandled_error_is_logged_as_a_500(lines: list[str]) -> None:
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(ObserveMiddleware, observers=[log_request])
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/boom")
    (line,) = _requests(lines)
    assert (line["route"], line["status"]) == ("/boom", 500)
