"""API-key scopes the runtime authentication API checks, and how a granted set is matched."""

from collections.abc import Iterable
from typing import Final

TOKENS_ISSUE: Final = "tokens:issue"
TOKENS_REVOKE: Final = "tokens:revoke"
TOKENS_INTROSPECT: Final = "tokens:introspect"
KEYS_MANAGE: Final = "keys:manage"
TENANT_READ: Final = "tenant:read"
TENANT_WRITE: Final = "tenant:write"
SESSIONS_ADMIN: Final = "sessions:admin"
AUDIT_READ: Final = "audit:read"
AUTHZ_MANAGE: Final = "authz:manage"
AUTHZ_CHECK: Final = "authz:check"
WEBHOOKS_READ: Final = "webhooks:read"
WEBHOOKS_WRITE: Final = "webhooks:write"
EVENTS_PUBLISH: Final = "events:publish"
ALL: Final = "*"
KNOWN: Final = frozenset(
    {
        TOKENS_ISSUE,
        TOKENS_REVOKE,
        TOKENS_INTROSPECT,
        KEYS_MANAGE,
        TENANT_READ,
        TENANT_WRITE,
        SESSIONS_ADMIN,
        AUDIT_READ,
        AUTHZ_MANAGE,
        AUTHZ_CHECK,
        WEBHOOKS_READ,
        WEBHOOKS_WRITE,
        EVENTS_PUBLISH,
    }
)
_RESOURCES: Final = frozenset(scope.partition(":")[0] for scope in KNOWN)
# Every scope a key may be given, in a stable order (the API publishes it as an enum).
GRANTABLE: Final = (ALL, *sorted(KNOWN | {f"{resource}:*" for resource in _RESOURCES}))


def is_valid_scope(scope: str) -> bool:
    """A scope a key may be given: a known one, `<known resource>:*`, or `*`."""
    if scope in KNOWN or scope == ALL:
        return True
    resource, _, action = scope.partition(":")
    return action == "*" and resource in _RESOURCES


def has_scope(granted: Iterable[str], required: str) -> bool:
    """Whether `granted` allows `required`: exactly, by `<resource>:*`, or by `*`.

    An empty grant allows nothing: a key must be given scopes to be useful (fail closed).
    """
    resource = required.partition(":")[0]
    wanted = {required, f"{resource}:*", ALL}
    return any(scope in wanted for scope in granted)
