"""Pure Webhook lifecycle: from the URL verdict, Secret and registration to the next step.

Order of a reconcile: the URL must pass (a refused URL is unregistered at once: fail closed),
the tenant's quota must allow a new endpoint, the signing secret is written once into a Secret
owned by the Webhook, and the endpoint is registered (or updated) with a reference to it.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from caas_core.domain.naming import API_GROUP
from caas_core.domain.webhook_records import (
    SecretRef,
    WebhookEndpoint,
    WebhookSource,
    WebhookWriter,
    endpoint_id,
    fingerprint,
    signing_key,
    unknown_event_filters,
)
from caas_core.domain.webhook_urls import UrlProblem, WebhookUrl, WebhookUrlError
from caas_core.resources.webhook import WebhookSpec
from caas_operator.shared.scope import Failure
from caas_operator.shared.status import ObservedSecret

SECRET_TYPE: Final = f"{API_GROUP}/webhook-signing"
SIGNING_FIELD: Final = "signingSecret"


def secret_name(name: str, spec: WebhookSpec) -> str:
    """Where the signing secret is delivered."""
    return spec.secret_name or f"{name}-webhook"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookObserved:
    """What exists for one Webhook resource."""

    namespace: str
    name: str
    uid: str
    generation: int | None
    tenant: str
    verdict: WebhookUrl | WebhookUrlError
    development: bool
    secret: ObservedSecret | None
    endpoint: WebhookEndpoint | None
    tenant_endpoints: int = 0  # the tenant's other endpoints, for the quota
    quota: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookPlan:
    """The next writes, or why none can happen."""

    new_secret: str | None = field(default=None, repr=False)
    register: WebhookEndpoint | None = None
    unregister: bool = False
    failure: Failure | None = None
    registered: WebhookEndpoint | None = None

    @property
    def writes(self) -> bool:
        """Whether applying the plan changes anything."""
        return self.new_secret is not None or self.register is not None or self.unregister


def url_failure(error: WebhookUrlError, *, spec: WebhookSpec, development: bool) -> Failure:
    """The condition for a refused URL, explaining the development-only http switch."""
    message = error.message
    if error.problem is UrlProblem.INSECURE_SCHEME and spec.allow_insecure_http and not development:
        message = (
            "spec.allowInsecureHttp is set, but the operator does not run in development "
            "(CAAS_ENV=development), so http is refused; use https"
        )
    return Failure(reason=error.problem.value, message=message, retryable=error.retryable)


def plan_webhook(
    spec: WebhookSpec, observed: WebhookObserved, *, fresh_secret: str, now: datetime
) -> WebhookPlan:
    """Decide the next step; `fresh_secret` is used only when none was ever written."""
    # Policies in order, cert-manager style: the first refusal wins.
    for check in (_event_filters, _url, _secret_owner, _quota):
        refused = check(spec, observed)
        if refused is not None:
            return refused
    return _deliver(spec, observed, fresh_secret=fresh_secret, now=now)


def _event_filters(spec: WebhookSpec, observed: WebhookObserved) -> WebhookPlan | None:
    unknown = unknown_event_filters(spec.event_types)
    if not unknown:
        return None
    return WebhookPlan(
        unregister=observed.endpoint is not None,
        failure=Failure(
            reason="UnknownEventType", message=f"unknown event types: {', '.join(unknown)}"
        ),
    )


def _url(spec: WebhookSpec, observed: WebhookObserved) -> WebhookPlan | None:
    verdict = observed.verdict
    if not isinstance(verdict, WebhookUrlError):
        return None
    registered = observed.endpoint
    # A lookup that failed may succeed later: keep what was registered until it does.
    keep = verdict.retryable and registered is not None
    return WebhookPlan(
        unregister=registered is not None and not keep,
        failure=url_failure(verdict, spec=spec, development=observed.development),
        registered=registered if keep else None,
    )


def _secret_owner(spec: WebhookSpec, observed: WebhookObserved) -> WebhookPlan | None:
    if observed.secret is None or observed.secret.owned:
        return None
    return WebhookPlan(
        registered=observed.endpoint,
        failure=Failure(
            reason="SecretConflict",
            message=(
                f"Secret {secret_name(observed.name, spec)} exists but was not created by this "
                "Webhook; the operator never adopts a Secret: delete it or set spec.secretName "
                "to a free name"
            ),
            retryable=True,
        ),
    )


def _quota(spec: WebhookSpec, observed: WebhookObserved) -> WebhookPlan | None:
    quota = observed.quota
    if observed.endpoint is not None or quota is None or observed.tenant_endpoints < quota:
        return None
    return WebhookPlan(
        failure=Failure(
            reason="QuotaExceeded",
            message=(
                f"tenant {observed.tenant} already has {observed.tenant_endpoints} webhooks; "
                f"its plan allows {quota} (spec.plan.maxWebhooks)"
            ),
            retryable=True,
        )
    )


def _deliver(
    spec: WebhookSpec, observed: WebhookObserved, *, fresh_secret: str, now: datetime
) -> WebhookPlan:
    registered = observed.endpoint
    name = secret_name(observed.name, spec)
    secret = observed.secret
    if secret is None:
        if registered is None:
            return WebhookPlan(new_secret=fresh_secret)
        return WebhookPlan(
            registered=registered,
            failure=Failure(
                reason="SecretLost",
                message=(
                    f"Secret {name} holding the signing secret is gone; receivers verify with "
                    "the old one, so no new one is made silently: delete and re-create the "
                    "Webhook to get a new secret"
                ),
            ),
        )
    signing = secret.data.get(SIGNING_FIELD, "")
    try:
        signing_key(signing)
    except ValueError:
        return WebhookPlan(
            registered=registered,
            failure=Failure(
                reason="SecretInvalid",
                message=f"Secret {name} no longer holds a whsec_ signing secret",
            ),
        )
    assert isinstance(observed.verdict, WebhookUrl)  # _url refused every other verdict
    desired = WebhookEndpoint(
        endpoint_id=endpoint_id(observed.uid),
        tenant=observed.tenant,
        url=observed.verdict.url,
        event_types=tuple(sorted(spec.event_types)),
        enabled=spec.enabled,
        secret_ref=SecretRef(namespace=observed.namespace, name=name, key=SIGNING_FIELD),
        secret_fingerprint=fingerprint(signing),
        managed_by=WebhookWriter.OPERATOR,
        created_at=registered.created_at if registered is not None else now,
        updated_at=now,
        source=WebhookSource(namespace=observed.namespace, name=observed.name, uid=observed.uid),
        generation=observed.generation,
        description=spec.description,
        max_concurrency=spec.max_concurrency,
        rate_limit_per_second=spec.rate_limit_per_second,
        ordered=spec.ordered,
    )
    if registered is not None and registered.same_registration(desired):
        return WebhookPlan(registered=registered)
    return WebhookPlan(register=desired, registered=desired)
