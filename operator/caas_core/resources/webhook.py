"""The Webhook custom resource: an endpoint receiving the tenant's events, signed with whsec_."""

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from caas_core.domain.conditions import Condition
from caas_core.domain.webhook_records import (
    ALL_EVENTS,
    EVENT_FILTER_PATTERN,
    MAX_CONCURRENCY,
    MAX_RATE_PER_SECOND,
    MIN_CONCURRENCY,
    event_filter_rule,
)
from caas_core.domain.webhook_urls import HOST_BLOCK_REGEX, URL_MAX_LENGTH
from caas_core.resources.apikey import DNS_SUBDOMAIN_MAX_LENGTH, DNS_SUBDOMAIN_PATTERN, MODEL_CONFIG

MAX_EVENT_FILTERS: Final = 64

URL_RULE: Final = "isURL(self.url)"
URL_MESSAGE: Final = "url must be an absolute URL such as https://hooks.example.com/caas"
SCHEME_RULE: Final = (
    "!isURL(self.url) || url(self.url).getScheme() == 'https' || "
    "(self.allowInsecureHttp && url(self.url).getScheme() == 'http')"
)
SCHEME_MESSAGE: Final = (
    "url must use https (plain http needs allowInsecureHttp: true, "
    "honoured only by an operator running in development)"
)
_USERINFO_MATCH: Final = "self.url.matches(r'^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@')"
USERINFO_RULE: Final = f"!{_USERINFO_MATCH}"
USERINFO_MESSAGE: Final = "url must not carry credentials (user:password@)"
# Skipped when the URL has credentials: that rule already refuses it, with a clearer message.
HOST_RULE: Final = f"{_USERINFO_MATCH} || !self.url.matches(r'{HOST_BLOCK_REGEX}')"
HOST_MESSAGE: Final = (
    "url host must be a public name or address: loopback, private (RFC 1918, ULA), link-local, "
    "CGNAT, multicast, reserved, single-label, site-local and cloud metadata hosts are refused"
)
DELIVERY_RULE: Final = (
    "has(self.secretName) == has(oldSelf.secretName) && "
    "(!has(self.secretName) || self.secretName == oldSelf.secretName)"
)
DELIVERY_MESSAGE: Final = "secretName is immutable; create a new Webhook instead"
EVENT_FILTER_MESSAGE: Final = (
    "unknown event type: use *, <category>.* or a type such as message.created "
    "(kubectl explain webhook.spec.eventTypes)"
)

EventFilter = Annotated[
    str,
    Field(
        description="An event type (message.created), a category (message.*) or * for all.",
        min_length=1,
        max_length=64,
        pattern=EVENT_FILTER_PATTERN,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": event_filter_rule(), "message": EVENT_FILTER_MESSAGE}
            ],
        },
    ),
]


def _all_events() -> list[str]:
    return [ALL_EVENTS]


class WebhookSpec(BaseModel):
    """Desired state of a webhook endpoint of the namespace's tenant."""

    model_config = ConfigDict(
        **MODEL_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": URL_RULE, "message": URL_MESSAGE},
                {"rule": SCHEME_RULE, "message": SCHEME_MESSAGE},
                {"rule": USERINFO_RULE, "message": USERINFO_MESSAGE},
                {"rule": HOST_RULE, "message": HOST_MESSAGE},
                {"rule": DELIVERY_RULE, "message": DELIVERY_MESSAGE},
            ],
        },
    )

    url: str = Field(
        description=(
            "Where events are POSTed: https, a public host (every address it resolves to is "
            "checked), no credentials."
        ),
        min_length=1,
        max_length=URL_MAX_LENGTH,
    )
    allow_insecure_http: bool = Field(
        default=False,
        description=(
            "Accept an http:// url. Honoured only when the operator runs with "
            "CAAS_ENV=development; refused otherwise."
        ),
    )
    event_types: list[EventFilter] = Field(
        default_factory=_all_events,
        description=(
            "Events to deliver: exact types (message.created), categories (message.*) or * for "
            "all. Categories: message, conversation, user, session, device, api_key, "
            "compliance, retention, webhook."
        ),
        min_length=1,
        max_length=MAX_EVENT_FILTERS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    enabled: bool = Field(
        default=True, description="False pauses delivery without unregistering the endpoint."
    )
    description: str | None = Field(
        default=None, description="What the endpoint is for, shown to humans.", max_length=256
    )
    max_concurrency: int | None = Field(
        default=None,
        description=(
            "Attempts in flight to this endpoint per dispatcher process; unset: the "
            "dispatcher's default (CAAS_WEBHOOK_MAX_CONCURRENCY, 32)."
        ),
        ge=MIN_CONCURRENCY,
        le=MAX_CONCURRENCY,
    )
    rate_limit_per_second: float | None = Field(
        default=None,
        description=(
            "Attempts per second to this endpoint per dispatcher process (above 0); unset: the "
            "dispatcher's default (CAAS_WEBHOOK_RATE_LIMIT_PER_SECOND, unlimited)."
        ),
        gt=0,
        le=MAX_RATE_PER_SECOND,
    )
    ordered: bool | None = Field(
        default=None,
        description=(
            "true: events with the same key (the tenant) are delivered one at a time, in "
            "order, a failing one holding back the next; unset or false: unordered."
        ),
    )
    secret_name: str | None = Field(
        default=None,
        description=(
            "Secret in this namespace that receives the whsec_ signing secret (key "
            "signingSecret); defaults to <name>-webhook. Immutable. An existing Secret is never "
            "adopted."
        ),
        max_length=DNS_SUBDOMAIN_MAX_LENGTH,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


class WebhookStatus(BaseModel):
    """Observed state of a webhook endpoint, written by the operator."""

    model_config = MODEL_CONFIG

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the operator last reconciled.", ge=0
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Ready, with a reason such as Registered, PrivateAddress, UnresolvableHost or NoTenant."
        ),
        max_length=8,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    tenant: str | None = Field(default=None, description="The tenant the endpoint belongs to.")
    endpoint_id: str | None = Field(
        default=None, description="Id of the registration the dispatcher reads."
    )
    secret_name: str | None = Field(default=None, description="Secret holding the signing secret.")
    host: str | None = Field(default=None, description="Host name of the registered URL.")
    addresses: list[str] = Field(
        default_factory=list,
        description="Addresses the host resolved to when last checked (all public).",
        max_length=32,
    )
