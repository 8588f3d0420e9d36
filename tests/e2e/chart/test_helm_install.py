"""`helm install` into the local stack's real apiserver: objects, admission, RBAC, uninstall.

Pods never run here (no kubelet or scheduler), but the apiserver, the controller manager's
Deployment and ReplicaSet controllers, Pod Security admission and RBAC are all real. The shared
apiserver already holds the platform CRDs (applied by `caasctl up` and relied on by other tests),
so these releases leave them alone with `crds.enabled=false`; test_crd_lifecycle.py takes CRDs
over, upgrades and uninstalls them on a private apiserver instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.chart.conftest import CHART, SECRET_KEY, Tools, unique, values, wait_until


@dataclass(frozen=True)
class Release:
    """An installed release: its name, namespace and the install command's output."""

    name: str
    namespace: str
    install_stderr: str

    @property
    def operator_user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}-caas-platform-operator"

    @property
    def api_user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}-caas-platform-api"


def _install(tools: Tools, *extra: str) -> Release:
    """A unique namespace enforcing the restricted Pod Security Standard, the backends Secret the
    user creates, and the chart installed next to the CRDs already on the cluster."""
    name, namespace = unique("chart"), unique("chart-e2e")
    tools.ok(tools.kubectl("create", "namespace", namespace))
    tools.ok(
        tools.kubectl(
            "label",
            "namespace",
            namespace,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        )
    )
    tools.ok(
        tools.kubectl(
            "-n",
            namespace,
            "create",
            "secret",
            "generic",
            "caas-backends",
            "--from-literal=OPERATOR_MONGODB_URI=mongodb://caas-operator:op@mongodb:27017/",
            "--from-literal=API_MONGODB_URI=mongodb://caas-api:api@mongodb:27017/",
            "--from-literal=KAFKA_BOOTSTRAP_SERVERS=kafka:9092",
            "--from-literal=REDIS_URL=redis://redis:6379/0",
            f"--from-literal=CAAS_SECRET_KEY={SECRET_KEY}",
        )
    )
    result = tools.helm(
        "install",
        name,
        str(CHART),
        "--namespace",
        namespace,
        *values("crds.enabled=false", "backends.existingSecret=caas-backends"),
        *extra,
    )
    tools.ok(result)
    return Release(name, namespace, result.stderr)


def _cleanup(tools: Tools, release: Release) -> None:
    tools.helm("uninstall", release.name, "--namespace", release.namespace, "--ignore-not-found")
    tools.kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false")


@pytest.fixture(scope="module")
def release(tools: Tools) -> Iterator[Release]:
    installed = _install(tools)
    yield installed
    _cleanup(tools, installed)


def _can_i(tools: Tools, user: str, *query: str) -> bool:
    """`kubectl auth can-i <query> --as=<user>`: exit 0 is yes, 1 is no, anything else an error."""
    result = tools.kubectl("auth", "can-i", *query, f"--as={user}")
    assert result.returncode in {0, 1}, result.stderr
    return result.returncode == 0


def _access_review(
    tools: Tools,
    user: str,
    *,
    verb: str,
    resource: str,
    group: str = "",
    subresource: str = "",
    namespace: str = "",
) -> bool:
    """A SubjectAccessReview, for resources the apiserver does not serve yet (kubectl can-i
    resolves resource names through discovery; RBAC itself does not need them served)."""
    namespace_of_account = user.split(":")[2]
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            # The groups the apiserver gives every ServiceAccount token.
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace_of_account}",
                "system:authenticated",
            ],
            "resourceAttributes": {
                "verb": verb,
                "group": group,
                "resource": resource,
                "subresource": subresource,
                "namespace": namespace,
            },
        },
    }
    out = tools.ok(tools.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(review)))
    allowed: bool = json.loads(out)["status"].get("allowed", False)
    return allowed


