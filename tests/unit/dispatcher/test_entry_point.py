"""The real `caas-dispatcher` entry point refuses to start on an invalid or unsafe setting,
naming it (never its value), with exit code 2 and no traceback."""

import pytest

from tests.unit.entry_points import assert_refuses_to_start

SECRET_KEY = {"CAAS_SECRET_KEY": "an-entry-point-test-key-of-forty-characters"}


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("CAAS_DISPATCHER_PORT", "ninety-four-sixty-five"),
        ("CAAS_DISPATCHER_GROUP", "no spaces allowed"),
        ("CAAS_WEBHOOK_RETRY_SCHEDULE", "soon,later"),
        ("CAAS_WEBHOOK_TIMEOUT_SECONDS", "-3"),
        ("CAAS_WEBHOOK_MAX_CONCURRENCY", "0"),
        # Secure by default: outside development the SSRF defence cannot be switched off.
        ("CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "10.0.0.0/8"),
        ("CAAS_WEBHOOK_ALLOW_INSECURE_HTTP", "true"),
    ],
)
def test_invalid_setting_stops_the_dispatcher(variable: str, raw: str) -> None:
    stderr = assert_refuses_to_start(
        "caas_control_plane.dispatcher", settings=SECRET_KEY, variable=variable, raw=raw
    )
    assert stderr.startswith("caas-dispatcher: refusing to start:")
