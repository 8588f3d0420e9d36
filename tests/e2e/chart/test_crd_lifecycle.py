"""The chart's CRDs for real: installed, upgraded, kept on uninstall, taken over from kubectl.

These run on a private etcd + kube-apiserver (the stack's pinned build, RBAC on): the shared
apiserver's CRDs are in use by every other test and must never change owner or schema under them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.e2e.chart.conftest import CHART, CRDS, Tools, values

RELEASE, NAMESPACE = "caas", "caas-system"
BASE = [
    "--namespace",
    NAMESPACE,
    "--create-namespace",
    *values("backends.existingSecret=caas-backends"),
]
TENANT_CRD = "tenants.platform.caas.io"


def _crd_names() -> list[str]:
    return sorted(yaml.safe_load(p.read_text())["metadata"]["name"] for p in CRDS.glob("*.yaml"))


def _sample_tenant() -> str:
    return json.dumps(
        {
            "apiVersion": "platform.caas.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "kept"},
            "spec": {"displayName": "Kept across uninstall"},
        }
    )


def test_install_upgrade_uninstall_keeps_crds_and_their_resources(
    private_apiserver: Tools, tmp_path: Path
) -> None:
    tools = private_apiserver
    # Install an "older release" whose Tenant CRD lacks the shortName, then upgrade to this one.
    older = tmp_path / "caas-platform"
    shutil.copytree(CHART, older)
    template = older / "templates" / "crds" / f"{TENANT_CRD}.yaml"
    text = template.read_text()
    assert "    shortNames:\n    - tn\n" in text
    template.write_text(text.replace("    shortNames:\n    - tn\n", ""))
    tools.ok(tools.helm("install", RELEASE, str(older), *BASE))
    for name in _crd_names():
        crd = tools.get_json("crd", name)
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert "shortNames" not in tools.get_json("crd", TENANT_CRD)["spec"]["names"]
    tools.ok(
        tools.kubectl("wait", f"crd/{TENANT_CRD}", "--for=condition=Established", "--timeout=60s")
    )
    tools.ok(tools.kubectl("create", "-f", "-", stdin=_sample_tenant()))

    # Upgrades update the CRDs (a chart's crds/ directory is installed once and never again).
    upgrade = ["upgrade", RELEASE, str(CHART), *BASE, *values("commonLabels.upgraded=yes")]
    tools.ok(tools.helm(*upgrade))
    crd = tools.get_json("crd", TENANT_CRD)
    assert crd["spec"]["names"]["shortNames"] == ["tn"]
    assert crd["metadata"]["labels"]["upgraded"] == "yes"
    # The served schema is the generated one: the apiserver enforces its validation.
    sources = {yaml.safe_load(p.read_text())["metadata"]["name"]: p for p in CRDS.glob("*.yaml")}
    generated = yaml.safe_load(sources[TENANT_CRD].read_text())["spec"]["versions"]
    assert crd["spec"]["versions"][0]["schema"] == generated[0]["schema"]
    invalid = json.loads(_sample_tenant())
    invalid["metadata"]["name"] = "x" * 41  # the CEL rule on metadata.name: at most 40
    rejected = tools.kubectl("create", "-f", "-", stdin=json.dumps(invalid))
    assert rejected.returncode != 0
    assert "Invalid" in rejected.stderr

    tools.ok(tools.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"))
    assert not tools.exists("deployments", "-n", NAMESPACE)
    assert not tools.exists("clusterrole", f"{RELEASE}-caas-platform-operator")
    # Kept: the CRDs and, with them, every tenant (deleting a CRD deletes all its resources).
    for name in _crd_names():
        assert tools.exists("crd", name)
    assert tools.exists("tenant", "kept")


def test_crds_keep_false_removes_them_on_uninstall(private_apiserver: Tools) -> None:
    tools = private_apiserver
    tools.ok(tools.helm("install", RELEASE, str(CHART), *BASE, *values("crds.keep=false")))
    assert tools.exists("crd", TENANT_CRD)
    tools.ok(tools.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"))
    assert not tools.exists("crd", TENANT_CRD)


def test_taking_over_crds_applied_by_caasctl(private_apiserver: Tools) -> None:
    """`caasctl up` applies crds/ with `kubectl apply --server-side`; Helm refuses to adopt them
    silently, adopts them with --take-ownership, and `caasctl up` can still re-apply after."""
    tools = private_apiserver
    caasctl_apply = ("apply", "--server-side", "-f", str(CRDS))
    tools.ok(tools.kubectl(*caasctl_apply))

    refused = tools.helm("install", RELEASE, str(CHART), *BASE)
    assert refused.returncode != 0
    # Helm names the first CRD it would have to adopt.
    assert any(f'CustomResourceDefinition "{name}"' in refused.stderr for name in _crd_names())
    assert "exists and cannot be imported into the current release" in refused.stderr

    # The documented ways forward: leave the CRDs to kubectl ...
    tools.ok(tools.helm("install", RELEASE, str(CHART), *BASE, *values("crds.enabled=false")))
    assert "meta.helm.sh/release-name" not in (
        tools.get_json("crd", TENANT_CRD)["metadata"].get("annotations") or {}
    )
    # ... or hand them to Helm.
    tools.ok(tools.helm("upgrade", RELEASE, str(CHART), *BASE, "--take-ownership"))
    crd = tools.get_json("crd", TENANT_CRD)
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Same schema from both writers, so the shared field ownership conflicts with nothing.
    tools.ok(tools.kubectl(*caasctl_apply))
    tools.ok(tools.helm("upgrade", RELEASE, str(CHART), *BASE))


@pytest.fixture
def install_yaml() -> Path:
    return CHART.parents[1] / "manifests" / "install.yaml"


def test_install_yaml_applies_with_kubectl(private_apiserver: Tools, install_yaml: Path) -> None:
    """The single-file install is accepted as a whole by a real apiserver (server-side apply)."""
    tools = private_apiserver
    tools.ok(tools.kubectl("apply", "--server-side", "-f", str(install_yaml)))
    for name in _crd_names():
        assert tools.exists("crd", name)
    for kind in ("deployment/caas-platform-operator", "deployment/caas-platform-api"):
        assert tools.exists(kind, "-n", NAMESPACE)
    assert tools.exists("clusterrolebinding", "caas-platform-operator")
