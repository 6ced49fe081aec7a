"""The address guard: connections to loopback, private, link-local and other non-public addresses are refused at connect time."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from streams.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressGuard:
    """Refuses connections to non-public addresses unless an allowlisted network contains them.

    It runs in aiohttp's socket factory, so it sees the address actually connected to, on every
    redirect hop, whatever the hostname looked like (RELIABILITY.md, "Fetching feeds").
    """

    def __init__(self, allow: list[str]) -> None:
        self.allow = [ipaddress.ip_network(entry, strict=False) for entry in allow]

    def is_allowed(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allow if network.version == address.version):
            return True
        return all(candidate.is_global for candidate in _embedded(address))

    def check(self, host: str) -> None:
        address = ipaddress.ip_address(host.split("%", 1)[0])
        if not self.is_allowed(address):
            raise BlockedAddress(f"connection to non-public address {address} refused (add it to WIREWATCH_FETCH_ALLOW_HOSTS to allow)")

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _canonname, sockaddr = addr_info
        self.check(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address hidden in it (IPv4-mapped, NAT64, 6to4)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            found.append(address.ipv4_mapped)
        if address.sixtofour:
            found.append(address.sixtofour)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found
