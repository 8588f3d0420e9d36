"""Which audited actions are also the tenant's platform events, and what those events carry.

Every security action is audited where it happens; the platform events a tenant can subscribe to
(`api_key.created`, `session.revoked`, `security.*` …) are the same facts, so they are derived at
that one seam (`platform_event_for`) rather than emitted by hand next to each audit call — a new
audited action cannot be forgotten on one side only. The event id is derived from the audit
event's id: the same fact gives the same `webhook-id` however often it is queued.

Events carry ids only: never an IP address, user agent, token hash or secret (the audit log has
those; a receiver needs to know *what* happened, not the forensic detail).
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from caas_core.domain.audit import AuditEvent, Outcome
from caas_core.domain.webhook_events import WebhookEvent, platform_event, stable_event_id

DataOf = Callable[[AuditEvent], dict[str, Any]]


def _key(event: AuditEvent) -> dict[str, Any]:
    details = event.details
    data: dict[str, Any] = {"keyId": event.target_id}
    for name in ("name", "scopes"):
        if name in details:
            data[name] = details[name]
    return data


def _session(event: AuditEvent) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if event.target_type == "session":
        data["sessionId"] = event.target_id
    elif event.target_type == "user":
        data["userId"] = event.target_id
        data["allSessionsOfUser"] = True
    elif event.target_type == "tenant":
        data["allSessionsOfTenant"] = True
    user = event.details.get("userId")
    if user is not None:
        data["userId"] = user
    if event.actor.type == "user" and "userId" not in data and event.actor.id is not None:
        data["userId"] = event.actor.id
    return {**data, "via": event.action}


def _user(event: AuditEvent) -> dict[str, Any]:
    return {"userId": event.target_id}


# audit action -> (event type, data builder, outcome the event requires)
_MAP: Final[Mapping[str, tuple[str, DataOf, Outcome]]] = {
    "auth.api_key.created": ("api_key.created", _key, Outcome.SUCCESS),
    "auth.api_key.updated": ("api_key.updated", _key, Outcome.SUCCESS),
    "auth.api_key.revoked": ("api_key.revoked", _key, Outcome.SUCCESS),
    "auth.token.issued": ("session.created", _session, Outcome.SUCCESS),
    "session.terminated": ("session.revoked", _session, Outcome.SUCCESS),
    "auth.logout": ("session.revoked", _session, Outcome.SUCCESS),
    "auth.token.revoked": ("session.revoked", _session, Outcome.SUCCESS),
    "auth.tokens.revoked_all": ("session.revoked", _session, Outcome.SUCCESS),
    "auth.refresh.reuse_detected": ("security.refresh_token_reuse", _session, Outcome.FAILURE),
    "mfa.totp.enabled": ("security.mfa_enabled", _user, Outcome.SUCCESS),
    "mfa.totp.disabled": ("security.mfa_disabled", _user, Outcome.SUCCESS),
}
MAPPED_ACTIONS: Final = frozenset(_MAP)


def platform_event_for(audited: AuditEvent) -> WebhookEvent | None:
    """The tenant's platform event for an audited action, or None when there is none."""
    mapped = _MAP.get(audited.action)
    if mapped is None or audited.tenant is None:
        return None
    type_, data_of, outcome = mapped
    if audited.outcome is not outcome:
        return None
    # A token revocation is a session event only when a session was revoked (not a bare jti).
    if audited.action == "auth.token.revoked" and audited.target_type != "session":
        return None
    return platform_event(
        type_,
        tenant=audited.tenant,
        data=data_of(audited),
        now=audited.at,
        id=stable_event_id("audit", audited.id),
    )


def _is_ready(status: Mapping[str, Any] | None) -> bool:
    conditions = (status or {}).get("conditions") or []
    return any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions
    )


def tenant_lifecycle_events(
    *,
    tenant: str,
    uid: str,
    old_status: Mapping[str, Any] | None,
    new_status: Mapping[str, Any],
    generation: int | None,
    now: datetime,
) -> list[WebhookEvent]:
    """`tenant.created` on a Tenant's first reconcile (no status yet), `tenant.ready` when its
    Ready condition turns True. Ids are stable per fact (the resource's uid, the generation),
    so a reconcile repeated after a failed status write emits the same events again."""
    events: list[WebhookEvent] = []
    if not old_status or not old_status.get("conditions"):
        events.append(
            platform_event(
                "tenant.created",
                tenant=tenant,
                data={"tenant": tenant},
                now=now,
                id=stable_event_id("tenant.created", uid),
            )
        )
    if _is_ready(new_status) and not _is_ready(old_status):
        events.append(
            platform_event(
                "tenant.ready",
                tenant=tenant,
                data={"tenant": tenant, "generation": generation},
                now=now,
                id=stable_event_id("tenant.ready", uid, str(generation)),
            )
        )
    return events


def tenant_deleted_event(
    *, tenant: str, deleted_at: datetime, policy: str, now: datetime
) -> WebhookEvent:
    """`tenant.deleted` once its teardown finished (one id per deletion)."""
    return platform_event(
        "tenant.deleted",
        tenant=tenant,
        data={"tenant": tenant, "deletionPolicy": policy},
        now=now,
        id=stable_event_id("tenant.deleted", tenant, deleted_at.isoformat()),
    )
