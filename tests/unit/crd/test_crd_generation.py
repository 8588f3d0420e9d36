"""The Tenant CRD is generated, structural, documented, and checked for staleness."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from caas_core.crd import check_crds, render_crds, write_crds
from caas_core.crd.__main__ import main
from caas_core.crd.schema import SchemaError, structural_schema
from caas_core.crd.tenant import tenant_crd
from caas_core.resources import TenantSpec
from caas_core.resources.tenant import (
    BURST_RULE,
    IMMUTABLE_NAME_RULE,
    PARTITIONS_RULE,
    RESERVED_INDEX_RULE,
    RETENTION_RULE,
    SHRED_RULE,
    UNIQUE_COLLECTION_RULE,
    UNIQUE_SUFFIX_RULE,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
FILE = "tenants.platform.caas.io.yaml"


def _version() -> Mapping[str, Any]:
    versions: list[Mapping[str, Any]] = tenant_crd()["spec"]["versions"]
    return versions[0]


def _schema() -> Mapping[str, Any]:
    schema: Mapping[str, Any] = _version()["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), Mapping):
        yield from _nodes(node["items"], f"{path}[]")


def test_rendered_files_and_names() -> None:
    assert FILE in render_crds()  # the namespaced kinds have their own tests
    crd = yaml.safe_load(render_crds()[FILE])
    assert crd["metadata"]["name"] == "tenants.platform.caas.io"
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"] == {
        "kind": "Tenant",
        "listKind": "TenantList",
        "plural": "tenants",
        "singular": "tenant",
        "shortNames": ["tn"],
        "categories": ["caas"],
    }
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1alpha1"]


def test_schema_is_structural() -> None:
    forbidden = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title", "const"}
    for path, node in _nodes(_schema()):
        assert not forbidden & set(node), f"{path or '<root>'} has {forbidden & set(node)}"
        assert "type" in node, f"{path or '<root>'} has no type"
        assert node.get("additionalProperties") is not False, path
        if "exclusiveMinimum" in node:
            assert isinstance(node["exclusiveMinimum"], bool), path


def test_every_property_has_a_description() -> None:
    undocumented = [
        path
        for path, node in _nodes(_schema())
        if path
        and not path.startswith(".metadata")
        and not node.get("description")
        and not path.endswith("[]")
    ]
    assert undocumented == []


def test_defaults_enums_and_status() -> None:
    spec = _schema()["properties"]["spec"]
    assert spec["default"] == {}
    assert spec["properties"]["deletionPolicy"]["enum"] == ["Retain", "Delete", "Shred"]
    assert spec["properties"]["deletionPolicy"]["default"] == "Retain"
    topics = spec["properties"]["kafka"]["properties"]["topics"]
    assert topics["default"][0]["suffix"] == "events"
    assert "null" not in str(topics["default"])
    assert "displayName" not in spec.get("required", [])
    status = _schema()["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert all("default" not in node for _, node in _nodes(status))
    assert _version()["subresources"] == {"status": {}}


def test_cel_rules_are_present() -> None:
    rules = [
        rule["rule"]
        for _, node in _nodes(_schema())
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert UNIQUE_SUFFIX_RULE in rules
    assert RETENTION_RULE in rules
    assert PARTITIONS_RULE in rules
    assert any("self.size() <= 40" in rule for rule in rules)
    assert SHRED_RULE in rules
    assert BURST_RULE in rules
    assert RESERVED_INDEX_RULE in rules
    assert UNIQUE_COLLECTION_RULE in rules


def test_name_derived_status_fields_are_immutable() -> None:
    status = _schema()["properties"]["status"]["properties"]
    for field in ("namespace", "database", "redisUser", "kafkaUser"):
        rules = [r["rule"] for r in status[field]["x-kubernetes-validations"]]
        assert rules == [IMMUTABLE_NAME_RULE], field


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in _version()["additionalPrinterColumns"]}
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Synced"]["jsonPath"] == '.status.conditions[?(@.type=="Synced")].status'
    assert columns["Plan"]["jsonPath"] == ".spec.plan.tier"
    assert columns["Age"]["type"] == "date"


def test_rendering_is_deterministic() -> None:
    assert render_crds() == render_crds()


def test_committed_crds_are_up_to_date() -> None:
    assert check_crds(REPO / "crds") == []


def test_check_detects_missing_and_stale_files(tmp_path: Path) -> None:
    assert check_crds(tmp_path) == [f"{tmp_path / name} is missing" for name in render_crds()]
    assert write_crds(tmp_path) == [tmp_path / name for name in render_crds()]
    assert check_crds(tmp_path) == []
    assert write_crds(tmp_path) == []
    (tmp_path / FILE).write_text((tmp_path / FILE).read_text() + "# edited\n")
    assert check_crds(tmp_path) == [f"{tmp_path / FILE} is stale"]


def test_cli_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--output-dir", str(tmp_path)]) == 1
    assert "missing" in capsys.readouterr().err
    assert main(["--output-dir", str(tmp_path)]) == 0
    assert main(["--check", "--output-dir", str(tmp_path)]) == 0
    (tmp_path / FILE).write_text("stale")
    assert main(["--check", "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stale" in err
    assert "python -m caas_core.crd" in err


def test_unions_other_than_optional_are_refused() -> None:
    class Bad(BaseModel):
        value: int | str = Field(description="either")

    with pytest.raises(SchemaError, match="unions"):
        structural_schema(Bad)


def test_spec_schema_comes_from_the_model() -> None:
    assert _schema()["properties"]["spec"]["properties"].keys() == (
        structural_schema(TenantSpec)["properties"].keys()
    )
