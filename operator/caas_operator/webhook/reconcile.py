"""One reconcile of a Webhook: validate the URL, write the secret once, register the endpoint."""

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any, Final

from pydantic import ValidationError

from caas_core.crd.webhook import NAMES
from caas_core.domain.conditions import utc_now
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.webhook_records import WebhookWriter, endpoint_id, new_signing_secret
from caas_core.domain.webhook_urls import (
    Resolver,
    WebhookUrl,
    WebhookUrlError,
    validate_webhook_url,
)
from caas_core.resources.webhook import WebhookSpec
from caas_core.settings import describe_validation_error
from caas_operator.context import OperatorContext
from caas_operator.shared.kube import gather_scope, owner_of, read_owned_secret, write_secret
from caas_operator.shared.outcomes import store_failure
from caas_operator.shared.scope import Failure, ScopeError, TenantScope
from caas_operator.shared.status import (
    KindResult,
    build_status,
    failed_result,
    object_labels,
    ready,
    result,
)
from caas_operator.webhook.plan import (
    SECRET_TYPE,
    SIGNING_FIELD,
    WebhookObserved,
    WebhookPlan,
    plan_webhook,
    secret_name,
)
from caas_operator.webhook.status import REGISTERED, ready_message, status_fields
from caas_operator.webhook.store import (
    ForeignEndpointError,
    WebhookQuotaError,
    WebhookStore,
    resolve_host,
)

logger = logging.getLogger(__name__)

MAX_STEPS: Final = 3  # secret, then registration


def store_of(context: OperatorContext) -> WebhookStore:
    """The endpoint registry in the platform database."""
    return WebhookStore(context.clients.mongo[PLATFORM_DATABASE])


async def reconcile_webhook(
    context: OperatorContext,
    *,
    namespace: str,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    development: bool | None = None,
    resolve: Resolver | None = None,
) -> KindResult:
    """Validate, write the secret once and register; never raises for backend errors."""
    now = utc_now()
    try:
        hook = WebhookSpec.model_validate(dict(spec))
    except ValidationError as exc:
        bad = Failure(reason="InvalidSpec", message=describe_validation_error(exc))
        return _finish(old_status, generation, now, failure=bad)
    target = secret_name(name, hook)
    dev = context.settings.development if development is None else development
    resolver = resolve or partial(resolve_host, timeout=context.settings.backend_timeout)
    try:
        async with asyncio.timeout(context.settings.step_timeout):
            scope = await gather_scope(context.kube, kind=NAMES.kind, namespace=namespace)
            verdict = await _check_url(hook, development=dev, resolve=resolver)
            store = store_of(context)
            if not context.state.webhook_indexes:
                await store.ensure_indexes()
                context.state.webhook_indexes = True
            async with context.webhook_locks.lock(scope.tenant):
                plan = await _converge(
                    context, store, hook, scope=scope, namespace=namespace, name=name, uid=uid,
                    generation=generation, verdict=verdict, development=dev, now=now,
                )  # fmt: skip
    except ScopeError as exc:
        return _finish(old_status, generation, now, failure=exc.failure, secret=target)
    except Exception as exc:  # every failure becomes a condition, never a crashed handler
        return _finish(old_status, generation, now, failure=_describe(exc), secret=target)
    endpoint = plan.registered
    ok_message = (
        ready_message(endpoint, verdict)
        if endpoint is not None and isinstance(verdict, WebhookUrl)
        else ""
    )
    status = build_status(
        old_status=old_status,
        conditions=[ready(plan.failure, ok_reason=REGISTERED, ok_message=ok_message)],
        generation=generation,
        now=now,
        fields=status_fields(
            tenant=scope.tenant, secret=target, endpoint=endpoint, verdict=verdict
        ),
    )
    return result(status, [plan.failure] if plan.failure else [])


async def _check_url(
    spec: WebhookSpec, *, development: bool, resolve: Resolver
) -> WebhookUrl | WebhookUrlError:
    try:
        return await validate_webhook_url(
            spec.url, allow_insecure_http=spec.allow_insecure_http and development, resolve=resolve
        )
    except WebhookUrlError as exc:
        return exc


