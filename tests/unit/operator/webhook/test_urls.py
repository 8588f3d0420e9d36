"""Webhook URL validation: scheme, names, every resolved address, and the CEL subset's agreement."""

import ipaddress
import re
from collections.abc import Sequence

import pytest

from caas_core.domain.webhook_urls import (
    HOST_BLOCK_REGEX,
    HostResolutionError,
    UrlProblem,
    WebhookUrlError,
    classify_address,
    validate_webhook_url,
)

P = UrlProblem


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """A fake DNS: names in the table resolve, others fail like NXDOMAIN."""
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append((host, port))
        if host not in table:
            raise HostResolutionError("Name or service not known")
        return table[host]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


PUBLIC = resolver(
    {"hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
)


async def problem_of(url: str, *, allow_http: bool = False, table=None) -> UrlProblem | None:  # type: ignore[no-untyped-def]
    try:
        await validate_webhook_url(
            url, allow_insecure_http=allow_http, resolve=resolver(table or {}) if table else PUBLIC
        )
    except WebhookUrlError as exc:
        return exc.problem
    return None


# --- Addresses -------------------------------------------------------------------------------

ADDRESS_CASES = [
    ("0.0.0.0", P.UNSPECIFIED_ADDRESS),
    ("0.1.2.3", P.UNSPECIFIED_ADDRESS),
    ("127.0.0.1", P.LOOPBACK_ADDRESS),
    ("127.255.255.254", P.LOOPBACK_ADDRESS),
    ("10.0.0.1", P.PRIVATE_ADDRESS),
    ("10.255.255.255", P.PRIVATE_ADDRESS),
    ("172.16.0.1", P.PRIVATE_ADDRESS),
    ("172.31.255.255", P.PRIVATE_ADDRESS),
    ("192.168.1.1", P.PRIVATE_ADDRESS),
    ("100.64.0.1", P.SHARED_ADDRESS),
    ("100.127.255.255", P.SHARED_ADDRESS),
    ("169.254.0.1", P.LINK_LOCAL_ADDRESS),
    ("169.254.169.254", P.METADATA_ADDRESS),
    ("169.254.170.2", P.METADATA_ADDRESS),
    ("100.100.100.200", P.METADATA_ADDRESS),
    ("192.0.0.192", P.METADATA_ADDRESS),
    ("192.0.0.8", P.RESERVED_ADDRESS),
    ("192.0.2.10", P.RESERVED_ADDRESS),
    ("198.51.100.7", P.RESERVED_ADDRESS),
    ("203.0.113.9", P.RESERVED_ADDRESS),
    ("198.18.0.1", P.RESERVED_ADDRESS),
    ("198.19.255.255", P.RESERVED_ADDRESS),
    ("224.0.0.1", P.MULTICAST_ADDRESS),
    ("239.255.255.250", P.MULTICAST_ADDRESS),
    ("240.0.0.1", P.RESERVED_ADDRESS),
    ("255.255.255.255", P.RESERVED_ADDRESS),
    ("::", P.UNSPECIFIED_ADDRESS),
    ("::1", P.LOOPBACK_ADDRESS),
    ("::ffff:127.0.0.1", P.LOOPBACK_ADDRESS),
    ("::ffff:10.1.2.3", P.PRIVATE_ADDRESS),
    ("::ffff:169.254.169.254", P.METADATA_ADDRESS),
    ("64:ff9b::a9fe:a9fe", P.METADATA_ADDRESS),  # NAT64 of 169.254.169.254
    ("64:ff9b::7f00:1", P.LOOPBACK_ADDRESS),
    ("64:ff9b:1::1", P.PRIVATE_ADDRESS),
    ("2002:7f00:1::", P.LOOPBACK_ADDRESS),  # 6to4 of 127.0.0.1
    ("2002:c0a8:101::1", P.PRIVATE_ADDRESS),  # 6to4 of 192.168.1.1
    ("::7f00:1", P.LOOPBACK_ADDRESS),  # IPv4-compatible
    ("fc00::1", P.PRIVATE_ADDRESS),
    ("fd12:3456::1", P.PRIVATE_ADDRESS),
    ("fd00:ec2::254", P.METADATA_ADDRESS),
    ("fe80::1", P.LINK_LOCAL_ADDRESS),
    ("fe80::1%eth0", P.LINK_LOCAL_ADDRESS),
    ("fec0::1", P.PRIVATE_ADDRESS),
    ("ff02::1", P.MULTICAST_ADDRESS),
    ("100::1", P.RESERVED_ADDRESS),
    ("2001:db8::1", P.RESERVED_ADDRESS),
    ("2001:0:4136:e378::1", P.RESERVED_ADDRESS),  # Teredo
    ("4000::1", P.RESERVED_ADDRESS),  # outside 2000::/3
    ("93.184.215.14", None),
    ("1.1.1.1", None),
    ("8.8.8.8", None),
    ("172.15.255.255", None),
    ("172.32.0.1", None),
    ("100.63.255.255", None),
    ("100.128.0.1", None),
    ("169.253.255.255", None),
    ("223.255.255.255", None),
    ("2606:4700:4700::1111", None),
    ("2a00:1450:4001:82a::200e", None),
    ("::ffff:1.1.1.1", None),
    ("2002:101:101::1", None),  # 6to4 of 1.1.1.1
]


@pytest.mark.parametrize(("text", "expected"), ADDRESS_CASES)
def test_classify_address(text: str, expected: UrlProblem | None) -> None:
    assert classify_address(ipaddress.ip_address(text)) == expected


# --- URLs ------------------------------------------------------------------------------------

URL_CASES = [
    ("https://hooks.example.com/caas", None),
    ("https://hooks.example.com:8443/caas?x=1", None),
    ("HTTPS://HOOKS.EXAMPLE.COM/caas", None),
    ("https://hooks.example.com./caas", None),
    ("https://93.184.215.14/hook", None),
    ("https://[2606:4700:4700::1111]/hook", None),
    ("http://hooks.example.com/caas", P.INSECURE_SCHEME),
    ("ftp://hooks.example.com/", P.INVALID_URL),
    ("hooks.example.com/caas", P.INVALID_URL),
    ("https:///caas", P.INVALID_URL),
    ("", P.INVALID_URL),
    ("https://hooks.example.com/" + "a" * 2100, P.INVALID_URL),
    ("https://hooks.example.com/a b", P.INVALID_URL),
    ("https://hooks.example.com\\@evil/", P.INVALID_URL),
    ("https://hooks.example.com/#frag", P.INVALID_URL),
    ("https://hooks.example.com:0/", P.INVALID_URL),
    ("https://hooks.example.com:99999/", P.INVALID_URL),
    ("https://user:pass@hooks.example.com/", P.CREDENTIALS_IN_URL),
    ("https://token@hooks.example.com/", P.CREDENTIALS_IN_URL),
    ("https://127.0.0.1/x", P.LOOPBACK_ADDRESS),
    ("https://10.1.2.3/x", P.PRIVATE_ADDRESS),
    ("https://169.254.169.254/latest/meta-data", P.METADATA_ADDRESS),
    ("https://[::1]:8443/x", P.LOOPBACK_ADDRESS),
    ("https://[fd00:ec2::254]/", P.METADATA_ADDRESS),
    ("https://[::ffff:127.0.0.1]/", P.INVALID_HOST),
    ("https://[::ffff:1.1.1.1]/", P.INVALID_HOST),
    ("https://[fe80::1%25eth0]/", P.LINK_LOCAL_ADDRESS),
    ("https://localhost/x", P.LOOPBACK_ADDRESS),
    ("https://LocalHost:8080/x", P.LOOPBACK_ADDRESS),
    ("https://api.localhost/x", P.LOOPBACK_ADDRESS),
    ("https://metadata.google.internal/computeMetadata/v1/", P.METADATA_ADDRESS),
    ("https://metadata.goog/", P.METADATA_ADDRESS),
    ("https://instance-data.ec2.internal/", P.METADATA_ADDRESS),
    ("https://db.internal/", P.PRIVATE_HOSTNAME),
    ("https://printer.local/", P.PRIVATE_HOSTNAME),
    ("https://nas.home.arpa/", P.PRIVATE_HOSTNAME),
    ("https://redis.default.svc/", P.PRIVATE_HOSTNAME),
    ("https://kubernetes.default.svc.cluster.local/", P.PRIVATE_HOSTNAME),
    ("https://intranet/", P.PRIVATE_HOSTNAME),
    ("https://127.1/", P.INVALID_HOST),
    ("https://2130706433/", P.INVALID_HOST),
    ("https://0x7f.0.0.1/", P.INVALID_HOST),
    ("https://bad_name.example.com/", P.INVALID_HOST),
    ("https://-bad.example.com/", P.INVALID_HOST),
    ("https://%6c%6f%63%61%6c%68%6f%73%74/", P.INVALID_HOST),
    ("https://nowhere.example.net/", P.UNRESOLVABLE_HOST),
]


@pytest.mark.parametrize(("url", "expected"), URL_CASES)
async def test_urls(url: str, expected: UrlProblem | None) -> None:
    assert await problem_of(url) == expected


async def test_http_only_with_the_development_switch() -> None:
    assert await problem_of("http://hooks.example.com/x", allow_http=True) is None
    # The switch does not open anything else.
    assert await problem_of("http://127.0.0.1/x", allow_http=True) == P.LOOPBACK_ADDRESS


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        (["127.0.0.1"], P.LOOPBACK_ADDRESS),  # a public-looking name that points home
        (["93.184.215.14", "10.0.0.7"], P.PRIVATE_ADDRESS),  # one bad address of several
        (["2606:4700::1", "fd00:ec2::254"], P.METADATA_ADDRESS),
        (["::ffff:169.254.169.254"], P.METADATA_ADDRESS),
        (["not-an-ip"], P.UNRESOLVABLE_HOST),
        ([], P.UNRESOLVABLE_HOST),
        (["93.184.215.14", "93.184.215.14"], None),
    ],
)
async def test_every_resolved_address_is_checked(
    addresses: list[str], expected: UrlProblem | None
) -> None:
    table = {"rebind.example.com": addresses}
    assert await problem_of("https://rebind.example.com/x", table=table) == expected


