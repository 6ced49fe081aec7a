"""The address guard: connections to loopback, private, link-local and other non-public addresses are refused at connect time."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from streams.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_allow_entry(entry: str) -> tuple[IPNetwork, int | None]:
    """One allowlist entry: a network or address (``127.0.0.1/32``, ``::1``), or an address with a port
    (``127.0.0.1:8765``, ``[::1]:8765``), which allows that one service and no other port of the address.

    Raises ``ValueError`` naming the entry.
    """
    text = entry.strip()
    port: int | None = None
    if text.startswith("["):  # [v6]:port or [v6]
        address, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"allowlist entry {entry!r}: expected [address]:port")
            port = int(rest[1:])
        text = address
    elif text.count(":") == 1:  # v4:port (a v6 address has at least two colons)
        text, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"allowlist entry {entry!r}: expected address:port")
        port = int(port_text)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"allowlist entry {entry!r}: port {port} is out of range")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"allowlist entry {entry!r}: {exc}") from exc
    if port is not None and network.num_addresses != 1:
        raise ValueError(f"allowlist entry {entry!r}: a port goes with one address, not a network")
    return network, port


class AddressGuard:
    """Refuses connections to non-public addresses unless an allowlist entry covers them.

    An entry is a network (every port of its addresses) or one ``address:port`` (that service only: ``wirewatch
    run`` allows its sample server this way, not the rest of loopback). It runs in aiohttp's socket factory, so it
    sees the address and port actually connected to, on every redirect hop, whatever the hostname looked like
    (RELIABILITY.md, "Fetching feeds").
    """

    def __init__(self, allow: list[str]) -> None:
        entries = [parse_allow_entry(entry) for entry in allow]
        self.allow = [network for network, port in entries if port is None]
        self.allow_services = [(network, port) for network, port in entries if port is not None]

    def is_allowed(self, address: IPAddress, port: int | None = None) -> bool:
        if any(address in network for network in self.allow if network.version == address.version):
            return True
        if port is not None and any(
            port == allowed and network.version == address.version and address in network for network, allowed in self.allow_services
        ):
            return True
        return all(candidate.is_global for candidate in _embedded(address))

    def check(self, host: str, port: int | None = None) -> None:
        address = ipaddress.ip_address(host.split("%", 1)[0])
        if not self.is_allowed(address, port):
            where = f"{address}" if port is None else (f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}")
            raise BlockedAddress(f"connection to non-public address {where} refused (add it to WIREWATCH_FETCH_ALLOW_HOSTS to allow)")

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _canonname, sockaddr = addr_info
        self.check(str(sockaddr[0]), int(sockaddr[1]))
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
