"""The real `caas-api` entry point refuses to start on an invalid setting, naming it (never its
value), with exit code 2 and no traceback — as the operator's entry point does."""

import pytest

from tests.unit.entry_points import assert_refuses_to_start

pytestmark = pytest.mark.unit

SECRET_KEY = {"CAAS_SECRET_KEY": "an-entry-point-test-key-of-forty-characters"}


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("CAAS_API_PORT", "three-thousand"),
        ("CAAS_HEALTH_TIMEOUT_SECONDS", "soon-ish"),
        ("CAAS_ENV", "staging"),
        ("CAAS_LOG_FORMAT", "yaml-please"),
    ],
)
def test_invalid_setting_stops_the_process(variable: str, raw: str) -> None:
    stderr = assert_refuses_to_start(
        "caas_control_plane", settings=SECRET_KEY, variable=variable, raw=raw
    )
    assert stderr.startswith("caas-api: refusing to start:")
