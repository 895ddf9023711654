"""What the per-IP request budgets key on."""

import ipaddress

from fastapi import Request

# One IPv6 host commonly holds a whole /64 (RFC 6177, SLAAC privacy addresses):
# counted by full address, it would get 2^64 budgets.
IPV6_PREFIX = 64


def client_ip(request: Request) -> str | None:
    """The peer address (behind a trusted proxy the server puts the forwarded
    one here), as the per-IP budgets count it: `budget_key`."""
    return budget_key(request.client.host) if request.client else None


def budget_key(host: str) -> str:
    """An IPv4 address as it is; an IPv6 address as its /64 network."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an address: a test client's name, a socket path
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.7 is that IPv4 host
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return host
