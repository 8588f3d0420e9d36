"""hack/kind/backends.yaml against the local stack's real kube-apiserver: a server-side dry run.

This project's CI has no Docker, so kind never runs here. A server-side dry run still sends
every object through the apiserver's decoding, strict field validation, defaulting and
admission, the same way kind's apiserver would, and stores nothing. The namespaced objects are
dry-run in a throwaway namespace, because `caas-backends` must not be created on the shared
apiserver (a dry-run Namespace does not exist for the objects that follow it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from caasctl.stack.config import REPO_ROOT
from tests.e2e.chart.conftest import Tools, unique

BACKENDS = REPO_ROOT / "hack" / "kind" / "backends.yaml"


def _objects() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(BACKENDS.read_text()) if doc]


@pytest.fixture
def namespace(tools: Tools) -> Iterator[str]:
    name = unique("kind-dry-run")
    tools.ok(tools.kubectl("create", "namespace", name))
    try:
        yield name
    finally:
        tools.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false")


def _dry_run(tools: Tools, objects: list[dict[str, Any]]) -> str:
    listed = {"apiVersion": "v1", "kind": "List", "items": objects}
    return tools.ok(
        tools.kubectl(
            "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=json.dumps(listed)
        )
    )


def test_backends_pass_a_server_side_dry_run(tools: Tools, namespace: str) -> None:
    objects = _objects()
    (ns,) = [o for o in objects if o["kind"] == "Namespace"]
    assert ns["metadata"]["name"] == "caas-backends"
    assert "namespace/caas-backends created (server dry run)" in _dry_run(tools, [ns])
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert all(o["metadata"]["namespace"] == "caas-backends" for o in namespaced)
    for obj in namespaced:
        obj["metadata"]["namespace"] = namespace
    out = _dry_run(tools, namespaced)
    for obj in namespaced:
        kind = obj["kind"].lower() + ("" if obj["apiVersion"] == "v1" else ".apps")
        assert f"{kind}/{obj['metadata']['name']} created (server dry run)" in out
    assert not tools.ok(tools.kubectl("get", "all", "-n", namespace, "-o", "name"))


def test_the_dry_run_would_catch_a_typo(tools: Tools, namespace: str) -> None:
    """The negative control: a misspelt field is refused, naming it."""
    objects = [o for o in _objects() if o["kind"] == "StatefulSet"]
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    objects[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 5
    listed = {"apiVersion": "v1", "kind": "List", "items": objects}
    result = tools.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=json.dumps(listed)
    )
    assert result.returncode != 0
    assert 'unknown field "periodSecond"' in result.stderr
