"""What the per-IP budgets count (entrypoints/http/throttling.py): an IPv6 host
holds a whole /64, so it gets one budget, not one per address."""

from __future__ import annotations

import pytest

from entrypoints.http.throttling import budget_key


def test_every_address_of_one_ipv6_slash_64_shares_one_budget() -> None:
    keys = {budget_key(host) for host in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff")}
    assert keys == {"2001:db8:1:2::/64"}


def test_neighbouring_ipv6_networks_have_budgets_of_their_own() -> None:
    assert budget_key("2001:db8:1:2::1") != budget_key("2001:db8:1:3::1")


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # that IPv4 host, however it arrived
        ("testclient", "testclient"),  # not an address: kept as it is
    ],
)
def test_ipv4_hosts_and_names_count_as_themselves(host: str, key: str) -> None:
    assert budget_key(host) == key
