"""`kubectl apply` of an AccessPolicy: refused at its pointer, applied to the store, removed."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from caas_core.domain.naming import PLATFORM_DATABASE
from tests.conftest import Stack
from tests.e2e.conftest import kubectl
from tests.e2e.operator_kinds.conftest import apply, resource, wait_condition, wait_for

SCHEMA: dict[str, Any] = {
    "entityTypes": {"User": {"attributes": {"level": {"type": "Long"}}}, "Channel": {}},
    "actions": {"read": {"principalTypes": ["User"], "resourceTypes": ["Channel"]}},
}
TEXT = """@id("senior-read")
permit (principal, action == Action::"read", resource is Channel)
when { principal.level >= 3 };
"""


def test_an_access_policy_is_validated_applied_and_removed(
    running_platform: Stack, tenant: str
) -> None:
    stack = running_platform
    namespace = f"tenant-{tenant}"
    bad = {**SCHEMA, "actions": {"read": {"principalTypes": ["Robot"]}}}
    apply(stack, resource("AccessPolicy", "readers", namespace, {"text": TEXT, "schema": bad}))
    refused = wait_condition(
        stack, "accesspolicy", "readers", namespace, status="False", reason="InvalidSchema"
    )
    message = refused["status"]["conditions"][0]["message"]
    assert message.startswith("/spec/schema/actions/read/principalTypes/0: unknown entity type")
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri)
    policies = client[PLATFORM_DATABASE]["authorization_policies"]
    try:
        assert policies.count_documents({"tenant": tenant}) == 0
        apply(
            stack, resource("AccessPolicy", "readers", namespace, {"text": TEXT, "schema": SCHEMA})
        )
        applied = wait_condition(stack, "accesspolicy", "readers", namespace, reason="Applied")
        assert applied["status"]["policies"] == 1
        (stored,) = policies.find({"tenant": tenant})
        assert (stored["key"], stored["owner"]) == ("senior-read", "operator")
        assert stored["source"]["uid"] == applied["metadata"]["uid"]
        # The finalizer removes the resource's policy and schema before the resource goes.
        kubectl(stack, "delete", "accesspolicy", "readers", "-n", namespace, "--timeout=60s")
        schemas = client[PLATFORM_DATABASE]["authorization_schemas"]
        wait_for(
            lambda: (
                policies.count_documents({"tenant": tenant}) == 0
                and schemas.count_documents({"tenant": tenant}) == 0
            ),
            what="the resource's objects removed",
        )
    finally:
        client.close()
