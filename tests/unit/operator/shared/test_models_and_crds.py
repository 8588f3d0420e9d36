"""ApiKey, Webhook and RetentionPolicy: models, generated CRDs, and the namespace's tenant."""

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from caas_core.crd import render_crds
from caas_core.crd.apikey import apikey_crd
from caas_core.crd.retention import retention_crd
from caas_core.crd.webhook import webhook_crd
from caas_core.resources.apikey import ApiKeySpec
from caas_core.resources.retention import RetentionPolicySpec
from caas_core.resources.webhook import WebhookSpec
from caas_operator.shared.scope import ScopeError, resolve_scope

CRDS = {"ApiKey": apikey_crd, "Webhook": webhook_crd, "RetentionPolicy": retention_crd}


def _nodes(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), Mapping):
        yield from _nodes(node["items"], f"{path}[]")


@pytest.mark.parametrize("kind", CRDS)
def test_crds_are_structural_documented_and_namespaced(kind: str) -> None:
    crd = CRDS[kind]()
    spec = crd["spec"]
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind
    assert spec["names"]["categories"] == ["caas"]
    assert spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:2] == ["Ready", "Reason"]
    assert columns[-1] == "Age"
    assert "Tenant" in columns
    schema = version["schema"]["openAPIV3Schema"]
    forbidden = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title", "const"}
    for path, node in _nodes(schema):
        assert not forbidden & set(node), path
        assert "type" in node, path
        if path and not path.startswith(".metadata") and not path.endswith("[]"):
            assert node.get("description"), f"{kind}{path} has no description"
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert f"{spec['names']['plural']}.platform.caas.io.yaml" in render_crds()
    assert yaml.safe_load(render_crds()[f"{spec['names']['plural']}.platform.caas.io.yaml"]) == crd


def test_apikey_defaults_and_validation() -> None:
    spec = ApiKeySpec.model_validate({})
    assert (spec.scopes, spec.rotation.generation, spec.rotation.overlap_seconds) == ([], 0, 86400)
    for bad in (
        {"scopes": ["Tokens"]},
        {"rotation": {"generation": -1}},
        {"rotation": {"overlapSeconds": 31 * 86400}},
        {"secretName": "Not_A_Name"},
    ):
        with pytest.raises(ValidationError):
            ApiKeySpec.model_validate(bad)
    schema = apikey_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rotation = schema["properties"]["rotation"]["properties"]["generation"]
    assert rotation["x-kubernetes-validations"][0]["rule"] == "self >= oldSelf"
    assert "secretName" in schema["x-kubernetes-validations"][0]["rule"]


def test_webhook_schema_rules() -> None:
    spec = WebhookSpec.model_validate({"url": "https://hooks.example.com/x"})
    assert spec.event_types == ["*"]
    assert spec.enabled
    assert not spec.allow_insecure_http
    schema = webhook_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["required"] == ["spec"]
    rules = [r["rule"] for r in schema["properties"]["spec"]["x-kubernetes-validations"]]
    assert any("getScheme() == 'https'" in r for r in rules)
    assert any("matches(r'" in r for r in rules)
    item = schema["properties"]["spec"]["properties"]["eventTypes"]["items"]
    assert "message.created" in item["x-kubernetes-validations"][0]["rule"]


def test_retention_models() -> None:
    ok = RetentionPolicySpec.model_validate(
        {"rules": [{"dataClass": "messages", "maxAgeDays": 30, "minAgeDays": 7}]}
    )
    assert ok.rules[0].to_rule().retention_ms == 30 * 86_400_000
    for bad in (
        {"rules": []},
        {"rules": [{"dataClass": "messages", "maxAgeDays": 7, "minAgeDays": 30}]},
        {"rules": [{"dataClass": "messages", "maxAgeDays": -1}]},
        {"rules": [{"dataClass": "blobs", "maxAgeDays": 1}]},
        {
            "rules": [
                {"dataClass": "messages", "maxAgeDays": 1},
                {"dataClass": "messages", "maxAgeDays": 2},
            ]
        },
    ):
        with pytest.raises(ValidationError):
            RetentionPolicySpec.model_validate(bad)
    rule = retention_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]["properties"]["rules"]["items"]
    assert rule["x-kubernetes-validations"][0]["message"] == "minAgeDays must not exceed maxAgeDays"


TENANT = {"metadata": {"name": "acme"}, "spec": {"plan": {"maxApiKeys": 3, "maxWebhooks": 0}}}


def test_the_namespace_label_names_the_tenant() -> None:
    scope = resolve_scope(
        kind="ApiKey",
        namespace="tenant-acme",
        namespace_labels={"platform.caas.io/tenant": "acme"},
        tenant=TENANT,
    )
    assert scope.tenant == "acme"
    assert scope.names.database == "tenant_acme"
    assert scope.quota("maxApiKeys") == 3
    assert scope.quota("maxWebhooks") == 0
    bare = resolve_scope(
        kind="ApiKey",
        namespace="tenant-acme",
        namespace_labels={"platform.caas.io/tenant": "acme"},
        tenant={"spec": {}},
    )
    assert bare.quota("maxApiKeys") is None  # a Tenant without plan quotas: no limit


@pytest.mark.parametrize(
    ("namespace", "labels", "tenant", "reason"),
    [
        ("default", {}, None, "NoTenant"),
        ("gone", None, None, "NoTenant"),
        ("default", {"platform.caas.io/tenant": "Not_Valid"}, None, "NoTenant"),
        ("default", {"platform.caas.io/tenant": "acme"}, TENANT, "NamespaceMismatch"),
        ("tenant-acme", {"platform.caas.io/tenant": "acme"}, None, "TenantNotFound"),
        (
            "tenant-acme",
            {"platform.caas.io/tenant": "acme"},
            {"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}},
            "TenantTerminating",
        ),
    ],
)
def test_namespaces_without_a_usable_tenant(
    namespace: str, labels: dict[str, str] | None, tenant: dict[str, Any] | None, reason: str
) -> None:
    with pytest.raises(ScopeError) as refused:
        resolve_scope(kind="ApiKey", namespace=namespace, namespace_labels=labels, tenant=tenant)
    assert refused.value.failure.reason == reason
    if reason == "NoTenant" and labels == {}:
        assert "has no platform.caas.io/tenant label" in refused.value.failure.message
