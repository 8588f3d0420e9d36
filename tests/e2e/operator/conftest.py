"""Fixtures for the operator's e2e tests: our own operator process, never two at once.

The platform that `running_platform` brought up has its own operator (2 s resync is too slow
for drift tests at its default of 300 s, and a test cannot kill -9 it). Two operators would
both reconcile every Tenant, so the platform's operator is stopped while these tests run and
started again afterwards by `caasctl up` (idempotent: it starts only what is missing and
waits for the sample tenant to be Ready again).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from caasctl.stack.processes import Process
from tests.conftest import Stack, caasctl
from tests.e2e.operator.support import Backends, Kube, OperatorProcess

RESYNC_SECONDS = 2.0


@pytest.fixture(scope="package")
def operator(
    running_platform: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """A caas-operator with a 2 s drift re-check and metrics, the only one running."""
    stack = running_platform
    platform_operator = Process("caas-operator", stack.conf.run_dir)
    platform_operator.stop()
    log = tmp_path_factory.mktemp("operator") / "caas-operator.log"
    process = OperatorProcess(stack=stack, log=log, resync_seconds=RESYNC_SECONDS)
    process.start()
    process.wait_metrics()
    yield process
    process.stop()
    result = caasctl("up")
    if result.returncode != 0:
        pytest.fail(f"restarting the platform failed:\n{result.stderr}", pytrace=False)


@pytest.fixture
def running_operator(operator: OperatorProcess) -> OperatorProcess:
    """The operator, (re)started with its default environment if a test left it stopped."""
    if not operator.alive():
        operator.start()
        operator.wait_metrics()
    return operator


@pytest.fixture(scope="package")
def kube(running_platform: Stack) -> Kube:
    """The Kubernetes API as admin."""
    return Kube(running_platform)


@pytest.fixture(scope="package")
def backends(running_platform: Stack) -> Iterator[Backends]:
    """Direct clients of MongoDB, Kafka and Redis."""
    clients = Backends(running_platform)
    yield clients
    clients.close()
