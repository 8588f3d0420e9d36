"""Fixtures: the operator's context on the real stack, and a tenant (Tenant + namespace) per test.

The reconcile functions are called directly (no operator process), against the real
kube-apiserver, MongoDB and Kafka. Resources are real objects, so Secrets they own are subject
to the real garbage collector.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from caas_core.adapters import kafka
from caas_core.crd.accesspolicy import NAMES as ACCESSPOLICY
from caas_core.crd.apikey import NAMES as APIKEY
from caas_core.crd.retention import NAMES as RETENTION
from caas_core.crd.webhook import NAMES as WEBHOOK
from caas_core.domain.naming import API_GROUP, PLATFORM_DATABASE, TENANT_LABEL
from caas_core.domain.naming import API_VERSION as VERSION
from caas_operator.context import OperatorContext
from caas_operator.settings import OperatorSettings
from caas_operator.shared.kube import TenantResource
from tests.conftest import Stack, platform_operator_stopped

ApiKeyResource = create_namespaced_resource(API_GROUP, VERSION, APIKEY.kind, APIKEY.plural)
WebhookResource = create_namespaced_resource(API_GROUP, VERSION, WEBHOOK.kind, WEBHOOK.plural)
PolicyResource = create_namespaced_resource(API_GROUP, VERSION, RETENTION.kind, RETENTION.plural)
AccessPolicyResource = create_namespaced_resource(
    API_GROUP, VERSION, ACCESSPOLICY.kind, ACCESSPOLICY.plural
)
REPO_ROOT_CRDS = Path(__file__).resolve().parents[3] / "crds"
NO_FINALIZERS: dict[str, Any] = {"metadata": {"finalizers": None}}
KINDS = {
    "ApiKey": ApiKeyResource,
    "Webhook": WebhookResource,
    "RetentionPolicy": PolicyResource,
    "AccessPolicy": AccessPolicyResource,
}


def wait_until_served(stack: Stack, *, timeout: float = 60.0) -> None:
    """Established is not enough: a new CRD's storage answers 'storage is (re)initializing'
    for a moment after it, so list every kind until the apiserver serves them all."""
    kinds = (
        "apikeys.platform.caas.io,webhooks.platform.caas.io,retentionpolicies.platform.caas.io,"
        "accesspolicies.platform.caas.io"
    )
    deadline = time.monotonic() + timeout
    while True:
        listed = subprocess.run(
            [stack.kubectl, "get", kinds, "--all-namespaces"],
            env=stack.process_env(), capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if listed.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the CRDs are not served: {listed.stderr}", pytrace=False)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stack_env(stack: Stack) -> Iterator[Stack]:
    """The stack's connection settings in this process's environment (KUBECONFIG and friends)."""
    with pytest.MonkeyPatch.context() as patch, platform_operator_stopped(stack):
        for key, value in stack.env.items():
            patch.setenv(key, value)
        subprocess.run(
            [stack.kubectl, "apply", "--server-side", "-f", str(REPO_ROOT_CRDS)],
            env=stack.process_env(), check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [stack.kubectl, "wait", "--for=condition=Established", "-f", str(REPO_ROOT_CRDS)],
            env=stack.process_env(), check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        wait_until_served(stack)
        yield stack


@pytest.fixture(scope="module")
async def ctx(stack_env: Stack) -> AsyncIterator[OperatorContext]:
    """The operator's clients, as its start-up handler opens them."""
    context = OperatorContext.open(OperatorSettings())
    yield context
    await context.close()


@dataclass
class Tenant:
    """A Tenant object and its labelled namespace (no operator: nothing else is provisioned)."""

    name: str
    ctx: OperatorContext

    @property
    def namespace(self) -> str:
        return f"tenant-{self.name}"

    @property
    def database(self) -> str:
        return f"tenant_{self.name.replace('-', '_')}"

    async def create(
        self, kind: str, name: str, spec: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """Create a namespaced resource of ours; return it as a dict (uid, generation ...)."""
        resource = KINDS[kind]
        obj = resource(
            metadata=ObjectMeta(name=name, namespace=namespace or self.namespace), spec=spec
        )
        created = await self.ctx.kube.create(obj)
        return dict(created.to_dict())

    async def update_spec(
        self, kind: str, name: str, spec: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """Merge-patch the spec; return the object."""
        patched = await self.ctx.kube.patch(
            KINDS[kind],
            name,
            {"spec": spec},
            namespace=namespace or self.namespace,
            patch_type=PatchType.MERGE,
        )
        return dict(patched.to_dict())


async def _delete_quietly(coro: Any) -> None:
    try:
        await coro
    except ApiError as exc:
        if exc.status.code != 404:
            raise


async def make_tenant(ctx: OperatorContext, *, plan: dict[str, Any] | None = None) -> Tenant:
    """A Tenant resource plus its namespace labelled with it."""
    tenant = Tenant(name=f"it-{uuid.uuid4().hex[:6]}", ctx=ctx)
    spec: dict[str, Any] = {"deletionPolicy": "Delete"}
    if plan is not None:
        spec["plan"] = plan
    await ctx.kube.create(TenantResource(metadata=ObjectMeta(name=tenant.name), spec=spec))
    await ctx.kube.create(
        Namespace(metadata=ObjectMeta(name=tenant.namespace, labels={TENANT_LABEL: tenant.name}))
    )
    return tenant


async def drop_tenant(ctx: OperatorContext, tenant: Tenant) -> None:
    """Remove what a test made, whether or not an operator ran meanwhile."""
    for resource in KINDS.values():
        async for item in ctx.kube.list(resource, namespace=tenant.namespace):
            name = item.metadata.name
            # No operator process runs the finalizers here: clear them, then delete.
            await _delete_quietly(
                ctx.kube.patch(resource, name, NO_FINALIZERS, namespace=tenant.namespace,
                               patch_type=PatchType.MERGE)
            )  # fmt: skip
            await _delete_quietly(ctx.kube.delete(resource, name, namespace=tenant.namespace))
    await _delete_quietly(ctx.kube.delete(Namespace, tenant.namespace))
    await _delete_quietly(
        ctx.kube.patch(TenantResource, tenant.name, NO_FINALIZERS, patch_type=PatchType.MERGE)
    )
    await _delete_quietly(ctx.kube.delete(TenantResource, tenant.name))
    admin = ctx.clients.kafka
    topics = await kafka.list_topic_names(admin, prefix=f"tenant.{tenant.name}.")
    await kafka.delete_topics(admin, topics)
    mongo = ctx.clients.mongo
    await mongo.drop_database(tenant.database)
    platform = mongo[PLATFORM_DATABASE]
    for collection in ("api_keys", "webhook_endpoints", "deletion_logs", "legal_holds"):
        await platform[collection].delete_many({"tenant": tenant.name})


@pytest.fixture
async def tenant(ctx: OperatorContext) -> AsyncIterator[Tenant]:
    """A fresh tenant with plan quotas of 2 API keys and 2 webhooks."""
    made = await make_tenant(ctx, plan={"maxApiKeys": 2, "maxWebhooks": 2})
    yield made
    await drop_tenant(ctx, made)


async def eventually(check: Any, *, within: float = 30.0) -> Any:
    """Poll an async predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.5)
