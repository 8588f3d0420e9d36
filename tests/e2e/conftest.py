"""E2E fixtures: the platform's processes, run as a user runs them, against the real stack."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from caasctl import platform
from caasctl.stack.processes import Process
from tests.conftest import Stack

REPO = Path(__file__).resolve().parents[2]


def kubectl(stack: Stack, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run the stack's kubectl as admin and return its stdout."""
    result = subprocess.run(
        [stack.kubectl, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=stack.process_env(),
        check=False,
        timeout=300,
    )
    if check and result.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}", pytrace=False)
    return result.stdout


@pytest.fixture(scope="session")
def crds(stack: Stack) -> None:
    """The platform's generated CRDs, installed and Established."""
    kubectl(stack, "apply", "--server-side", "-f", str(REPO / "crds"))
    kubectl(stack, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))


@pytest.fixture(scope="session")
def operator(stack: Stack, crds: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The operator as a process: reuse the one `caasctl up` started, or start our own."""
    if Process("caas-operator", stack.conf.run_dir).pid() is not None:
        yield stack.conf.logs_dir / "caas-operator.log"
        return
    log = tmp_path_factory.mktemp("operator") / "caas-operator.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "caas_operator"],
            env=platform.service_env(stack.conf),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    time.sleep(1)
    if proc.poll() is not None:
        pytest.fail(f"the operator exited at start:\n{log.read_text()}", pytrace=False)
    yield log
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
