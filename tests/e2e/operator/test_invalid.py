"""Invalid Tenants are refused by the API server with a readable message, or get a precise
Ready=False reason; the operator never crash-loops on them."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import Stack
from tests.e2e.conftest import kubectl
from tests.e2e.operator.support import (
    Backends,
    Kube,
    OperatorProcess,
    database,
    manifest,
    tenants,
    unique,
)


def _kubectl_apply(stack: Stack, body: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [stack.kubectl, "apply", *flags, "-f", "-"],
        input=body,
        capture_output=True,
        text=True,
        env=stack.process_env(),
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("bad-topic", {"kafka": {"topics": [{"suffix": "Bad_Name"}]}},
         "spec.kafka.topics[0].suffix in body should match"),
        ("neg-retention", {"kafka": {"topics": [{"suffix": "a", "retentionMs": -5}]}},
         "retentionMs must be -1 (keep forever) or at least 60000"),
        ("dup-topic", {"kafka": {"topics": [{"suffix": "a"}, {"suffix": "a"}]}}, "Duplicate value"),
        ("policy", {"deletionPolicy": "Nuke"},
         'Unsupported value: "Nuke": supported values: "Retain", "Delete", "Shred"'),
        ("shred", {"deletionPolicy": "Shred"}, "deletionPolicy Shred is reserved"),
        ("burst", {"plan": {"rateLimit": {"requestsPerSecond": 10, "burst": 5}}},
         "rateLimit.burst must be at least rateLimit.requestsPerSecond"),
        ("quota", {"plan": {"maxApiKeys": -1}}, "spec.plan.maxApiKeys in body should be greater"),
        ("reserved-index", {"mongo": {"collections": [
            {"name": "users", "indexes": [{"name": "user_id_unique", "keys": [{"field": "x"}]}]}]}},
         "index names of the platform's default collections are reserved"),
        ("redis-admin", {"redis": {"allowedCategories": ["admin"]}}, 'Unsupported value: "admin"'),
        ("Bad_Tenant", {}, "a lowercase RFC 1123 subdomain"),
        ("x" * 41, {}, "tenant names are at most 40 characters"),
    ],
)  # fmt: skip
def test_the_api_server_refuses_invalid_tenants_with_a_readable_message(
    stack: Stack, name: str, spec: dict[str, object], message: str
) -> None:
    completed = _kubectl_apply(stack, manifest(name, spec), "--dry-run=server")
    assert completed.returncode != 0
    assert message in completed.stderr, completed.stderr


def test_partitions_can_grow_but_never_shrink(stack: Stack, kube: Kube) -> None:
    name = unique("e2e-shrink")
    spec = {"kafka": {"topics": [{"suffix": "a", "partitions": 4}]}, "deletionPolicy": "Delete"}
    with tenants(kube, name):
        kubectl(stack, "apply", "-f", "-", stdin=manifest(name, spec))
        shrunk = {
            "kafka": {"topics": [{"suffix": "a", "partitions": 2}]},
            "deletionPolicy": "Delete",
        }
        completed = _kubectl_apply(stack, manifest(name, shrunk))
        assert completed.returncode != 0
        assert "partitions can be raised but never lowered" in completed.stderr
        tenant = kube.get(name)
        assert tenant is not None
        assert tenant["spec"]["kafka"]["topics"][0]["partitions"] == 4


def test_what_the_schema_cannot_catch_gets_a_precise_reason_without_a_crash_loop(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    """An index of the spec's name but other keys already exists: IndexDrift, no retry storm."""
    name = unique("e2e-idx")
    spec = {
        "mongo": {"collections": [{"name": "messages", "indexes": [
            {"name": "by_room", "keys": [{"field": "room"}]}]}]},
        "deletionPolicy": "Delete",
    }  # fmt: skip
    with tenants(kube, name):
        kube.apply(name, spec)
        kube.wait_condition(name, "Ready")
        messages = backends.mongo[database(name)]["messages"]
        messages.drop_index("by_room")
        messages.create_index([("other", 1)], name="by_room")
        mongo = kube.wait_condition(name, "MongoReady", status="False", reason="IndexDrift")
        assert "by_room differs from its spec" in mongo["message"]
        ready = kube.condition(name, "Ready")
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", "IndexDrift")
        tenant = kube.get(name)
        assert tenant is not None
        reported = [d for d in tenant["status"].get("drift", []) if d["action"] == "Reported"]
        assert reported
        assert "DriftDetected" in kube.reasons(name)
        assert running_operator.alive()
        # Fixing it by hand is picked up by the next re-check.
        messages.drop_index("by_room")
        kube.wait_condition(name, "Ready")