def test_install_creates_every_object(tools: Tools, release: Release) -> None:
    ns, prefix = release.namespace, f"{release.name}-caas-platform"
    for kind, name in [
        ("deployment", f"{prefix}-operator"),
        ("deployment", f"{prefix}-api"),
        ("service", f"{prefix}-api"),
        ("poddisruptionbudget", f"{prefix}-api"),
        ("deployment", f"{prefix}-audit-verifier"),
        ("service", f"{prefix}-audit-verifier"),
        ("poddisruptionbudget", f"{prefix}-audit-verifier"),
        ("deployment", f"{prefix}-dispatcher"),
        ("service", f"{prefix}-dispatcher"),
        ("poddisruptionbudget", f"{prefix}-dispatcher"),
        ("serviceaccount", f"{prefix}-dispatcher"),
        ("serviceaccount", f"{prefix}-operator"),
        ("serviceaccount", f"{prefix}-api"),
    ]:
        assert tools.exists(kind, name, "-n", ns), f"{kind}/{name} missing in {ns}"
    for kind in ("clusterrole", "clusterrolebinding"):
        assert tools.exists(kind, f"{prefix}-operator"), f"{kind}/{prefix}-operator missing"
    binding = tools.get_json("clusterrolebinding", f"{prefix}-operator")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{prefix}-operator", "namespace": ns}
    ]
    service = tools.get_json("service", f"{prefix}-api", "-n", ns)
    assert service["spec"]["ports"][0]["port"] == 3000
    # Nothing the API could use against the cluster: no Role or RoleBinding in its namespace.
    assert not tools.ok(tools.kubectl("get", "roles,rolebindings", "-n", ns, "-o", "name"))
    status = json.loads(tools.ok(tools.helm("status", release.name, "-n", ns, "-o", "json")))
    assert status["info"]["status"] == "deployed"


def test_pods_pass_restricted_pod_security_admission(tools: Tools, release: Release) -> None:
    ns = release.namespace
    # The negative control: this namespace really enforces the restricted standard.
    rejected = tools.kubectl("run", "unhardened", "--image=busybox", "-n", ns)
    assert rejected.returncode != 0
    assert 'violates PodSecurity "restricted' in rejected.stderr
    assert "would violate PodSecurity" not in release.install_stderr

    def pods() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = tools.get_json("pods", "-n", ns)["items"]
        return items if len(items) == 6 else None

    # The ReplicaSet controller created every pod, so admission let each of them in.
    created = wait_until(
        pods, what=f"the chart's 6 pods in {ns} (1 operator, 2 API, 1 audit verifier, 2 dispatcher)"
    )
    by_component: dict[str, list[dict[str, Any]]] = {}
    for pod in created:
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        by_component.setdefault(component, []).append(pod)
    assert {k: len(v) for k, v in by_component.items()} == {
        "operator": 1,
        "api": 2,
        "audit-verifier": 1,
        "dispatcher": 2,
    }

    def token_volumes(pod: dict[str, Any]) -> list[str]:
        return [
            v["name"]
            for v in pod["spec"].get("volumes", [])
            if any("serviceAccountToken" in s for s in v.get("projected", {}).get("sources", []))
        ]

    # Only the operator and the dispatcher (Secrets' `get`) get an API token; the rest of the
    # control plane's pods cannot authenticate at all.
    assert token_volumes(by_component["operator"][0])
    assert all(token_volumes(pod) for pod in by_component["dispatcher"])
    assert all(not token_volumes(pod) for pod in by_component["api"])
    assert all(not token_volumes(pod) for pod in by_component["audit-verifier"])


