"""Webhook URL validation against SSRF: scheme, host names and every resolved address.

Pure: name resolution is injected (`Resolver`), so the same rules run at registration (the
operator) and, to defeat DNS rebinding, again at delivery time (the dispatcher) on the addresses
it is about to connect to. `HOST_BLOCK_REGEX` is the cheap subset the CRD's CEL rule can apply;
the unit tests prove it never blocks an address this module allows.
"""

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the host resolves to; raises HostResolutionError on failure.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

URL_MAX_LENGTH: Final = 2048
HTTPS: Final = "https"
HTTP: Final = "http"
_DEFAULT_PORTS: Final = {HTTPS: 443, HTTP: 80}
_HOSTNAME_MAX_LENGTH: Final = 253
_LABEL_RE: Final = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class UrlProblem(StrEnum):
    """Why a webhook URL is refused; each value is a condition reason."""

    INVALID_URL = "InvalidUrl"
    INSECURE_SCHEME = "InsecureScheme"
    CREDENTIALS_IN_URL = "CredentialsInUrl"
    INVALID_HOST = "InvalidHost"
    PRIVATE_HOSTNAME = "PrivateHostname"
    LOOPBACK_ADDRESS = "LoopbackAddress"
    PRIVATE_ADDRESS = "PrivateAddress"
    LINK_LOCAL_ADDRESS = "LinkLocalAddress"
    SHARED_ADDRESS = "SharedAddress"
    MULTICAST_ADDRESS = "MulticastAddress"
    UNSPECIFIED_ADDRESS = "UnspecifiedAddress"
    METADATA_ADDRESS = "MetadataAddress"
    RESERVED_ADDRESS = "ReservedAddress"
    UNRESOLVABLE_HOST = "UnresolvableHost"


# What each address class is called in messages.
_DESCRIPTIONS: Final = {
    UrlProblem.LOOPBACK_ADDRESS: "a loopback address",
    UrlProblem.PRIVATE_ADDRESS: "a private address (RFC 1918 / unique local)",
    UrlProblem.LINK_LOCAL_ADDRESS: "a link-local address",
    UrlProblem.SHARED_ADDRESS: "a carrier-grade NAT address (RFC 6598)",
    UrlProblem.MULTICAST_ADDRESS: "a multicast address",
    UrlProblem.UNSPECIFIED_ADDRESS: "an unspecified address",
    UrlProblem.METADATA_ADDRESS: "a cloud metadata endpoint",
    UrlProblem.RESERVED_ADDRESS: "a reserved or non-routable address",
}


class WebhookUrlError(ValueError):
    """The URL may not be used as a webhook endpoint."""

    def __init__(self, problem: UrlProblem, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message
        # Only a failed lookup may succeed later; every other verdict is about the URL itself.
        self.retryable = retryable


class HostResolutionError(LookupError):
    """A resolver could not resolve a host name (raised by Resolver implementations)."""


# Cloud metadata services: checked before the broader classes so the reason is precise.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
        "169.254.169.253",  # AWS VPC DNS
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
    )
)
METADATA_HOSTNAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
# Names that only ever resolve inside a site or host (RFC 6761, RFC 6762, RFC 8375, ICANN's
# .internal, Kubernetes service names).
LOOPBACK_SUFFIXES: Final = ("localhost",)
PRIVATE_SUFFIXES: Final = (
    "local",
    "internal",
    "home.arpa",
    "localdomain",
    "svc",
    "lan",
    "intranet",
)

