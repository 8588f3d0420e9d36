"""The chart renders what it promises and refuses bad values with readable messages (no cluster)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from caasctl.stack.config import REPO_ROOT
from tests.e2e.chart.conftest import CHART, CRDS, SECRET_KEY, Tools, kinds, values

EXISTING = values("backends.existingSecret=caas-backends")
CHART_SECRET = values(
    "backends.mongodbUri=mongodb://user:mongo-pw@mongo:27017/",
    # helm's --set splits on unescaped commas.
    "backends.kafkaBootstrapServers=kafka-0:9092\\,kafka-1:9092",
    "backends.redisUrl=redis://default:redis-pw@redis:6379/0",
    f"backends.secretKey={SECRET_KEY}",
)


def _fails(tools: Tools, *args: str) -> str:
    """stderr of a `helm template` that must fail (and must render nothing)."""
    result = tools.helm("template", "r", str(CHART), *args)
    assert result.returncode != 0, f"rendered although it should not:\n{result.stdout[:2000]}"
    assert result.stdout == ""
    return result.stderr


def _pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in kinds(objects)["Deployment"]
    }


@pytest.mark.parametrize("values_file", sorted((CHART / "ci").glob("*-values.yaml")), ids=str)
def test_helm_lint_strict_passes(offline: Tools, values_file: Path) -> None:
    out = offline.ok(offline.helm("lint", "--strict", str(CHART), "-f", str(values_file)))
    assert "1 chart(s) linted, 0 chart(s) failed" in out


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["--set", "api.replicaCount=two"], "at '/api/replicaCount': got string, want integer"),
        (["--set", "api.replicas=3"], "at '/api': additional properties 'replicas' not allowed"),
        (["--set", "logging.level=verbose"], "at '/logging/level': value must be one of"),
        (["--set", "image.pullPolicy=Sometimes"], "at '/image/pullPolicy': value must be one of"),
        (["--set", "crds.enabled=yes-please"], "at '/crds/enabled': got string, want boolean"),
        (["--set", "api.serviceMonitor.interval=soon"], "at '/api/serviceMonitor/interval'"),
        (["--set", "operator.kafkaReplicationFactor=0"], "at '/operator/kafkaReplicationFactor'"),
        (["--set", "tenantz.enabled=true"], "additional properties 'tenantz' not allowed"),
    ],
    ids=lambda v: v[1] if isinstance(v, list) else None,
)
def test_bad_values_fail_with_the_schema_message(
    offline: Tools, bad: list[str], message: str
) -> None:
    stderr = _fails(offline, *EXISTING, *bad)
    assert "values don't meet the specifications of the schema" in stderr
    assert message in stderr


def test_secure_by_default_no_secret_key_no_render(offline: Tools) -> None:
    stderr = _fails(offline)
    assert "backends.secretKey is required" in stderr
    assert "backends.existingSecret" in stderr  # the message names the alternative


def test_short_secret_key_refused_outside_development(offline: Tools) -> None:
    args = [*CHART_SECRET, "--set", "backends.secretKey=too-short"]
    assert "at least 32 characters" in _fails(offline, *args)
    dev = offline.template(*args, "--set", "api.environment=development")
    assert kinds(dev)["Secret"][0]["stringData"]["CAAS_SECRET_KEY"] == "too-short"


@pytest.mark.parametrize(
    ("key", "uri", "message"),
    [
        ("mongodbUri", "postgres://admin:hunter2-secret@db/", "must start with mongodb://"),
        ("redisUrl", "http://admin:hunter2-secret@redis/", "must start with redis://"),
    ],
)
def test_bad_uris_refused_without_echoing_credentials(
    offline: Tools, key: str, uri: str, message: str
) -> None:
    stderr = _fails(offline, *CHART_SECRET, "--set", f"backends.{key}={uri}")
    assert message in stderr
    assert "hunter2" not in stderr


def test_chart_created_secret_feeds_both_apps_and_only_the_api_gets_the_key(
    offline: Tools,
) -> None:
    objects = offline.template(*CHART_SECRET)
    (secret,) = kinds(objects)["Secret"]
    assert set(secret["stringData"]) == {
        "MONGODB_URI",
        "KAFKA_BOOTSTRAP_SERVERS",
        "REDIS_URL",
        "CAAS_SECRET_KEY",
    }
    for name, spec in _pod_specs(objects).items():
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        for var in ("MONGODB_URI", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"):
            assert env[var]["valueFrom"]["secretKeyRef"] == {
                "name": "r-caas-platform-backends",
                "key": var,
            }
        # Least privilege for data too: the operator never sees the control plane's secret.
        assert ("CAAS_SECRET_KEY" in env) == name.endswith("-api")


def test_existing_secret_is_referenced_and_no_secret_rendered(offline: Tools) -> None:
    objects = offline.template(*EXISTING)
    assert "Secret" not in kinds(objects)
    for spec in _pod_specs(objects).values():
        refs = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in spec["containers"][0]["env"]
            if "valueFrom" in e
        }
        assert refs == {"caas-backends"}


def test_workloads_are_hardened_with_probes_and_resources(offline: Tools) -> None:
    objects = offline.template(*EXISTING)
    specs = _pod_specs(objects)
    assert set(specs) == {"r-caas-platform-operator", "r-caas-platform-api"}
    for spec in specs.values():
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = spec["containers"]
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        assert container["livenessProbe"]["httpGet"]
    api = specs["r-caas-platform-api"]
    assert api["containers"][0]["command"] == ["caas-api"]
    assert api["containers"][0]["ports"] == [
        {"name": "http", "containerPort": 3000, "protocol": "TCP"}
    ]
    assert api["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/internal/ready"
    assert api["automountServiceAccountToken"] is False
    operator = specs["r-caas-platform-operator"]
    assert operator["containers"][0]["command"] == ["caas-operator"]
    (op_deploy,) = [
        d for d in kinds(objects)["Deployment"] if d["metadata"]["name"].endswith("-operator")
    ]
    # kopf runs standalone: never two operators at once, not even during a rollout.
    assert op_deploy["spec"]["replicas"] == 1
    assert op_deploy["spec"]["strategy"] == {"type": "Recreate"}


def test_api_service_and_disruption_budget(offline: Tools) -> None:
    grouped = kinds(offline.template(*EXISTING))
    (service,) = grouped["Service"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 3000, "targetPort": "http", "protocol": "TCP"}
    ]
    (pdb,) = grouped["PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    # Opt-in objects.
    assert "ServiceMonitor" not in grouped
    assert "NetworkPolicy" not in grouped
    both = _fails(
        offline,
        *EXISTING,
        *values(
            "api.podDisruptionBudget.minAvailable=1", "api.podDisruptionBudget.maxUnavailable=1"
        ),
    )
    assert "either minAvailable or maxUnavailable" in both


def test_service_monitor_needs_and_uses_the_prometheus_operator_api(offline: Tools) -> None:
    enabled = values("api.serviceMonitor.enabled=true", "api.serviceMonitor.labels.release=prom")
    assert "needs the Prometheus Operator CRDs" in _fails(offline, *EXISTING, *enabled)
    objects = offline.template(
        *EXISTING, *enabled, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"
    )
    (monitor,) = kinds(objects)["ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/internal/metrics"


def test_network_policies_admit_only_the_api_port(offline: Tools) -> None:
    objects = offline.template(*EXISTING, *values("networkPolicy.enabled=true"))
    policies = {p["metadata"]["name"]: p["spec"] for p in kinds(objects)["NetworkPolicy"]}
    api = policies["r-caas-platform-api"]
    assert api["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert policies["r-caas-platform-operator"]["ingress"] == []
    assert all(spec["policyTypes"] == ["Ingress"] for spec in policies.values())
    restricted = offline.template(
        *EXISTING,
        *values("networkPolicy.enabled=true"),
        "--set-json",
        'networkPolicy.egress=[{"to":[{"ipBlock":{"cidr":"10.20.0.0/16"}}]}]',
    )
    for spec in (p["spec"] for p in kinds(restricted)["NetworkPolicy"]):
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        assert spec["egress"][0]["ports"][0]["port"] == 53  # DNS stays possible
        assert spec["egress"][1] == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}


def test_api_service_account_has_no_rbac_and_no_token(offline: Tools) -> None:
    objects = offline.template(*EXISTING)
    accounts = {a["metadata"]["name"]: a for a in kinds(objects)["ServiceAccount"]}
    assert accounts["r-caas-platform-api"]["automountServiceAccountToken"] is False
    bindings = kinds(objects)["ClusterRoleBinding"]
    subjects = [s["name"] for b in bindings for s in b["subjects"]]
    assert subjects == ["r-caas-platform-operator"]
    assert "Role" not in kinds(objects)
    assert "RoleBinding" not in kinds(objects)


# --- CRDs: templated from crds/, kept on uninstall, switchable ------------------------------


def _crd_sources() -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc
        for path in sorted(CRDS.glob("*.yaml"))
        for doc in [yaml.safe_load(path.read_text())]
    }


def test_crd_templates_render_exactly_the_generated_crds(offline: Tools) -> None:
    rendered = {
        c["metadata"]["name"]: c
        for c in kinds(offline.template(*EXISTING))["CustomResourceDefinition"]
    }
    sources = _crd_sources()
    assert set(rendered) == set(sources)
    for name, crd in rendered.items():
        assert crd["spec"] == sources[name]["spec"], f"{name} differs from crds/"
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        # Labels the generator sets survive the templating.
        for key, value in (sources[name]["metadata"].get("labels") or {}).items():
            assert crd["metadata"]["labels"][key] == value


def test_crds_keep_and_enabled_switches(offline: Tools) -> None:
    unkept = kinds(offline.template(*EXISTING, *values("crds.keep=false")))
    for crd in unkept["CustomResourceDefinition"]:
        assert "annotations" not in crd["metadata"]
    disabled = kinds(offline.template(*EXISTING, *values("crds.enabled=false")))
    assert "CustomResourceDefinition" not in disabled
    assert "Deployment" in disabled


# --- generated files: chart CRD templates and manifests/install.yaml ------------------------


def _generator(repo: Path, offline: Tools, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(repo / "hack" / "chart_crds.py"),
            "--helm",
            str(offline.helm_bin),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=offline.env(),
    )


def test_generated_chart_files_are_current(offline: Tools) -> None:
    result = _generator(REPO_ROOT, offline, "--check")
    assert result.returncode == 0, result.stderr


def test_stale_check_names_each_stale_file(offline: Tools, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for part in ("crds", "charts", "manifests", "hack/chart_crds.py"):
        source, target = REPO_ROOT / part, repo / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    # Start from a fresh generation (the working tree may be mid-change), then edit one CRD.
    assert _generator(repo, offline).returncode == 0
    assert _generator(repo, offline, "--check").returncode == 0
    crd = repo / "crds" / "tenants.platform.caas.io.yaml"
    crd.write_text(
        crd.read_text().replace("categories:\n    - caas", "categories:\n    - caas\n    - all")
    )
    stale = _generator(repo, offline, "--check")
    assert stale.returncode == 1
    assert f"charts/caas-platform/templates/crds/{crd.name} is stale" in stale.stderr
    # install.yaml embeds the CRDs, so it is stale too.
    assert "manifests/install.yaml is stale" in stale.stderr
    assert "run `make chart` and commit" in stale.stderr
    assert _generator(repo, offline).returncode == 0
    assert _generator(repo, offline, "--check").returncode == 0
    assert "- all" in (repo / "manifests/install.yaml").read_text()


def test_install_yaml_is_the_default_chart_with_a_secret_reference(offline: Tools) -> None:
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / "manifests/install.yaml").read_text()) if d]
    grouped = kinds(docs)
    (namespace,) = grouped["Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "Secret" not in grouped  # credentials never live in the repository
    assert set(_crd_sources()) == {
        c["metadata"]["name"] for c in grouped["CustomResourceDefinition"]
    }
    for spec in _pod_specs(docs).values():
        refs = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in spec["containers"][0]["env"]
            if "valueFrom" in e
        }
        assert refs == {"caas-platform-backends"}
    assert all(d["metadata"].get("namespace", "caas-system") == "caas-system" for d in docs)
