"""The client's IP address behind trusted reverse proxies (for the login limit).

The peer is the client unless it is a trusted proxy; then `X-Forwarded-For` is read
from the right, past every trusted proxy, and the first address that is not one is
the client. An entry that is not an IP address stops the walk (whoever wrote it is
not trusted), so a client cannot pick its own address by prepending entries. The
same rule as the public forms use, with the same `http.trusted_proxies` setting.
Pure; imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network
MAX_HOPS = 20
MAX_HEADER = 2000


def networks(trusted: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ip_network(p, strict=False) for p in trusted)


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def client_ip(peer: str | None, forwarded: str | None, trusted: Sequence[Network]) -> str:
    """The client's address as text ('unknown' when the peer is not an address)."""
    current = _parse(peer or "")
    if current is None:
        return "unknown"
    if not forwarded or not trusted:
        return str(current)
    hops = forwarded[-MAX_HEADER:].split(",")[-MAX_HOPS:]
    for hop in reversed(hops):
        if not any(current in net for net in trusted):
            break
        found = _parse(hop)
        if found is None:
            break
        current = found
    return str(current)
