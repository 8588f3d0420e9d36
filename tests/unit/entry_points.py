"""Run a process's real entry point (`python -m <module>`) with an invalid setting."""

import os
import subprocess
import sys
from collections.abc import Mapping

BACKENDS = {
    "MONGODB_URI": "mongodb://127.0.0.1:1/",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "REDIS_URL": "redis://default:pw@127.0.0.1:1/0",
}


def assert_refuses_to_start(
    module: str, *, settings: Mapping[str, str], variable: str, raw: str
) -> str:
    """The process exits 2 naming `variable` (never `raw`), without a traceback; its stderr."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CAAS_", "KUBECONFIG")) and key not in BACKENDS
    }
    env |= BACKENDS | dict(settings) | {variable: raw}
    command = [sys.executable, "-m", module]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert "refusing to start" in stderr
    assert variable in stderr
    assert raw not in stderr  # values are never echoed (they may be secrets)
    assert "Traceback" not in stderr
    return stderr