async def _converge(
    context: OperatorContext,
    store: WebhookStore,
    spec: WebhookSpec,
    *,
    scope: TenantScope,
    namespace: str,
    name: str,
    uid: str,
    generation: int | None,
    verdict: WebhookUrl | WebhookUrlError,
    development: bool,
    now: datetime,
) -> WebhookPlan:
    target = secret_name(name, spec)
    for _ in range(MAX_STEPS):
        secret = await read_owned_secret(
            context.kube, namespace=namespace, name=target, owner_uid=uid
        )
        endpoint = await store.get(endpoint_id(uid))
        others = 0
        quota = scope.quota("maxWebhooks")
        if endpoint is None and quota is not None:
            others = sum(
                e.endpoint_id != endpoint_id(uid) for e in await store.list_for_tenant(scope.tenant)
            )
        observed = WebhookObserved(
            namespace=namespace, name=name, uid=uid, generation=generation, tenant=scope.tenant,
            verdict=verdict, development=development, secret=secret, endpoint=endpoint,
            tenant_endpoints=others, quota=quota,
        )  # fmt: skip
        plan = plan_webhook(spec, observed, fresh_secret=new_signing_secret(), now=now)
        if not plan.writes:
            return plan
        await _apply(context, store, plan, scope=scope, namespace=namespace, name=name, uid=uid,
                     target=target, quota=quota)  # fmt: skip
        if plan.unregister:
            return plan  # nothing else follows a refusal
    raise RuntimeError(f"Webhook {namespace}/{name} did not converge in {MAX_STEPS} steps")


async def _apply(
    context: OperatorContext,
    store: WebhookStore,
    plan: WebhookPlan,
    *,
    scope: TenantScope,
    namespace: str,
    name: str,
    uid: str,
    target: str,
    quota: int | None,
) -> None:
    if plan.new_secret is not None:
        await write_secret(
            context.kube,
            namespace=namespace,
            name=target,
            secret_type=SECRET_TYPE,
            labels=object_labels(scope.names, kind_label="webhook", name=name),
            annotations={},
            data={SIGNING_FIELD: plan.new_secret},
            owner=owner_of(api_version=NAMES.api_version, kind=NAMES.kind, name=name, uid=uid),
            resource_version=None,
        )
        logger.info(
            "webhook signing secret written", extra={"namespace": namespace, "webhook": name}
        )
    if plan.register is not None:
        # The store re-checks the quota atomically: the REST API may have created one meanwhile.
        await store.register(plan.register, writer=WebhookWriter.OPERATOR, quota=quota)
        logger.info(
            "webhook endpoint registered",
            extra={"namespace": namespace, "webhook": name, "endpoint": plan.register.endpoint_id},
        )
    if plan.unregister:
        await store.unregister(endpoint_id(uid), writer=WebhookWriter.OPERATOR)
        logger.info(
            "webhook endpoint unregistered", extra={"namespace": namespace, "webhook": name}
        )


def _describe(exc: Exception) -> Failure:
    if isinstance(exc, ForeignEndpointError):
        return Failure(reason="ForeignEndpoint", message=str(exc))
    if isinstance(exc, WebhookQuotaError):
        return Failure(reason="QuotaExceeded", message=str(exc), retryable=True)
    return store_failure(exc)


def _finish(
    old_status: Mapping[str, Any] | None,
    generation: int | None,
    now: datetime,
    *,
    failure: Failure,
    secret: str | None = None,
) -> KindResult:
    fields = None if secret is None else {"secretName": secret}
    return failed_result(
        old_status, generation, now, failure=failure, ok_reason=REGISTERED, fields=fields
    )


async def unregister_webhook(context: OperatorContext, *, uid: str) -> bool:
    """Remove the resource's endpoint; False when none was registered."""
    try:
        return await store_of(context).unregister(endpoint_id(uid), writer=WebhookWriter.OPERATOR)
    except ForeignEndpointError as exc:
        # Never touch the other writer's endpoint, and never block the deletion on it.
        logger.warning("webhook endpoint left to its owner", extra={"reason": str(exc)})
        return False
