"""The real `caas-operator` entry point refuses to start on an invalid setting, naming it."""

import pytest

from tests.unit.entry_points import assert_refuses_to_start

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("variable", "raw"),
    [("CAAS_OPERATOR_RESYNC_SECONDS", "every-five-minutes"), ("CAAS_ENV", "staging")],
)
def test_invalid_setting_stops_the_process(variable: str, raw: str) -> None:
    assert_refuses_to_start("caas_operator", settings={}, variable=variable, raw=raw)
