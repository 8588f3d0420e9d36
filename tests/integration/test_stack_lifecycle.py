"""`caasctl stack` fails clearly on bad input and leaves nothing half-running.

These tests use a private stack home and ports of their own, so the shared stack is untouched.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from caasctl.stack import lifecycle
from caasctl.stack.config import StackConfig
from tests.conftest import caasctl

PORT_NAMES = (
    "ETCD_CLIENT",
    "ETCD_PEER",
    "APISERVER",
    "CONTROLLER_MANAGER",
    "KAFKA",
    "KAFKA_CONTROLLER",
    "KAFKA_SASL",
    "MONGO",
    "REDIS",
)


def _free_ports(count: int) -> list[int]:
    """Ports nothing listens on now, chosen by the kernel (fixed ones collided with other
    local servers): all bound at once, so they are distinct."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def ports() -> dict[str, int]:
    return dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))


@pytest.fixture
def isolated(tmp_path: Path, ports: dict[str, int]) -> Iterator[dict[str, str]]:
    """Environment for a second, private stack; anything it leaves running is stopped after."""
    env = {
        **os.environ,
        "CAAS_STACK_HOME": str(tmp_path / "stack"),
        **{f"CAAS_STACK_PORT_{k}": str(v) for k, v in ports.items()},
    }
    yield env
    caasctl("stack", "down", env=env)


def _conf(env: dict[str, str]) -> StackConfig:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        return StackConfig.from_env()
    finally:
        os.environ.clear()
        os.environ.update(old)


def _nothing_running(env: dict[str, str]) -> bool:
    return all(row.pid is None for row in lifecycle.status(_conf(env)))


def test_up_refuses_a_taken_port_and_starts_nothing(
    isolated: dict[str, str], ports: dict[str, int]
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["REDIS"]))
        squatter.listen()
        result = caasctl("stack", "up", env=isolated)
    assert result.returncode == 1
    assert "step 'check ports' failed" in result.stderr
    assert f"port {ports['REDIS']} (redis" in result.stderr
    assert _nothing_running(isolated)


def test_a_server_that_fails_to_start_rolls_back_the_others(
    isolated: dict[str, str], ports: dict[str, int]
) -> None:
    # Broker and controller on one port: Kafka refuses the configuration after the servers of
    # the same start-up wave (etcd, Redis, MongoDB) are already running.
    env = {**isolated, "CAAS_STACK_PORT_KAFKA_CONTROLLER": str(ports["KAFKA"])}
    result = caasctl("stack", "up", env=env)
    assert result.returncode == 1
    assert "kafka" in result.stderr.split("failed")[0]
    assert "log: " in result.stderr
    assert _nothing_running(env)
    for port in (ports["ETCD_CLIENT"], ports["REDIS"], ports["MONGO"]):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_down_twice_and_status_of_a_stopped_stack(isolated: dict[str, str]) -> None:
    first, second = caasctl("stack", "down", env=isolated), caasctl("stack", "down", env=isolated)
    assert (first.returncode, second.returncode) == (0, 0)
    assert "nothing was running" in second.stderr
    status = caasctl("stack", "status", env=isolated)
    assert status.returncode == 1
    assert "not running" in status.stdout
