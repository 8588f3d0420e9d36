"""The README's main job leaves a running platform: the sample tenant Ready, the API ready."""

from __future__ import annotations

import json
import urllib.request

from caasctl.platform import API_PORT, SAMPLE_TENANT
from tests.conftest import Stack
from tests.e2e.conftest import kubectl

API = f"http://127.0.0.1:{API_PORT}"


def _get(path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(f"{API}{path}", timeout=10) as resp:
        return resp.status, resp.headers.get("content-type", ""), resp.read()


def test_sample_tenant_is_listed_ready(running_platform: Stack) -> None:
    listing = json.loads(kubectl(running_platform, "get", "tenants", "-o", "json"))
    tenants = {item["metadata"]["name"]: item for item in listing["items"]}
    conditions = {c["type"]: c["status"] for c in tenants[SAMPLE_TENANT]["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    # What a user sees: `kubectl get tenants` prints the printer columns, Ready among them.
    header, *rows = kubectl(running_platform, "get", "tenants").splitlines()
    columns = header.split()
    row = next(line.split() for line in rows if line.startswith(f"{SAMPLE_TENANT} "))
    printed = dict(zip(columns, row, strict=False))
    assert (printed["READY"], printed["SYNCED"], printed["REASON"]) == (
        "True",
        "True",
        "Provisioned",
    ), header


def test_api_is_ready_and_documented(running_platform: Stack) -> None:
    status, _, body = _get("/internal/ready")
    assert status == 200, body
    assert _get("/health")[0] == 200
    status, content_type, _ = _get("/documentation")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    spec = json.loads(_get("/openapi.json")[2])
    assert "/internal/ready" in spec["paths"]
