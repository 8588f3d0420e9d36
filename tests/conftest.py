"""Shared fixtures: the real local stack, started or reused, never silently skipped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from caas_core.adapters import kafka, mongo
from caas_core.domain.collections import PLATFORM_COLLECTIONS
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.topics import platform_topics
from caasctl.stack import lifecycle
from caasctl.stack.components import env_vars
from caasctl.stack.config import StackConfig
from caasctl.stack.processes import Process

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
        """The environment of a tool started by a test (kubectl, helm): the stack's settings."""
        return {**os.environ, **self.env}

    def operator_env(self) -> dict[str, str]:
        """The environment of an operator process: MongoDB as its least-privilege user."""
        return {**self.process_env(), "MONGODB_URI": self.env["CAAS_OPERATOR_MONGODB_URI"]}

    @property
    def api_mongodb_uri(self) -> str:
        """The control plane's least-privilege MongoDB user."""
        return self.env["CAAS_API_MONGODB_URI"]


def _ensure_platform_resources(env: dict[str, str]) -> None:
    """What the operator ensures at start (platform topics and collections), done up front.

    Integration tests of the control plane run with no operator; on a fresh stack the platform
    topics (e.g. auth.revocation.events) would otherwise not exist yet.
    """

    async def ensure() -> None:
        client = mongo.connect(env["MONGODB_URI"])
        try:
            await mongo.ensure_database(
                client, database=PLATFORM_DATABASE, collections=PLATFORM_COLLECTIONS
            )
        finally:
            await client.close()
        report = await kafka.ensure_topics(
            kafka.connect(env["KAFKA_BOOTSTRAP_SERVERS"]), platform_topics(), timeout=30
        )
        assert not report.drifts, [d.describe() for d in report.drifts]

    # A thread of its own: this may run while an async test's event loop is already running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, ensure()).result()


@contextmanager
def platform_operator_stopped(stack: Stack) -> Iterator[None]:
    """Stop the platform's operator (e.g. one `make run` left running) for tests that call the
    reconcilers themselves, so no live operator races them; restart it afterwards."""
    operator = Process("caas-operator", stack.conf.run_dir)
    was_running = operator.stop()
    yield
    if was_running:
        result = caasctl("up")
        if result.returncode != 0:
            pytest.fail(f"restarting the platform failed:\n{result.stderr}", pytrace=False)


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
    env = env_vars(conf)
    _ensure_platform_resources(env)
    yield Stack(conf=conf, env=env)
    # Leave a stack the developer started; stop the one this session started, unless asked not to.
    if not already_up and not os.environ.get("CAAS_KEEP_STACK"):
        caasctl("stack", "down")
