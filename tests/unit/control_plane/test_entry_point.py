"""The real `caas-api` entry point refuses to start on an invalid setting, naming it (never its
value), with exit code 2 and no traceback — as the operator's entry point does."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

SETTINGS = {
    "MONGODB_URI": "mongodb://127.0.0.1:1/",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "REDIS_URL": "redis://default:pw@127.0.0.1:1/0",
    "CAAS_SECRET_KEY": "an-entry-point-test-key-of-forty-characters",
}


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
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CAAS_", "KUBECONFIG")) and key not in SETTINGS
    }
    env |= SETTINGS | {variable: raw}
    command = [sys.executable, "-m", "caas_control_plane"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert "caas-api: refusing to start" in stderr
    assert variable in stderr
    assert raw not in stderr  # values are never echoed (they may be secrets)
    assert "Traceback" not in stderr
