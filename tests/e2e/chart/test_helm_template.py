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
OPERATOR_URI = "mongodb://caas-operator:op-pw@mongo:27017/?authSource=admin"
API_URI = "mongodb://caas-api:api-pw@mongo:27017/?authSource=admin"
BACKENDS = {
    "mongodb.operatorUri": OPERATOR_URI,
    "mongodb.apiUri": API_URI,
    # helm's --set splits on unescaped commas.
    "kafkaBootstrapServers": "kafka-0:9092\\,kafka-1:9092",
    "redisUrl": "redis://default:redis-pw@redis:6379/0",
    "secretKey": SECRET_KEY,
}


def _chart_secret(*, without: str = "") -> list[str]:
    """Values for a chart-created backends Secret, optionally leaving one of them out."""
    return values(*(f"backends.{k}={v}" for k, v in BACKENDS.items() if k != without))


CHART_SECRET = _chart_secret()


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
        # The shared URI of earlier releases is gone: each application has its own user.
        (
            ["--set", "backends.mongodbUri=mongodb://m/"],
            "at '/backends': additional properties 'mongodbUri' not allowed",
        ),
        (
            ["--set", "backends.mongodb.operatorURI=mongodb://m/"],
            "at '/backends/mongodb': additional properties 'operatorURI' not allowed",
        ),
        (
            ["--set", "backends.mongodb.apiUri=7"],
            "at '/backends/mongodb/apiUri': got number, want string",
        ),
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
        (
            "mongodb.operatorUri",
            "postgres://admin:hunter2-secret@db/",
            "backends.mongodb.operatorUri must start with mongodb://",
        ),
        (
            "mongodb.apiUri",
            "mysql://admin:hunter2-secret@db/",
            "backends.mongodb.apiUri must start with mongodb://",
        ),
        ("redisUrl", "http://admin:hunter2-secret@redis/", "must start with redis://"),
    ],
)
def test_bad_uris_refused_without_echoing_credentials(
    offline: Tools, key: str, uri: str, message: str
) -> None:
    stderr = _fails(offline, *CHART_SECRET, "--set", f"backends.{key}={uri}")
    assert message in stderr
    assert "hunter2" not in stderr


