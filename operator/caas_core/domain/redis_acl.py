"""Redis ACL user specifications (what a tenant's Redis user may touch), compared with live ones."""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

# Administration and commands that can hurt other tenants (FLUSHALL, KEYS, ...) are always denied.
ALWAYS_DENIED: Final = ("-@admin", "-@dangerous")
# Everything except the above, when the spec does not narrow it.
DEFAULT_TENANT_CATEGORIES: Final = ("+@all", *ALWAYS_DENIED)
# Commands outside those categories that a key pattern does not confine, because they take no
# key (Redis 7.0): each reveals the names of other tenants' and the platform's keys or channels,
# server-wide state, or acts on what every tenant shares. Checked one by one against the real
# server in tests/integration/test_redis_tenant_acl.py. Always denied, after the categories.
ALWAYS_DENIED_COMMANDS: Final = (
    "-scan",  # every key name on the server (KEYS is already @dangerous)
    "-randomkey",  # a random key name of anyone
    "-dbsize",  # how many keys all tenants hold
    "-memory",  # STATS, DOCTOR, MALLOC-STATS: server-wide; PURGE acts on the server ...
    "+memory|usage",  # ... while USAGE takes a key and stays confined to the tenant's own
    "-pubsub",  # CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB: everyone's channels
    "-client|tracking",  # BCAST mode pushes the name of every key anyone modifies
    "-client|trackinginfo",
    "-client|getredir",
    "-client|caching",
    "-function",  # libraries are server-wide: LIST shows, DELETE and FLUSH remove others'
    "-fcall",
    "-fcall_ro",
    "-script|flush",  # drops every tenant's (and the platform's) cached scripts
    "-script|kill",  # kills whichever script is running, anyone's
    "-lolwut",  # the server version
)


def categories_rules(allowed: Sequence[str]) -> tuple[str, ...]:
    """ACL category rules for an allow-list of category names (always ending with the denials)."""
    granted = sorted({f"+@{name}" for name in allowed})
    # +@all first would mask nothing, but a stable order keeps the rules comparable.
    if "+@all" in granted:
        granted = ["+@all"]
    return (*granted, *ALWAYS_DENIED)


@dataclass(frozen=True, slots=True, kw_only=True)
class AclUserSpec:
    """A Redis ACL user confined to one key pattern and one channel pattern."""

    name: str
    key_pattern: str
    channel_pattern: str
    categories: Sequence[str] = DEFAULT_TENANT_CATEGORIES
    # Command rules applied after the categories (never narrowed by a Tenant's spec).
    commands: Sequence[str] = ALWAYS_DENIED_COMMANDS


def password_hash(password: str) -> str:
    """How Redis stores a password (ACL GETUSER shows SHA-256 hex digests)."""
    return hashlib.sha256(password.encode()).hexdigest()


def acl_user_differences(
    spec: AclUserSpec,
    live: Mapping[str, Any],
    *,
    password: str,
    canonical_commands: Mapping[str, Any],
) -> tuple[str, ...]:
    """How a live user (ACL GETUSER, as redis-py parses it) differs from the spec.

    `canonical_commands` holds the `commands` and `categories` Redis reports for exactly the
    spec's category and command rules (Redis rewrites them into its own canonical form), so a
    user made under older rules (e.g. before SCAN was denied) shows as drift and is corrected.
    """
    differences: list[str] = []
    if "on" not in live.get("flags", ()):
        differences.append("user is disabled")
    if list(live.get("passwords", ())) != [password_hash(password)]:
        differences.append("password differs from the credentials Secret")
    if list(live.get("keys", ())) != [f"~{spec.key_pattern}"]:
        differences.append(f"key patterns are {_show(live.get('keys'))}, want ~{spec.key_pattern}")
    if list(live.get("channels", ())) != [f"&{spec.channel_pattern}"]:
        differences.append(
            f"channel patterns are {_show(live.get('channels'))}, want &{spec.channel_pattern}"
        )
    for key in ("categories", "commands"):
        if list(live.get(key, ())) != list(canonical_commands.get(key, ())):
            differences.append(f"command rules differ ({key}: {_show(live.get(key))})")
            break
    if live.get("selectors"):
        differences.append("extra selectors are set")
    return tuple(differences)


def _show(value: object) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value) or "(none)"
    return str(value)