async def test_the_verdict_names_what_was_checked_and_the_message_is_precise() -> None:
    resolve = resolver({"hooks.example.com": ["93.184.215.14"], "evil.example.com": ["10.0.0.5"]})
    ok = await validate_webhook_url(
        "https://hooks.example.com:8443/x", allow_insecure_http=False, resolve=resolve
    )
    assert (ok.host, ok.port, ok.addresses) == ("hooks.example.com", 8443, ("93.184.215.14",))
    assert resolve.asked == [("hooks.example.com", 8443)]  # type: ignore[attr-defined]
    with pytest.raises(WebhookUrlError) as refused:
        await validate_webhook_url(
            "https://evil.example.com/", allow_insecure_http=False, resolve=resolve
        )
    assert refused.value.message == (
        "host evil.example.com resolves to 10.0.0.5, a private address (RFC 1918 / unique local)"
    )
    assert not refused.value.retryable


async def test_names_refused_before_any_lookup_and_lookup_failures_are_retryable() -> None:
    resolve = resolver({})
    with pytest.raises(WebhookUrlError):
        await validate_webhook_url("https://localhost/", allow_insecure_http=False, resolve=resolve)
    assert resolve.asked == []  # type: ignore[attr-defined]
    with pytest.raises(WebhookUrlError) as missing:
        await validate_webhook_url(
            "https://gone.example.com/", allow_insecure_http=False, resolve=resolve
        )
    assert missing.value.retryable


