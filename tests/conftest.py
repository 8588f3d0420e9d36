"""Shared fixtures: the real local stack, started or reused, never silently skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from caasctl.stack import lifecycle
from caasctl.stack.components import env_vars
from caasctl.stack.config import StackConfig

TESTS = Path(__file__).parent
LAYERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the folder it lives in, so `-m unit|integration|e2e` selects layers."""
    for item in items:
        layer = Path(item.path).relative_to(TESTS).parts[0]
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))


@dataclass(frozen=True)
class Stack:
    """Connection settings of the running local stack."""

    conf: StackConfig
    env: dict[str, str]

    @property
    def kubeconfig(self) -> str:
        return self.env["KUBECONFIG"]

    @property
    def mongodb_uri(self) -> str:
        return self.env["MONGODB_URI"]

    @property
    def kafka_bootstrap(self) -> str:
        return self.env["KAFKA_BOOTSTRAP_SERVERS"]

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    @property
    def kubectl(self) -> str:
        return str(self.conf.binary("kubectl"))

    def process_env(self) -> dict[str, str]:
        """The environment a platform process started by a test gets."""
        return {**os.environ, **self.env}


def caasctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI as a separate process (servers it starts outlive it, as for a user)."""
    return subprocess.run(
        [sys.executable, "-m", "caasctl", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=3600,
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start the local stack, or reuse a running one; a stack that cannot start fails the test."""
    conf = StackConfig.from_env()
    already_up = all(row.ready for row in lifecycle.status(conf))
    if not already_up:
        result = caasctl("stack", "up")
        if result.returncode != 0:
            pytest.fail(
                "the real local stack is required and could not be started "
                f"(`caasctl stack up` exit {result.returncode}):\n{result.stderr}",
                pytrace=False,
            )
    yield Stack(conf=conf, env=env_vars(conf))
    # Leave a stack the developer started; stop the one this session started, unless asked not to.
    if not already_up and not os.environ.get("CAAS_KEEP_STACK"):
        caasctl("stack", "down")
