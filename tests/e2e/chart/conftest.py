"""Chart fixtures: the pinned helm and kubectl, the shared stack's apiserver, a private one."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from caasctl.stack.components import APISERVER, ETCD
from caasctl.stack.config import REPO_ROOT, Ports, StackConfig
from caasctl.stack.install import fetch_kube_tools
from caasctl.stack.processes import Process
from tests.conftest import Stack

CHART = REPO_ROOT / "charts" / "caas-platform"
CRDS = REPO_ROOT / "crds"
# A key that satisfies the chart's and the API's production rules (>= 32 characters).
SECRET_KEY = "chart-e2e-" + "k" * 40


@dataclass(frozen=True)
class Tools:
    """The stack's pinned helm and kubectl bound to one kubeconfig, with a private helm home."""

    helm_bin: Path
    kubectl_bin: Path
    kubeconfig: Path | None
    helm_home: Path

    def env(self) -> dict[str, str]:
        home = str(self.helm_home)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            # Helm's repository cache, config and plugins stay out of the developer's home.
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
        }
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def run(
        self, binary: Path, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
            timeout=300,
        )

    def helm(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run helm; the caller checks the outcome (failures are often the point)."""
        return self.run(self.helm_bin, *args, stdin=stdin)

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl as the kubeconfig's user (admin) unless `--as` is among the args."""
        return self.run(self.kubectl_bin, *args, stdin=stdin)

    def ok(self, result: subprocess.CompletedProcess[str]) -> str:
        """stdout of a command that must succeed, or a failure showing what it said."""
        if result.returncode != 0:
            pytest.fail(
                f"`{' '.join(map(str, result.args))}` exited {result.returncode}:\n"
                f"{result.stderr}{result.stdout}",
                pytrace=False,
            )
        return result.stdout

    def get_json(self, *args: str) -> dict[str, Any]:
        """`kubectl get ... -o json`, parsed."""
        data: dict[str, Any] = json.loads(self.ok(self.kubectl("get", *args, "-o", "json")))
        return data

    def exists(self, *args: str) -> bool:
        result = self.kubectl("get", *args, "-o", "name", "--ignore-not-found")
        return bool(self.ok(result).strip())

    def template(self, *args: str) -> list[dict[str, Any]]:
        """`helm template` of the chart with extra args, parsed into its objects."""
        out = self.ok(self.helm("template", "r", str(CHART), "--namespace", "ns", *args))
        return [doc for doc in yaml.safe_load_all(out) if doc]


def unique(prefix: str) -> str:
    """A name no other test run (or engineer) on the shared apiserver uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def values(*pairs: str) -> list[str]:
    """`--set a=b` arguments."""
    return [arg for pair in pairs for arg in ("--set", pair)]


@pytest.fixture(scope="session")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helm-home")


@pytest.fixture(scope="session")
def offline(helm_home: Path) -> Tools:
    """helm and kubectl without a cluster (lint, template), fetched if this machine lacks them."""
    conf = StackConfig.from_env()
    if not conf.binary("helm").exists():
        fetch_kube_tools(conf)
    return Tools(conf.binary("helm"), conf.binary("kubectl"), None, helm_home)


@pytest.fixture(scope="session")
def tools(stack: Stack, offline: Tools) -> Tools:
    """helm and kubectl against the shared local stack's apiserver, as its admin."""
    return replace(offline, kubeconfig=Path(stack.kubeconfig))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def private_apiserver(stack: Stack, offline: Tools, tmp_path: Path) -> Iterator[Tools]:
    """A throwaway etcd + kube-apiserver (same pinned build, RBAC on) on free ports.

    For what must not happen on the shared apiserver: taking the platform CRDs over with Helm,
    upgrading and uninstalling them. Every other engineer's tests use those CRDs there.
    """
    conf = StackConfig(
        cache_dir=stack.conf.cache_dir,
        home=tmp_path / "apiserver",
        ports=Ports(etcd_client=_free_port(), etcd_peer=_free_port(), apiserver=_free_port()),
    )
    started: list[Process] = []
    try:
        for component in (ETCD, APISERVER):
            component.prepare(conf)
            process = Process(component.name, conf.run_dir)
            process.start(component.argv(conf), log=conf.logs_dir / f"{component.name}.log")
            started.append(process)
            _wait(lambda c=component: c.probe(conf), what=component.name, logs=conf.logs_dir)
        tools = replace(offline, kubeconfig=conf.kubeconfig)
        # The apiserver answers /readyz before it has created `default` and the RBAC bootstrap.
        _wait(
            lambda: None if tools.exists("namespace", "default") else "no default namespace",
            what="kube-apiserver bootstrap",
            logs=conf.logs_dir,
        )
        yield tools
    finally:
        for process in reversed(started):
            process.stop()


def _wait(probe: Any, *, what: str, logs: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    problem = "not probed"
    while time.monotonic() < deadline:
        problem = probe()
        if problem is None:
            return
        time.sleep(0.25)
    pytest.fail(f"private {what} not ready after {timeout:.0f}s: {problem} (logs in {logs})")


def wait_until(check: Any, *, what: str, timeout: float = 60.0) -> Any:
    """Poll `check()` until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)


def kinds(objects: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Objects grouped by kind."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        grouped.setdefault(obj["kind"], []).append(obj)
    return grouped
