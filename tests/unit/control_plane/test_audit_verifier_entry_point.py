"""The real `caas-audit-verifier` entry point refuses to start on an invalid setting, naming it
(never its value), with exit code 2 and no traceback — as the API's entry point does."""

import pytest

from tests.unit.entry_points import assert_refuses_to_start

pytestmark = pytest.mark.unit

SECRET_KEY = {"CAAS_SECRET_KEY": "an-entry-point-test-key-of-forty-characters"}


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("CAAS_AUDIT_VERIFIER_PORT", "ninety-four-sixty-four"),
        ("CAAS_AUDIT_VERIFY_SCAN_SECONDS", "often-ish"),
        ("CAAS_AUDIT_REVERIFY_SECONDS", "-5"),
        ("CAAS_AUDIT_VERIFIER_GROUP", "no spaces allowed"),
    ],
)
def test_invalid_setting_stops_the_verifier(variable: str, raw: str) -> None:
    stderr = assert_refuses_to_start(
        "caas_control_plane.audit_verifier", settings=SECRET_KEY, variable=variable, raw=raw
    )
    assert stderr.startswith("caas-audit-verifier: refusing to start:")
