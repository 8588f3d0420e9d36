"""E2E fixtures for ApiKey, Webhook and RetentionPolicy: the platform's operator, kubectl, a Tenant.

The operator is the one `running_platform` (`caasctl up`) started from the current code.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.conftest import kubectl

READY_TIMEOUT = 90.0


def wait_for(check: Callable[[], Any], *, timeout: float = READY_TIMEOUT, what: str) -> Any:
    """Poll until `check` returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def apply(stack: Stack, obj: dict[str, Any], *, check: bool = True, dry_run: bool = False) -> str:
    """`kubectl apply -f -` of one object; returns stdout (and kubectl's error if check=False)."""
    args = ["apply", "-f", "-", *(["--dry-run=server"] if dry_run else [])]
    if check:
        return kubectl(stack, *args, stdin=json.dumps(obj))
    result = subprocess.run(
        [stack.kubectl, *args],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        env=stack.process_env(),
        check=False,
        timeout=120,
    )
    return result.stdout + result.stderr


def get(stack: Stack, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    """`kubectl get -o json` of one object ({} when it does not exist)."""
    args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(stack, *args)
    return json.loads(out) if out.strip() else {}


def condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    """One condition of an object's status ({} when absent)."""
    for found in (obj.get("status") or {}).get("conditions") or []:
        if found["type"] == kind:
            return dict(found)
    return {}


def wait_condition(
    stack: Stack, kind: str, name: str, namespace: str, *, status: str = "True",
    reason: str | None = None, timeout: float = READY_TIMEOUT,
) -> dict[str, Any]:  # fmt: skip
    """Wait until Ready has the status (and reason) for the object's current generation."""

    def check() -> dict[str, Any] | None:
        obj = get(stack, kind, name, namespace)
        found = condition(obj)
        current = found.get("observedGeneration") == obj.get("metadata", {}).get("generation")
        if found.get("status") == status and current and reason in (None, found.get("reason")):
            return obj
        return None

    try:
        found: dict[str, Any] = wait_for(check, timeout=timeout, what=f"{kind}/{name} {status}")
    except AssertionError:
        dump = kubectl(stack, "get", kind, name, "-n", namespace, "-o", "yaml", check=False)
        pytest.fail(
            f"{kind}/{name} did not reach Ready={status} ({reason}):\n{dump}\noperator log: "
            f"{stack.conf.logs_dir / 'caas-operator.log'}",
            pytrace=False,
        )
    return found


def secret_data(stack: Stack, name: str, namespace: str) -> tuple[dict[str, str], str]:
    """(decoded data, resourceVersion) of a Secret."""
    raw = get(stack, "secret", name, namespace)
    data = {k: base64.b64decode(v).decode() for k, v in (raw.get("data") or {}).items()}
    return data, str(raw.get("metadata", {}).get("resourceVersion"))


def tenant_manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A Tenant whose data is dropped when it is deleted."""
    return {
        "apiVersion": "platform.caas.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"deletionPolicy": "Delete", **spec},
    }


def resource(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A namespaced resource of ours."""
    return {
        "apiVersion": "platform.caas.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@pytest.fixture
def make_tenant(running_platform: Stack) -> Iterator[Callable[..., str]]:
    """Apply Tenants (unique names) and wait until Ready; delete them (and their data) after."""
    stack = running_platform
    made: list[str] = []

    def make(**spec: Any) -> str:
        name = f"e2k-{uuid.uuid4().hex[:6]}"
        made.append(name)
        apply(stack, tenant_manifest(name, **spec))
        waited = kubectl(
            stack, "wait", f"tenant/{name}", "--for=condition=Ready", "--timeout=120s", check=False
        )
        if "condition met" not in waited:
            dump = kubectl(stack, "get", f"tenant/{name}", "-o", "yaml", check=False)
            pytest.fail(f"tenant {name} did not become Ready:\n{dump}", pytrace=False)
        return name

    yield make
    for name in made:
        kubectl(stack, "delete", f"tenant/{name}", "--ignore-not-found", "--timeout=180s")


@pytest.fixture
def tenant(make_tenant: Callable[..., str]) -> str:
    """One Ready tenant with the default plan."""
    return make_tenant()