# What the operator must be able to do (kopf, reconcile, deletion) ...
OPERATOR_ALLOWED = [
    ("create", "namespaces"),
    ("get", "namespaces"),
    ("list", "namespaces"),
    ("watch", "namespaces"),
    ("patch", "namespaces"),
    ("delete", "namespaces"),
    ("get", "tenants.platform.caas.io"),
    ("list", "tenants.platform.caas.io"),
    ("watch", "tenants.platform.caas.io"),
    ("patch", "tenants.platform.caas.io"),
    ("patch", "tenants.platform.caas.io", "--subresource=status"),
    ("update", "tenants.platform.caas.io", "--subresource=status"),
    ("update", "tenants.platform.caas.io", "--subresource=finalizers"),
    ("create", "secrets", "-n", "tenant-acme"),
    ("get", "secrets", "-n", "tenant-acme"),
    ("patch", "secrets", "-n", "tenant-acme"),
    ("delete", "secrets", "-n", "tenant-acme"),
    ("create", "events", "-n", "default"),
    ("create", "events", "-n", "tenant-acme"),
    ("get", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]
# ... and what it must not: least privilege means none of this, even though it is cluster-wide.
OPERATOR_FORBIDDEN = [
    ("create", "tenants.platform.caas.io"),  # people create tenants
    ("delete", "tenants.platform.caas.io"),  # and delete them
    ("deletecollection", "tenants.platform.caas.io"),
    ("update", "namespaces"),  # server-side apply patches; a blind update is never needed
    ("deletecollection", "secrets", "-n", "tenant-acme"),
    ("get", "nodes"),
    ("delete", "nodes"),
    ("create", "pods", "-n", "tenant-acme"),
    ("create", "pods", "--subresource=exec", "-n", "tenant-acme"),
    ("get", "configmaps", "-n", "kube-system"),
    ("create", "serviceaccounts", "--subresource=token", "-n", "kube-system"),
    ("create", "deployments.apps", "-n", "tenant-acme"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io", "-n", "tenant-acme"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "users"),
    ("impersonate", "serviceaccounts", "-n", "kube-system"),
    ("delete", "events", "-n", "default"),
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io"),
]


@pytest.mark.parametrize("query", OPERATOR_ALLOWED, ids=" ".join)
def test_operator_can(tools: Tools, release: Release, query: tuple[str, ...]) -> None:
    assert _can_i(tools, release.operator_user, *query), f"operator cannot {' '.join(query)}"


@pytest.mark.parametrize("query", OPERATOR_FORBIDDEN, ids=" ".join)
def test_operator_cannot(tools: Tools, release: Release, query: tuple[str, ...]) -> None:
    assert not _can_i(tools, release.operator_user, *query), f"operator may {' '.join(query)}"


@pytest.mark.parametrize("kind", ["apikeys", "webhooks", "retentionpolicies", "accesspolicies"])
def test_operator_can_reconcile_the_namespaced_kinds(
    tools: Tools, release: Release, kind: str
) -> None:
    user, group = release.operator_user, "platform.caas.io"
    for verb, sub in [("watch", ""), ("patch", ""), ("patch", "status"), ("update", "finalizers")]:
        assert _access_review(
            tools, user, verb=verb, resource=kind, group=group, subresource=sub, namespace="t-a"
        ), f"operator cannot {verb} {kind}{'/' + sub if sub else ''}"
    for verb in ("create", "delete"):
        assert not _access_review(
            tools, user, verb=verb, resource=kind, group=group, namespace="t-a"
        ), f"operator may {verb} {kind}"


def test_api_service_account_gets_nothing(tools: Tools, release: Release) -> None:
    user = release.api_user
    for query in [
        ("get", "secrets", "-n", release.namespace),
        ("list", "secrets", "-n", "tenant-acme"),
        ("get", "configmaps", "-n", release.namespace),
        ("list", "tenants.platform.caas.io"),
        ("create", "namespaces"),
        ("list", "pods", "-n", release.namespace),
    ]:
        assert not _can_i(tools, user, *query), f"the API may {' '.join(query)}"
    # Everything it may do anywhere: only what every authenticated identity may (self-reviews).
    listed = tools.ok(tools.kubectl("auth", "can-i", "--list", f"--as={user}", "-n", "default"))
    resources = {
        line.split()[0] for line in listed.splitlines()[1:] if line and not line.startswith(" ")
    }
    assert resources == {
        "selfsubjectreviews.authentication.k8s.io",
        "selfsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectrulesreviews.authorization.k8s.io",
    }


def test_operator_identity_does_the_real_work(tools: Tools, release: Release) -> None:
    """Beyond can-i: the operator's own calls (server-side apply of a tenant namespace and its
    credentials Secret, an Event, a read-back, deletion) made as its ServiceAccount."""
    user, tenant_ns = release.operator_user, unique("tenant-chart")
    as_op = (f"--as={user}", "--server-side", "--field-manager=caas-operator")
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": tenant_ns, "labels": {"platform.caas.io/tenant": "chart"}},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "caas-tenant-credentials", "namespace": tenant_ns},
        "stringData": {"redisUsername": "tenant-chart"},
    }
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "chart-", "namespace": tenant_ns},
        "involvedObject": {
            "kind": "Secret",
            "name": "caas-tenant-credentials",
            "namespace": tenant_ns,
            "apiVersion": "v1",
        },
        "reason": "Provisioned",
        "message": "chart e2e",
        "type": "Normal",
    }
    try:
        tools.ok(tools.kubectl("apply", *as_op, "-f", "-", stdin=json.dumps(namespace)))
        tools.ok(tools.kubectl("apply", *as_op, "-f", "-", stdin=json.dumps(secret)))
        tools.ok(tools.kubectl("create", f"--as={user}", "-f", "-", stdin=json.dumps(event)))
        read = tools.kubectl(
            "get", "secret", "caas-tenant-credentials", "-n", tenant_ns, f"--as={user}"
        )
        tools.ok(read)
        denied = tools.kubectl(
            "get", "secret", "caas-tenant-credentials", "-n", tenant_ns, f"--as={release.api_user}"
        )
        assert denied.returncode != 0
        assert "Forbidden" in denied.stderr
        forbidden = tools.kubectl("get", "configmaps", "-n", "kube-system", f"--as={user}")
        assert "Forbidden" in forbidden.stderr
        tools.ok(tools.kubectl("delete", "namespace", tenant_ns, f"--as={user}", "--wait=false"))
    finally:
        tools.kubectl("delete", "namespace", tenant_ns, "--ignore-not-found", "--wait=false")


