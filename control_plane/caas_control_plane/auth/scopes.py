"""API-key scopes the runtime authentication API checks, and how a granted set is matched."""

from collections.abc import Iterable
from typing import Final

TOKENS_ISSUE: Final = "tokens:issue"
TOKENS_REVOKE: Final = "tokens:revoke"
TOKENS_INTROSPECT: Final = "tokens:introspect"
ALL: Final = "*"
KNOWN: Final = frozenset({TOKENS_ISSUE, TOKENS_REVOKE, TOKENS_INTROSPECT})


def has_scope(granted: Iterable[str], required: str) -> bool:
    """Whether `granted` allows `required`: exactly, by `<resource>:*`, or by `*`.

    An empty grant allows nothing: a key must be given scopes to be useful (fail closed).
    """
    resource = required.partition(":")[0]
    wanted = {required, f"{resource}:*", ALL}
    return any(scope in wanted for scope in granted)
