"""SSRF at delivery: which of a host's freshly resolved addresses may be connected to.

The rules are the registration's own (`caas_core.domain.webhook_urls`), applied to the
addresses of this attempt's single lookup; the connection then goes to the vetted address
itself, so a name that starts resolving to a private address after registration (DNS
rebinding) is refused, and no second lookup can change the answer between check and connect.
Tests deliver to receivers on 127.0.0.1 only through an explicit allow-list of networks
(`CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS`), refused in production by the settings.
"""

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from caas_core.domain.webhook_urls import (
    IPAddress,
    UrlProblem,
    WebhookUrlError,
    check_addresses,
    classify_hostname,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """The registration rules plus the networks an operator deliberately allows."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "TargetPolicy":
        """From comma-separated CIDRs (empty: nothing beyond the rules)."""
        return cls(
            tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in text.split(",")
                if part.strip()
            )
        )

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed)

    def vet_host(self, host: str) -> None:
        """Refuse host names the registration refuses before any lookup (WebhookUrlError)."""
        if _literal(host) is None:
            refused = classify_hostname(host)
            if refused is not None:
                raise WebhookUrlError(*refused)

    def vet(self, host: str, addresses: Sequence[str]) -> str:
        """The address to connect to: the first resolved one, when every one is allowed.

        Every address must pass (not just the one used): a name mixing public and private
        answers is how rebinding attacks hide, and the registration refuses it too.
        """
        allowed = [a for a in addresses if self._allowed_text(a)]
        rest = [a for a in addresses if a not in allowed]
        if rest:
            check_addresses(host, rest)  # raises for the first refused one
        if not addresses:
            raise WebhookUrlError(UrlProblem.UNRESOLVABLE_HOST, f"host {host} has no addresses")
        return str(ipaddress.ip_address(addresses[0]))

    def _allowed_text(self, text: str) -> bool:
        address = _literal(text)
        return address is not None and self._allowed(address)


def _literal(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def is_literal(host: str) -> bool:
    """Whether the URL's host is an IP address (its verdict can never change)."""
    return _literal(host) is not None
