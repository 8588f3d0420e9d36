"""The AccessPolicy CRD: structural, documented, static checks only, unknown policy fields kept."""

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from caas_core.crd import render_crds
from caas_core.crd.accesspolicy import CRD_NAME, accesspolicy_crd
from caas_core.resources.accesspolicy import SOURCE_RULE, AccessPolicySpec


def _nodes(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), Mapping):
        yield from _nodes(node["items"], f"{path}[]")


def _root() -> Mapping[str, Any]:
    root: Mapping[str, Any] = accesspolicy_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def test_the_crd_is_generated_structural_and_documented() -> None:
    crd = accesspolicy_crd()
    assert crd["metadata"]["name"] == CRD_NAME == "accesspolicies.platform.caas.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["shortNames"] == ["ap"]
    assert yaml.safe_load(render_crds()[f"{CRD_NAME}.yaml"]) == crd
    forbidden = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title", "const"}
    for path, node in _nodes(_root()):
        assert not forbidden & set(node), path
        assert "type" in node, path
        # Preserved trees are the engine's to check; `additionalProperties` would not be structural.
        assert "additionalProperties" not in node, path
        if path and not path.startswith(".metadata") and not path.endswith("[]"):
            assert node.get("description"), f"AccessPolicy{path} has no description"
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Ready", "Reason", "Tenant", "Policies", "Version", "Message", "Age"]


def test_the_spec_is_required_and_names_at_least_one_policy() -> None:
    root = _root()
    assert root["required"] == ["spec"]
    spec = root["properties"]["spec"]
    assert "default" not in spec
    assert spec["x-kubernetes-validations"][0]["rule"] == SOURCE_RULE


def test_policies_have_unique_ids_a_known_effect_and_keep_unknown_fields() -> None:
    policies = _root()["properties"]["spec"]["properties"]["policies"]
    assert policies["x-kubernetes-list-type"] == "map"
    assert policies["x-kubernetes-list-map-keys"] == ["id"]
    item = policies["items"]
    assert item["required"] == ["id", "effect"]
    assert item["properties"]["effect"]["enum"] == ["permit", "forbid"]
    # Pruning a misspelt `conditions` would widen a permit: unknown fields reach the engine.
    assert item["x-kubernetes-preserve-unknown-fields"] is True
    for scope in ("principal", "action", "resource"):
        assert item["properties"][scope]["x-kubernetes-preserve-unknown-fields"] is True
    schema = _root()["properties"]["spec"]["properties"]["schema"]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True


def test_the_model_reads_what_the_crd_admits() -> None:
    spec = AccessPolicySpec.model_validate(
        {"policies": [{"id": "p", "effect": "permit", "extra": 1}], "schema": {"actions": {}}}
    )
    assert spec.policies is not None
    assert spec.policies[0].id == "p"
    assert spec.schema_ == {"actions": {}}
