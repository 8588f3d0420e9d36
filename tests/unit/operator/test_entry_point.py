"""The real `caas-operator` entry point refuses to start on an invalid setting, naming it."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

BACKENDS = {
    "MONGODB_URI": "mongodb://127.0.0.1:1/",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "REDIS_URL": "redis://default:pw@127.0.0.1:1/0",
}


@pytest.mark.parametrize(
    ("variable", "raw"),
    [("CAAS_OPERATOR_RESYNC_SECONDS", "every-five-minutes"), ("CAAS_ENV", "staging")],
)
def test_invalid_setting_stops_the_process(variable: str, raw: str) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CAAS_", "KUBECONFIG"))
        and key not in {"MONGODB_URI", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"}
    }
    env |= BACKENDS | {variable: raw}
    command = [sys.executable, "-m", "caas_operator"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert "refusing to start" in stderr
    assert variable in stderr
    assert raw not in stderr  # values are never echoed (they may be secrets)
    assert "Traceback" not in stderr
