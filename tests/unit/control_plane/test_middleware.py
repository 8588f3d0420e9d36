"""X-Request-ID: echoed when sane, minted otherwise, on every HTTP response."""

import pytest
from fastapi.testclient import TestClient

from caas_control_plane.app import create_app
from caas_control_plane.middleware import request_id_var
from caas_control_plane.settings import ApiSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def client(settings: ApiSettings) -> TestClient:
    app = create_app(settings, probes={})

    @app.get("/whoami")
    async def whoami() -> dict[str, str | None]:
        return {"request_id": request_id_var.get()}

    return TestClient(app)


def test_sane_incoming_id_is_echoed(client: TestClient) -> None:
    response = client.get("/whoami", headers={"X-Request-ID": "abc-123.x:y_z"})
    assert response.headers["x-request-id"] == "abc-123.x:y_z"
    assert response.json() == {"request_id": "abc-123.x:y_z"}


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "<script>", ""])
def test_unsafe_ids_are_replaced(client: TestClient, bad: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": bad})
    minted = response.headers["x-request-id"]
    assert minted != bad
    assert len(minted) == 32


def test_ids_are_minted_per_request(client: TestClient) -> None:
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/health").headers["x-request-id"]
    assert first != second


def test_error_responses_carry_the_id_too(client: TestClient) -> None:
    response = client.get("/nowhere", headers={"X-Request-ID": "trace-9"})
    assert response.headers["x-request-id"] == "trace-9"
    assert response.json()["requestId"] == "trace-9"


def test_context_is_reset_after_the_request(client: TestClient) -> None:
    client.get("/health")
    assert request_id_var.get() is None