def test_uninstall_removes_everything_but_the_crds(tools: Tools) -> None:
    installed = _install(tools)
    ns, prefix = installed.namespace, f"{installed.name}-caas-platform"
    crds_before = tools.ok(tools.kubectl("get", "crds", "-o", "name")).split()
    try:
        tools.ok(tools.helm("uninstall", installed.name, "--namespace", ns, "--wait"))
        for kind in ("clusterrole", "clusterrolebinding"):
            assert not tools.exists(kind, f"{prefix}-operator")
        leftovers = tools.ok(
            tools.kubectl(
                "get",
                "deployments,services,serviceaccounts,poddisruptionbudgets,secrets",
                "-n",
                ns,
                "-l",
                f"app.kubernetes.io/instance={installed.name}",
                "-o",
                "name",
            )
        )
        assert leftovers == ""
        # Helm's own release record is gone too; the user's Secret is theirs to keep.
        secrets = tools.ok(tools.kubectl("get", "secrets", "-n", ns, "-o", "name")).split()
        assert secrets == ["secret/caas-backends"]
        assert tools.ok(tools.kubectl("get", "crds", "-o", "name")).split() == crds_before
    finally:
        _cleanup(tools, installed)


def test_dispatcher_may_only_get_secrets(tools: Tools, release: Release) -> None:
    user = f"system:serviceaccount:{release.namespace}:{release.name}-caas-platform-dispatcher"
    assert _can_i(tools, user, "get", "secrets", "-n", "tenant-acme")
    for query in [
        ("list", "secrets", "-n", "tenant-acme"),
        ("watch", "secrets", "-n", "tenant-acme"),
        ("create", "secrets", "-n", release.namespace),
        ("get", "configmaps", "-n", release.namespace),
        ("list", "tenants.platform.caas.io"),
        ("list", "pods", "-n", release.namespace),
    ]:
        assert not _can_i(tools, user, *query), f"the dispatcher may {' '.join(query)}"
