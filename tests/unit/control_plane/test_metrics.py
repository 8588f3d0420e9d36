"""`/internal/metrics`: Prometheus text, labelled by route template (never the raw path)."""

import pytest
from fastapi.testclient import TestClient

from caas_control_plane.app import create_app
from caas_control_plane.settings import ApiSettings

pytestmark = pytest.mark.unit


def test_requests_are_counted_by_route_template(settings: ApiSettings) -> None:
    app = create_app(settings, probes={})
    with TestClient(app) as client:
        client.get("/health")
        client.get("/health")
        client.get("/no/such/path/123")
        client.get("/v1/sessions/ses_secret-id-42")  # no runtime: 503, still by template
        response = client.get("/internal/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'caas_http_requests_total{method="GET",route="/health",status="200"} 2.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "ses_secret-id-42" not in text
    assert "/no/such/path" not in text
    assert (
        'caas_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/health"}' in text
    )


def test_cors_comes_from_settings(settings: ApiSettings) -> None:
    allowed = settings.model_copy(update={"cors_origins": "https://app.example"})
    with TestClient(create_app(allowed, probes={})) as client:
        preflight = client.options(
            "/v1/auth/sdk/token",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"},
        )
        other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers
