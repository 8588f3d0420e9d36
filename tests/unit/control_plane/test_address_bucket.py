"""Per-address limits count IPv4 addresses and IPv6 /64s; junk shares one bucket."""

import pytest

from caas_control_plane.services.context import UNPARSEABLE_ADDRESS, ClientInfo, address_bucket


@pytest.mark.parametrize(
    ("ip", "bucket"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same subscriber
        ("2001:DB8:1:2::7", "2001:db8:1:2::/64"),  # spelling does not matter
        ("::ffff:203.0.113.9", "203.0.113.9"),  # an IPv4 client seen through a v6 socket
        ("::1", "::/64"),
        ("foo", UNPARSEABLE_ADDRESS),
        ("203.0.113.9, 10.0.0.1", UNPARSEABLE_ADDRESS),
        ("", UNPARSEABLE_ADDRESS),
    ],
)
def test_address_bucket(ip: str, bucket: str) -> None:
    assert address_bucket(ip) == bucket


def test_neighbouring_ipv6_subscribers_have_separate_buckets() -> None:
    assert address_bucket("2001:db8:1:2::1") != address_bucket("2001:db8:1:3::1")


def test_a_client_without_address_has_no_bucket_but_keeps_its_ip_as_given() -> None:
    assert ClientInfo().address_bucket is None
    client = ClientInfo(ip="2001:db8:1:2:aaaa::1")
    assert client.address_bucket == "2001:db8:1:2::/64"
    assert client.ip == "2001:db8:1:2:aaaa::1"  # sessions and audit record the address itself