def _secret_refs(spec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """env var -> the Secret key it reads, of a pod's only container."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in spec["containers"][0]["env"]
        if "valueFrom" in e
    }


def test_chart_created_secret_feeds_both_apps_and_only_the_api_gets_the_key(
    offline: Tools,
) -> None:
    objects = offline.template(*CHART_SECRET)
    (secret,) = kinds(objects)["Secret"]
    assert secret["stringData"] == {
        "OPERATOR_MONGODB_URI": OPERATOR_URI,
        "API_MONGODB_URI": API_URI,
        "KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9092,kafka-1:9092",
        "REDIS_URL": "redis://default:redis-pw@redis:6379/0",
        "CAAS_SECRET_KEY": SECRET_KEY,
    }
    own_mongodb_key = {
        "r-caas-platform-operator": "OPERATOR_MONGODB_URI",
        "r-caas-platform-api": "API_MONGODB_URI",
        # The audit verifier is a control plane worker: the API's user.
        "r-caas-platform-audit-verifier": "API_MONGODB_URI",
        # So is the webhook dispatcher (its KEK opens REST endpoints' signing secrets).
        "r-caas-platform-dispatcher": "API_MONGODB_URI",
    }
    specs = _pod_specs(objects)
    assert set(specs) == set(own_mongodb_key)
    for name, spec in specs.items():
        refs = _secret_refs(spec)
        # Each application reads MONGODB_URI from its own key: its own least-privilege user,
        # and never the other's URI under any name.
        assert refs["MONGODB_URI"] == {
            "name": "r-caas-platform-backends",
            "key": own_mongodb_key[name],
        }
        keys = {ref["key"] for ref in refs.values()}
        assert keys.isdisjoint(set(own_mongodb_key.values()) - {own_mongodb_key[name]})
        for var in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"):
            assert refs[var] == {"name": "r-caas-platform-backends", "key": var}
        # Least privilege for data too: the operator never sees the control plane's secret.
        assert ("CAAS_SECRET_KEY" in refs) == (name != "r-caas-platform-operator")


@pytest.mark.parametrize(
    ("missing", "component"),
    [("operatorUri", "the operator"), ("apiUri", "the control plane")],
)
def test_each_application_needs_its_own_mongodb_uri(
    offline: Tools, missing: str, component: str
) -> None:
    stderr = _fails(offline, *_chart_secret(without=f"mongodb.{missing}"))
    assert f"backends.mongodb.{missing} is required: {component} connects" in stderr
    assert "API_MONGODB_URI" in stderr  # the existingSecret alternative names its keys
    assert "op-pw" not in stderr
    assert "api-pw" not in stderr


@pytest.mark.parametrize(
    "api_uri",
    [
        OPERATOR_URI,  # the very same connection string
        "mongodb://caas-operator:op-pw@mongo-other:27017/?authSource=admin",  # same user
        "mongodb+srv://caas-operator@cluster.example.net/",  # same user, no password given
    ],
)
def test_the_api_may_not_connect_as_the_operator(offline: Tools, api_uri: str) -> None:
    stderr = _fails(offline, *CHART_SECRET, "--set", f"backends.mongodb.apiUri={api_uri}")
    assert "backends.mongodb.apiUri must name a different MongoDB user" in stderr
    assert "op-pw" not in stderr


def test_a_disabled_application_needs_no_mongodb_uri(offline: Tools) -> None:
    objects = offline.template(
        *_chart_secret(without="mongodb.apiUri"), *values("api.enabled=false")
    )
    (secret,) = kinds(objects)["Secret"]
    assert "API_MONGODB_URI" not in secret["stringData"]
    assert secret["stringData"]["OPERATOR_MONGODB_URI"] == OPERATOR_URI
    objects = offline.template(
        *_chart_secret(without="mongodb.operatorUri"), *values("operator.enabled=false")
    )
    (secret,) = kinds(objects)["Secret"]
    assert "OPERATOR_MONGODB_URI" not in secret["stringData"]
    assert set(_pod_specs(objects)) == {
        "r-caas-platform-api",
        "r-caas-platform-audit-verifier",
        "r-caas-platform-dispatcher",
    }


def test_existing_secret_is_referenced_and_no_secret_rendered(offline: Tools) -> None:
    objects = offline.template(*EXISTING)
    assert "Secret" not in kinds(objects)
    specs = _pod_specs(objects)
    for spec in specs.values():
        assert {ref["name"] for ref in _secret_refs(spec).values()} == {"caas-backends"}
    assert _secret_refs(specs["r-caas-platform-operator"])["MONGODB_URI"]["key"] == (
        "OPERATOR_MONGODB_URI"
    )
    assert _secret_refs(specs["r-caas-platform-api"])["MONGODB_URI"]["key"] == "API_MONGODB_URI"


def test_workloads_are_hardened_with_probes_and_resources(offline: Tools) -> None:
    objects = offline.template(*EXISTING)
    specs = _pod_specs(objects)
    assert set(specs) == {
        "r-caas-platform-operator",
        "r-caas-platform-api",
        "r-caas-platform-audit-verifier",
        "r-caas-platform-dispatcher",
    }
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
    verifier = specs["r-caas-platform-audit-verifier"]
    (container,) = verifier["containers"]
    assert container["command"] == ["caas-audit-verifier"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CAAS_AUDIT_VERIFIER_HOST"] == "0.0.0.0"
    assert env["CAAS_AUDIT_CHECKPOINT_SECONDS"] == "60"
    # No Kubernetes access: the API's ServiceAccount, no token.
    assert verifier["serviceAccountName"] == api["serviceAccountName"]
    assert verifier["automountServiceAccountToken"] is False
    dispatcher = specs["r-caas-platform-dispatcher"]
    (container,) = dispatcher["containers"]
    assert container["command"] == ["caas-dispatcher"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9465, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CAAS_DISPATCHER_GROUP"] == "gateway-webhooks"
    assert env["CAAS_WEBHOOK_RETRY_SCHEDULE"] == "0,5,300,1800,7200,18000,36000,36000"
    assert env["CAAS_WEBHOOK_TIMEOUT_SECONDS"] == "15"
    # Never the development switches that would let it reach private networks.
    assert "CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS" not in env
    # Its own ServiceAccount and token: it reads Webhook resources' signing Secrets.
    assert dispatcher["serviceAccountName"] == "r-caas-platform-dispatcher"
    assert dispatcher["automountServiceAccountToken"] is True
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
    services = {s["metadata"]["name"]: s for s in grouped["Service"]}
    assert set(services) == {
        "r-caas-platform-api",
        "r-caas-platform-audit-verifier",
        "r-caas-platform-dispatcher",
    }
    service = services["r-caas-platform-api"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 3000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert services["r-caas-platform-audit-verifier"]["spec"]["ports"] == [
        {"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert services["r-caas-platform-dispatcher"]["spec"]["ports"] == [
        {"name": "metrics", "port": 9465, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pdbs = {p["metadata"]["name"]: p for p in grouped["PodDisruptionBudget"]}
    assert set(pdbs) == set(services)
    for name, pdb in pdbs.items():
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"] == services[name]["spec"]["selector"]
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
    verifier_both = _fails(
        offline,
        *EXISTING,
        *values(
            "auditVerifier.podDisruptionBudget.minAvailable=1",
            "auditVerifier.podDisruptionBudget.maxUnavailable=1",
        ),
    )
    assert "auditVerifier.podDisruptionBudget: set either" in verifier_both


def test_audit_verifier_is_switchable_and_part_of_the_control_plane(offline: Tools) -> None:
    def names(*args: str) -> set[str]:
        return {
            d["metadata"]["name"] for d in kinds(offline.template(*EXISTING, *args))["Deployment"]
        }

    assert "r-caas-platform-audit-verifier" in names()
    assert "r-caas-platform-audit-verifier" not in names(*values("auditVerifier.enabled=false"))
    # It runs with the API's identity and settings, so not without the API.
    assert names(*values("api.enabled=false")) == {"r-caas-platform-operator"}
    # The API's extra settings (its audit key's name, say) reach the verifier too, then its own.
    objects = offline.template(
        *EXISTING,
        "--set-json",
        'api.extraEnv=[{"name":"CAAS_AUDIT_KEY_NAME","value":"audit.example/k"}]',
        "--set-json",
        'auditVerifier.extraEnv=[{"name":"CAAS_LOG_LEVEL","value":"debug"}]',
    )
    (container,) = _pod_specs(objects)["r-caas-platform-audit-verifier"]["containers"]
    env = [(e["name"], e.get("value")) for e in container["env"]]
    assert ("CAAS_AUDIT_KEY_NAME", "audit.example/k") in env
    assert env[-1] == ("CAAS_LOG_LEVEL", "debug")
    enabled = values("auditVerifier.serviceMonitor.enabled=true")
    assert "auditVerifier.serviceMonitor.enabled needs" in _fails(offline, *EXISTING, *enabled)
    monitors = kinds(
        offline.template(
            *EXISTING, *enabled, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"
        )
    )["ServiceMonitor"]
    (monitor,) = monitors
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


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
    verifier = policies["r-caas-platform-audit-verifier"]
    assert verifier["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]
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
    subjects = sorted(s["name"] for b in bindings for s in b["subjects"])
    # The API is in neither: the dispatcher's own account has `get` on Secrets (tested below).
    assert subjects == ["r-caas-platform-dispatcher", "r-caas-platform-operator"]
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
    specs = _pod_specs(docs)
    for spec in specs.values():
        assert {ref["name"] for ref in _secret_refs(spec).values()} == {"caas-platform-backends"}
    mongodb_keys = {name: _secret_refs(spec)["MONGODB_URI"]["key"] for name, spec in specs.items()}
    assert mongodb_keys == {
        "caas-platform-operator": "OPERATOR_MONGODB_URI",
        "caas-platform-api": "API_MONGODB_URI",
        "caas-platform-audit-verifier": "API_MONGODB_URI",
        "caas-platform-dispatcher": "API_MONGODB_URI",
    }
    assert all(d["metadata"].get("namespace", "caas-system") == "caas-system" for d in docs)


def test_dispatcher_is_switchable_reads_only_secrets_and_egresses_to_public_addresses(
    offline: Tools,
) -> None:
    def objects(*args: str) -> dict[str, list[dict[str, Any]]]:
        return kinds(offline.template(*EXISTING, *args))

    names = {d["metadata"]["name"] for d in objects()["Deployment"]}
    assert "r-caas-platform-dispatcher" in names
    off = objects(*values("dispatcher.enabled=false"))
    assert "r-caas-platform-dispatcher" not in {d["metadata"]["name"] for d in off["Deployment"]}
    # Its RBAC: `get` on Secrets, nothing else, bound to its own ServiceAccount only.
    grouped = objects()
    (role,) = [r for r in grouped["ClusterRole"] if r["metadata"]["name"].endswith("-dispatcher")]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    (binding,) = [
        b for b in grouped["ClusterRoleBinding"] if b["metadata"]["name"].endswith("-dispatcher")
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "r-caas-platform-dispatcher", "namespace": "ns"}
    ]
    # Without it: the API's identity, no token, no role.
    plain = objects(*values("dispatcher.readOperatorSecrets=false"))
    spec = _pod_specs([o for group in plain.values() for o in group])["r-caas-platform-dispatcher"]
    assert spec["automountServiceAccountToken"] is False
    assert not [r for r in plain["ClusterRole"] if r["metadata"]["name"].endswith("-dispatcher")]
    assert "dispatcher.podDisruptionBudget: set either" in _fails(
        offline, *EXISTING, *values(
            "dispatcher.podDisruptionBudget.minAvailable=1",
            "dispatcher.podDisruptionBudget.maxUnavailable=1",
        ),
    )  # fmt: skip
    # With egress rules, the dispatcher may also reach public addresses, never private ones.
    policies = objects(
        *values(
            "networkPolicy.enabled=true", "networkPolicy.egress[0].to[0].ipBlock.cidr=10.9.0.0/16"
        )
    )["NetworkPolicy"]
    (policy,) = [p for p in policies if p["metadata"]["name"].endswith("-dispatcher")]
    blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule.get("to", [])]
    assert {"cidr": "0.0.0.0/0", "except": [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8",
        "100.64.0.0/10",
    ]} in blocks  # fmt: skip