# Ordered: the first network containing an address names its class.
_IPV4_NETWORKS: Final = tuple(
    (ipaddress.IPv4Network(net), problem)
    for net, problem in (
        ("0.0.0.0/8", UrlProblem.UNSPECIFIED_ADDRESS),
        ("127.0.0.0/8", UrlProblem.LOOPBACK_ADDRESS),
        ("10.0.0.0/8", UrlProblem.PRIVATE_ADDRESS),
        ("172.16.0.0/12", UrlProblem.PRIVATE_ADDRESS),
        ("192.168.0.0/16", UrlProblem.PRIVATE_ADDRESS),
        ("100.64.0.0/10", UrlProblem.SHARED_ADDRESS),
        ("169.254.0.0/16", UrlProblem.LINK_LOCAL_ADDRESS),
        ("192.0.0.0/24", UrlProblem.RESERVED_ADDRESS),  # IETF protocol assignments
        ("192.0.2.0/24", UrlProblem.RESERVED_ADDRESS),  # documentation
        ("198.51.100.0/24", UrlProblem.RESERVED_ADDRESS),  # documentation
        ("203.0.113.0/24", UrlProblem.RESERVED_ADDRESS),  # documentation
        ("198.18.0.0/15", UrlProblem.RESERVED_ADDRESS),  # benchmarking
        ("192.88.99.0/24", UrlProblem.RESERVED_ADDRESS),  # deprecated 6to4 relays
        ("224.0.0.0/4", UrlProblem.MULTICAST_ADDRESS),
        ("240.0.0.0/4", UrlProblem.RESERVED_ADDRESS),  # includes 255.255.255.255
    )
)
_IPV6_NETWORKS: Final = tuple(
    (ipaddress.IPv6Network(net), problem)
    for net, problem in (
        ("::/128", UrlProblem.UNSPECIFIED_ADDRESS),
        ("::1/128", UrlProblem.LOOPBACK_ADDRESS),
        ("64:ff9b:1::/48", UrlProblem.PRIVATE_ADDRESS),  # local-use NAT64
        ("100::/64", UrlProblem.RESERVED_ADDRESS),  # discard-only
        ("2001::/32", UrlProblem.RESERVED_ADDRESS),  # Teredo tunnels
        ("2001:db8::/32", UrlProblem.RESERVED_ADDRESS),  # documentation
        ("fc00::/7", UrlProblem.PRIVATE_ADDRESS),  # unique local
        ("fe80::/10", UrlProblem.LINK_LOCAL_ADDRESS),
        ("fec0::/10", UrlProblem.PRIVATE_ADDRESS),  # deprecated site-local
        ("ff00::/8", UrlProblem.MULTICAST_ADDRESS),
    )
)
# IPv6 forms that carry an IPv4 address, which is what a connection really reaches.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR: Final = ipaddress.IPv6Network("2002::/16")
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")
_GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")


