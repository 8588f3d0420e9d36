"""`kubectl apply` of a Webhook: bad URLs refused, a good one registered with a whsec_ secret."""

from __future__ import annotations

import base64

import pytest
from pymongo import MongoClient

from caas_core.domain.naming import PLATFORM_DATABASE
from tests.conftest import Stack
from tests.e2e.conftest import kubectl
from tests.e2e.operator_kinds.conftest import apply, resource, secret_data, wait_condition

HOST_MESSAGE = "url host must be a public name or address"


@pytest.mark.parametrize(
    ("url", "extra", "message"),
    [
        ("http://hooks.example.com/caas", {}, "url must use https"),
        ("https://127.0.0.1/caas", {}, HOST_MESSAGE),
        ("https://10.1.2.3/caas", {}, HOST_MESSAGE),
        ("https://169.254.169.254/latest/meta-data", {}, HOST_MESSAGE),
        ("https://[::1]:8443/caas", {}, HOST_MESSAGE),
        ("https://localhost:8443/caas", {}, HOST_MESSAGE),
        ("https://metadata.google.internal/computeMetadata/v1/", {}, HOST_MESSAGE),
        ("https://user:pw@hooks.example.com/", {}, "must not carry credentials"),
        ("not a url", {}, "must be an absolute URL"),
        ("https://hooks.example.com/", {"eventTypes": ["message.exploded"]}, "unknown event type"),
    ],
)
def test_the_apiserver_refuses_bad_webhooks(
    running_platform: Stack, url: str, extra: dict[str, object], message: str
) -> None:
    # Schema and CEL validation happen before any tenant is looked at: any namespace will do.
    obj = resource("Webhook", "bad", "default", {"url": url, **extra})
    out = apply(running_platform, obj, check=False, dry_run=True)
    assert "is invalid" in out, out
    assert message in out, out


def test_a_webhook_is_registered_with_a_signing_secret_then_unregistered(
    running_platform: Stack, tenant: str
) -> None:
    stack = running_platform
    namespace = f"tenant-{tenant}"
    spec = {"url": "https://1.1.1.1/caas", "eventTypes": ["message.*", "user.deleted"]}
    apply(stack, resource("Webhook", "orders", namespace, spec))
    obj = wait_condition(stack, "webhook", "orders", namespace)
    status = obj["status"]
    assert status["addresses"] == ["1.1.1.1"]
    data, version = secret_data(stack, "orders-webhook", namespace)
    signing = data["signingSecret"]
    assert signing.startswith("whsec_")
    assert 24 <= len(base64.b64decode(signing.removeprefix("whsec_"))) <= 64
    client: MongoClient[dict[str, object]] = MongoClient(stack.mongodb_uri)
    endpoints = client[PLATFORM_DATABASE]["webhook_endpoints"]
    try:
        doc = endpoints.find_one({"_id": status["endpointId"]})
        assert doc is not None
        assert (doc["tenant"], doc["url"], doc["managedBy"]) == (
            tenant, "https://1.1.1.1/caas", "operator",
        )  # fmt: skip
        assert doc["eventTypes"] == ["message.*", "user.deleted"]
        assert doc["secretRef"] == {
            "namespace": namespace, "name": "orders-webhook", "key": "signingSecret",
        }  # fmt: skip
        assert signing not in str(doc)
        # A spec change re-registers; the secret is never rewritten.
        spec["enabled"] = False
        apply(stack, resource("Webhook", "orders", namespace, spec))
        wait_condition(stack, "webhook", "orders", namespace)
        doc = endpoints.find_one({"_id": status["endpointId"]})
        assert doc is not None
        assert doc["enabled"] is False
        assert secret_data(stack, "orders-webhook", namespace) == (data, version)
        kubectl(stack, "delete", "webhook", "orders", "-n", namespace, "--timeout=60s")
        assert endpoints.find_one({"_id": status["endpointId"]}) is None
    finally:
        client.close()


def test_a_host_that_does_not_resolve_gets_a_precise_reason(
    running_platform: Stack, tenant: str
) -> None:
    stack = running_platform
    namespace = f"tenant-{tenant}"
    apply(
        stack, resource("Webhook", "ghost", namespace, {"url": "https://hooks.caas-e2e.example/x"})
    )
    obj = wait_condition(
        stack, "webhook", "ghost", namespace, status="False", reason="UnresolvableHost"
    )
    assert (
        "hooks.caas-e2e.example could not be resolved" in obj["status"]["conditions"][0]["message"]
    )