async def test_idn_hosts_are_resolved_in_ascii() -> None:
    resolve = resolver({"xn--bcher-kva.example": ["93.184.215.14"]})
    ok = await validate_webhook_url(
        "https://bücher.example/hook", allow_insecure_http=False, resolve=resolve
    )
    assert ok.host == "xn--bcher-kva.example"


# --- The CEL subset agrees with the Python classifier ---------------------------------------

BLOCK = re.compile(HOST_BLOCK_REGEX)


def test_cel_regex_blocks_exactly_the_refused_ipv4_literals() -> None:
    # Every /16, probed at its edges and middle: a dotted quad is blocked by the CRD iff the
    # operator would refuse it.
    for a in range(256):
        for b in range(256):
            for c, d in ((0, 0), (0, 1), (128, 7), (255, 255)):
                address = f"{a}.{b}.{c}.{d}"
                refused = classify_address(ipaddress.ip_address(address)) is not None
                assert bool(BLOCK.search(f"https://{address}/x")) == refused, address


@pytest.mark.parametrize("text", [t for t, _ in ADDRESS_CASES if ":" in t and "%" not in t])
async def test_cel_regex_never_blocks_an_allowed_ipv6_literal(text: str) -> None:
    url = f"https://[{text}]/x"
    if BLOCK.search(url):
        assert await problem_of(url) is not None, url


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1]/",
        "https://[0:0:0:0:0:0:0:1]:8443/",
        "https://[::]/",
        "https://[::ffff:7f00:1]/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/",
        "https://[ff02::1]/",
        "https://localhost/",
        "https://LOCALHOST./x",
        "https://a.b.localhost:1/",
        "https://metadata.google.internal/",
        "https://metadata/",
        "https://x.svc.cluster.local/",
        "https://db.internal?x",
    ],
)
def test_cel_regex_blocks_well_known_bad_hosts(url: str) -> None:
    assert BLOCK.search(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x",
        "https://localhost.example.com/x",
        "https://internal.example.com/",
        "https://10a.example.com/",
        "https://1.1.1.1/",
        "https://[2606:4700::1111]/",
        "https://example.com/path/10.0.0.1",
        "https://example.com/?next=http://localhost/",
    ],
)
def test_cel_regex_lets_public_hosts_through(url: str) -> None:
    assert not BLOCK.search(url)


def test_cel_regex_is_quote_free_for_a_cel_raw_string() -> None:
    assert "'" not in HOST_BLOCK_REGEX