def classify_address(address: IPAddress) -> UrlProblem | None:
    """Why a webhook may not connect to `address`, or None for a public unicast address."""
    if address in METADATA_ADDRESSES:
        return UrlProblem.METADATA_ADDRESS
    if isinstance(address, ipaddress.IPv4Address):
        return next((problem for net, problem in _IPV4_NETWORKS if address in net), None)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return classify_address(embedded)
    if address.scope_id:
        return UrlProblem.LINK_LOCAL_ADDRESS  # a zone only makes sense for local scopes
    found = next((problem for net, problem in _IPV6_NETWORKS if address in net), None)
    if found is not None:
        return found
    # Outside 2000::/3 nothing is routable on the internet today.
    return None if address in _GLOBAL_UNICAST_V6 else UrlProblem.RESERVED_ADDRESS


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    packed = int(address)
    if address in _NAT64:
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((packed >> 80) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and packed > 1:  # ::/128 and ::1 are classified as such
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def describe_address(address: IPAddress, problem: UrlProblem) -> str:
    """`10.0.0.5, a private address (...)`."""
    return f"{address}, {_DESCRIPTIONS.get(problem, 'not allowed')}"


def classify_hostname(host: str) -> tuple[UrlProblem, str] | None:
    """Why a host name is refused before any lookup, or None; `host` is lowercase ASCII."""
    name = host.removesuffix(".")
    if name in METADATA_HOSTNAMES:
        return UrlProblem.METADATA_ADDRESS, f"host {name} is a cloud metadata endpoint"
    labels = name.split(".")
    if any(name == s or name.endswith(f".{s}") for s in LOOPBACK_SUFFIXES):
        return UrlProblem.LOOPBACK_ADDRESS, f"host {name} always means this machine (RFC 6761)"
    if any(name == s or name.endswith(f".{s}") for s in PRIVATE_SUFFIXES):
        return (
            UrlProblem.PRIVATE_HOSTNAME,
            f"host {name} is a site-local name that only resolves inside a private network",
        )
    if len(labels) == 1:
        return (
            UrlProblem.PRIVATE_HOSTNAME,
            f"host {name} is a single-label name, resolved through local search domains; "
            "use a fully qualified public name",
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookUrl:
    """A URL that passed every check, with what it was checked against."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse_webhook_url(url: str, *, allow_insecure_http: bool) -> tuple[SplitResult, str, int]:
    """Check the URL's syntax, scheme and host name; return (parts, ascii host, port)."""
    if not url or len(url) > URL_MAX_LENGTH:
        raise WebhookUrlError(
            UrlProblem.INVALID_URL, f"url must be 1 to {URL_MAX_LENGTH} characters long"
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url):
        raise WebhookUrlError(UrlProblem.INVALID_URL, "url contains whitespace or control chars")
    try:
        parts = urlsplit(url)
        port_number = parts.port
    except ValueError as exc:
        raise WebhookUrlError(UrlProblem.INVALID_URL, f"url is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise WebhookUrlError(
            UrlProblem.INVALID_URL, "url must be an absolute https:// URL with a host"
        )
    if scheme == HTTP and not allow_insecure_http:
        raise WebhookUrlError(
            UrlProblem.INSECURE_SCHEME,
            "url must use https; plain http is accepted only with spec.allowInsecureHttp "
            "on an operator running in development (CAAS_ENV=development)",
        )
    if "@" in parts.netloc:
        raise WebhookUrlError(
            UrlProblem.CREDENTIALS_IN_URL,
            "url must not carry credentials (user:password@); "
            "receivers verify the webhook-signature header instead",
        )
    if parts.fragment:
        raise WebhookUrlError(UrlProblem.INVALID_URL, "url must not have a #fragment")
    if port_number == 0:
        raise WebhookUrlError(UrlProblem.INVALID_URL, "url port must be between 1 and 65535")
    host = _ascii_host(parts.hostname or "")
    return parts, host, port_number or _DEFAULT_PORTS[scheme]


def _ascii_host(raw: str) -> str:
    if not raw:
        raise WebhookUrlError(UrlProblem.INVALID_HOST, "url has no host")
    literal = _ip_literal(raw)
    if literal is not None:
        if isinstance(literal, ipaddress.IPv6Address) and literal.ipv4_mapped is not None:
            raise WebhookUrlError(
                UrlProblem.INVALID_HOST,
                f"host {raw} is an IPv4-mapped IPv6 literal; write the IPv4 address itself",
            )
        return str(literal)
    try:
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise WebhookUrlError(
            UrlProblem.INVALID_HOST, f"host {raw!r} is not a valid name"
        ) from None
    name = host.removesuffix(".")
    labels = name.split(".")
    if len(name) > _HOSTNAME_MAX_LENGTH or not all(_LABEL_RE.fullmatch(lb) for lb in labels):
        raise WebhookUrlError(UrlProblem.INVALID_HOST, f"host {raw!r} is not a valid DNS name")
    if labels[-1].isdigit() or labels[-1].startswith("0x"):
        # 127.1, 2130706433 or 0x7f.0.0.1 are IPv4 addresses to many resolvers; no TLD looks so.
        raise WebhookUrlError(
            UrlProblem.INVALID_HOST,
            f"host {raw!r} looks like a non-standard IPv4 literal; use a DNS name or a dotted quad",
        )
    return name


def _ip_literal(raw: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(raw)
    except ValueError:
        return None


def check_addresses(
    host: str, addresses: Iterable[str], *, allow_networks: Sequence[IPNetwork] = ()
) -> tuple[str, ...]:
    """Every address must be public (or inside `allow_networks`: local receivers in
    development); raise for the first that is not (the rest are moot)."""
    checked: list[str] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise WebhookUrlError(
                UrlProblem.UNRESOLVABLE_HOST,
                f"host {host} resolved to {text!r}, which is not an IP address",
            ) from None
        problem = classify_address(address)
        if problem is not None and not any(address in n for n in allow_networks):
            where = f"host {host} is" if host == str(address) else f"host {host} resolves to"
            raise WebhookUrlError(problem, f"{where} {describe_address(address, problem)}")
        checked.append(str(address))
    if not checked:
        raise WebhookUrlError(
            UrlProblem.UNRESOLVABLE_HOST, f"host {host} has no addresses", retryable=True
        )
    return tuple(dict.fromkeys(checked))


async def validate_webhook_url(
    url: str,
    *,
    allow_insecure_http: bool,
    resolve: Resolver,
    allow_networks: Sequence[IPNetwork] = (),
) -> WebhookUrl:
    """Accept the URL only if its scheme, name and every resolved address are allowed
    (`allow_networks`: development's local receivers, never set in production)."""
    parts, host, port = parse_webhook_url(url, allow_insecure_http=allow_insecure_http)
    literal = _ip_literal(host)
    if literal is not None:
        addresses = check_addresses(host, [host], allow_networks=allow_networks)
    else:
        refused = classify_hostname(host)
        if refused is not None:
            raise WebhookUrlError(*refused)
        try:
            resolved = await resolve(host, port)
        except HostResolutionError as exc:
            raise WebhookUrlError(
                UrlProblem.UNRESOLVABLE_HOST,
                f"host {host} could not be resolved: {exc}",
                retryable=True,
            ) from None
        addresses = check_addresses(host, resolved, allow_networks=allow_networks)
    return WebhookUrl(
        url=url, scheme=parts.scheme.lower(), host=host, port=port, addresses=addresses
    )


# ----------------------------------------------------------------------------------------------
# The CEL subset, as an RE2 pattern (used in a CEL raw string, so it holds no quote). RE2 has no
# lookarounds; octets and hextets are spelled out instead.
_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def _v4(*prefix: str) -> str:
    return r"\.".join([*prefix, *[_OCTET] * (4 - len(prefix))])


def _name(name: str) -> str:
    return name.replace(".", r"\.")


_BLOCKED_V4_LITERALS: Final = (
    _v4("0"),
    _v4("10"),
    _v4("127"),
    _v4("169", "254"),
    _v4("172", "(1[6-9]|2[0-9]|3[01])"),
    _v4("192", "168"),
    _v4("100", "(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])"),
    _v4("192", "0", "0"),
    _v4("192", "0", "2"),
    _v4("198", "51", "100"),
    _v4("203", "0", "113"),
    _v4("198", "1[89]"),
    _v4("192", "88", "99"),
    _v4("(22[4-9]|23[0-9]|24[0-9]|25[0-5])"),
)
_BLOCKED_V6_LITERALS: Final = (
    r"\[(0{0,4}:){2,7}0{0,4}\]",  # :: spelled any way
    r"\[(0{0,4}:){2,7}0{0,3}1\]",  # ::1 spelled any way
    r"\[(0{0,4}:){1,6}ffff:[^\]]*\]",  # IPv4-mapped
    r"\[f[cd][0-9a-f]{2}:[^\]]*\]",  # unique local
    r"\[fe[89a-f][0-9a-f]:[^\]]*\]",  # link-local and site-local
    r"\[ff[0-9a-f]{2}:[^\]]*\]",  # multicast
)
_BLOCKED_NAMES: Final = (
    "[a-z0-9-]+",  # single-label names (this covers localhost, metadata, instance-data too)
    *(_name(n) for n in sorted(METADATA_HOSTNAMES) if "." in n),
    *(rf"([a-z0-9-]+\.)*{_name(s)}" for s in (*LOOPBACK_SUFFIXES, *PRIVATE_SUFFIXES)),
)
HOST_BLOCK_REGEX: Final = (
    r"(?i)^[a-z][a-z0-9+.-]*://("
    + "|".join((*_BLOCKED_V4_LITERALS, *_BLOCKED_V6_LITERALS, *_BLOCKED_NAMES))
    + r")\.?([:/?#]|$)"
)
