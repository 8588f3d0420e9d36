"""E2E fixtures: the platform brought up by the README's main-job command, driven with kubectl."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from caasctl import platform
from caasctl.stack.processes import Process
from tests.conftest import Stack, caasctl


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
def running_platform(stack: Stack) -> Iterator[Stack]:
    """`caasctl up` (what `make run` does); the processes it started are stopped afterwards."""
    before = platform.running(stack.conf)
    result = caasctl("up")
    if result.returncode != 0:
        pytest.fail(
            f"`caasctl up` failed (exit {result.returncode}):\n{result.stderr}", pytrace=False
        )
    yield stack
    for name, pid in before.items():
        if pid is None:
            Process(name, stack.conf.run_dir).stop()
