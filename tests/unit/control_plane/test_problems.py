"""Every error is an RFC 9457 problem+json document."""

from typing import Annotated

import pytest
from fastapi import Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from caas_control_plane.app import create_app
from caas_control_plane.problems import ProblemError
from caas_control_plane.settings import ApiSettings

pytestmark = pytest.mark.unit


class Payload(BaseModel):
    name: str
    count: int


@pytest.fixture
def client(settings: ApiSettings) -> TestClient:
    app = create_app(settings, probes={})

    @app.get("/echo")
    async def echo(limit: Annotated[int, Query(ge=1)]) -> dict[str, int]:
        return {"limit": limit}

    @app.post("/items")
    async def items(payload: Payload) -> Payload:
        return payload

    @app.get("/teapot")
    async def teapot() -> None:
        raise ProblemError(status=418, detail="short and stout", type_="urn:example:teapot", x=1)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("internal detail that must not leak")

    return TestClient(app, raise_server_exceptions=False)


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["status"] == 404
    assert body["instance"] == "/does-not-exist"


def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.delete("/health")
    assert response.status_code == 405
    assert response.json()["title"] == "Method Not Allowed"
    assert response.headers["allow"] == "GET"


def test_query_validation_names_the_field(client: TestClient) -> None:
    response = client.get("/echo", params={"limit": "0"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert "query.limit" in body["detail"]
    assert body["errors"][0]["location"] == "query"
    assert body["errors"][0]["field"] == "limit"


def test_body_validation_names_every_field_without_echoing_input(client: TestClient) -> None:
    response = client.post("/items", json={"name": "s3cr3t-value", "count": "many"})
    assert response.status_code == 422
    body = response.json()
    assert [(e["location"], e["field"]) for e in body["errors"]] == [("body", "count")]
    assert "s3cr3t-value" not in response.text
    assert "many" not in response.text


def test_missing_body_field(client: TestClient) -> None:
    response = client.post("/items", json={"count": 1})
    assert response.json()["errors"][0]["field"] == "name"


def test_problem_error_carries_type_and_extensions(client: TestClient) -> None:
    response = client.get("/teapot")
    assert response.status_code == 418
    body = response.json()
    assert body["type"] == "urn:example:teapot"
    assert body["title"] == "I'm a Teapot"
    assert body["detail"] == "short and stout"
    assert body["x"] == 1


def test_unexpected_errors_are_generic_500_problems(client: TestClient) -> None:
    response = client.get("/crash", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "must not leak" not in response.text
    assert response.json()["title"] == "Internal Server Error"
    assert response.json()["requestId"] == "req-1"
    assert response.headers["x-request-id"] == "req-1"
