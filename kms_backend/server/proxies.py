"""The client behind a load balancer: which peers are trusted proxies (``--trusted-proxies``), the PROXY protocol
header they put before a connection's first byte (versions 1 and 2, HAProxy's proxy-protocol.txt), and the
``X-Forwarded-For`` header they add to HTTP requests.

Only a trusted proxy may say who the client is: a header from any other peer is refused (PROXY) or ignored
(X-Forwarded-For), so a client cannot pick the address its connection caps, rate limit and audit lines go to.
A trusted proxy's connection without a header (HAProxy's health checks) is the proxy's own.

The parser is written here, from the specification, rather than taken from PyPI's ``proxy-protocol``: that package
is marked alpha, its version 1 parser sets no bound on the line, and a short version 2 address block escapes it as a
``struct.error`` instead of its own error. TLVs are checked for structure and skipped (none is used; a CRC32C TLV is
not verified: the header comes from a trusted proxy over TCP).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

V1_SIGNATURE = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: Longest version 1 line, CRLF included (``PROXY TCP6`` with two full IPv6 addresses and ports).
V1_MAX_LENGTH = 107
#: Version 2: the 16-byte fixed part, then up to 65535 bytes of addresses and TLVs.
V2_FIXED_LENGTH = 16
V2_MAX_LENGTH = V2_FIXED_LENGTH + 0xFFFF

_V2_COMMAND_LOCAL, _V2_COMMAND_PROXY = 0x0, 0x1
#: Address family (high nibble of byte 14) -> size of its address block (source, destination, ports).
_V2_ADDRESS_SIZES = {0x0: 0, 0x1: 12, 0x2: 36, 0x3: 216}
_V2_INET = struct.Struct("!4s4sHH")
_V2_INET6 = struct.Struct("!16s16sHH")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class ProxyProtocolError(ValueError):
    """A PROXY protocol header that is malformed, or that came from a peer that is not a trusted proxy."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """One parsed PROXY header: ``length`` bytes to drop from the stream, and the client it names (None for
    ``UNKNOWN`` / ``LOCAL`` / ``AF_UNSPEC`` / ``AF_UNIX``: the connection is the proxy's own)."""

    version: int
    length: int
    client: tuple[str, int] | None


def signature_status(data: bytes) -> bool | None:
    """Whether ``data`` starts with a PROXY signature: True, False, or None while it is a prefix of one (more bytes
    needed to tell)."""
    for signature in (V1_SIGNATURE, V2_SIGNATURE):
        if data.startswith(signature):
            return True
        if signature.startswith(data):
            return None
    return False


def parse_header(data: bytes) -> ProxyHeader | None:
    """The PROXY header at the start of ``data`` (which starts with a signature); None while it is incomplete.

    Raises ``ProxyProtocolError`` for anything the specification does not allow.
    """
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if data.startswith(V1_SIGNATURE):
        return _parse_v1(data)
    raise ProxyProtocolError("no PROXY protocol signature")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH or b"\n" in data[:V1_MAX_LENGTH]:
            raise ProxyProtocolError(f"PROXY v1 line not ended by CRLF within {V1_MAX_LENGTH} bytes")
        return None
    try:
        line = data[len(V1_SIGNATURE) : end].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyProtocolError("PROXY v1 line is not ASCII") from None
    fields = line.split(" ")
    length = end + 2
    if fields[0] == "UNKNOWN":  # the receiver ignores the rest of the line (proxy-protocol.txt 2.1)
        return ProxyHeader(1, length, None)
    if len(fields) != 5 or fields[0] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"PROXY v1 line is not 'TCP4|TCP6 SOURCE DESTINATION SPORT DPORT': {line[:64]!r}")
    family, source, destination, source_port, destination_port = fields
    kind = ipaddress.IPv4Address if family == "TCP4" else ipaddress.IPv6Address
    try:
        client = kind(source)
        kind(destination)
    except ValueError:
        raise ProxyProtocolError(f"PROXY v1 addresses are not {family}: {source!r}, {destination!r}") from None
    port = _v1_port(source_port)
    _v1_port(destination_port)
    return ProxyHeader(1, length, (normalized(str(client)), port))


def _v1_port(text: str) -> int:
    # Decimal, 0..65535, no sign and no leading zero (proxy-protocol.txt 2.1).
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0") or int(text) > 0xFFFF:
        raise ProxyProtocolError(f"PROXY v1 port {text[:8]!r} is not a number from 0 to 65535")
    return int(text)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < V2_FIXED_LENGTH:
        return None
    version_command, family_transport, size = data[12], data[13], int.from_bytes(data[14:16], "big")
    if version_command >> 4 != 0x2:
        raise ProxyProtocolError(f"PROXY v2 header of version {version_command >> 4} (only 2 exists)")
    command = version_command & 0x0F
    if command not in (_V2_COMMAND_LOCAL, _V2_COMMAND_PROXY):
        raise ProxyProtocolError(f"PROXY v2 command {command} is neither LOCAL (0) nor PROXY (1)")
    family, transport = family_transport >> 4, family_transport & 0x0F
    if family not in _V2_ADDRESS_SIZES or transport > 0x2:
        raise ProxyProtocolError(f"PROXY v2 address family/transport byte 0x{family_transport:02x} is undefined")
    length = V2_FIXED_LENGTH + size
    if len(data) < length:
        return None
    if command == _V2_COMMAND_LOCAL:  # the proxy's own connection (a health check): addresses are ignored
        return ProxyHeader(2, length, None)
    needed = _V2_ADDRESS_SIZES[family]
    if size < needed:
        raise ProxyProtocolError(f"PROXY v2 address block of {size} bytes, {needed} needed for its family")
    _check_tlvs(data[V2_FIXED_LENGTH + needed : length])
    block = data[V2_FIXED_LENGTH : V2_FIXED_LENGTH + needed]
    if family == 0x1:
        source, _, port, _ = _V2_INET.unpack(block)
        return ProxyHeader(2, length, (str(ipaddress.IPv4Address(source)), port))
    if family == 0x2:
        source, _, port, _ = _V2_INET6.unpack(block)
        return ProxyHeader(2, length, (normalized(str(ipaddress.IPv6Address(source))), port))
    return ProxyHeader(2, length, None)  # AF_UNSPEC or a UNIX socket: no network client to name


def _check_tlvs(data: bytes) -> None:
    """The TLVs after the addresses (ALPN, TLS details, unique id...) carry nothing used here, but they must tile
    the rest of the header exactly: a header whose length disagrees with its content is refused."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < 3:
            raise ProxyProtocolError("PROXY v2 header ends inside a TLV")
        offset += 3 + int.from_bytes(data[offset + 1 : offset + 3], "big")
    if offset != len(data):
        raise ProxyProtocolError("PROXY v2 TLV runs past the end of the header")


class TrustedProxies:
    """The networks whose peers may name the client (``--trusted-proxies``: addresses or CIDR blocks)."""

    def __init__(self, networks: Iterable[str]) -> None:
        parsed = []
        for entry in networks:
            try:
                parsed.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR block") from None
        self.networks = tuple(parsed)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: object) -> bool:
        parsed = _address(address) if isinstance(address, str) else None
        return parsed is not None and any(parsed in network for network in self.networks)

    def forwarded_client(self, peer: str, forwarded_for: Sequence[str]) -> str:
        """The client of an HTTP request from ``peer`` carrying ``X-Forwarded-For`` values ``forwarded_for``.

        Each proxy appends the address it received the request from, so the list is read from the right while the
        address at hand is a trusted proxy; the first address not trusted is the client. An entry that is not an
        address ends the walk at the last proxy that vouched for something valid.
        """
        client = peer
        if client not in self:
            return client
        entries = [part.strip() for value in forwarded_for for part in value.split(",")]
        for entry in reversed(entries):
            parsed = _address(_strip_port(entry))
            if parsed is None:
                break
            client = str(parsed)
            if client not in self:
                break
        return client


def _address(text: str) -> Address | None:
    """``text`` as an IP address (IPv4-mapped IPv6 addresses as IPv4), or None."""
    try:
        parsed = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _strip_port(entry: str) -> str:
    """``[2001:db8::1]:443`` -> ``2001:db8::1``, ``192.0.2.1:443`` -> ``192.0.2.1`` (some proxies add ports)."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else entry
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def normalized(address: str) -> str:
    """An address as the limits and the audit log key it: IPv4-mapped IPv6 (``::ffff:10.0.0.7``, what a dual-stack
    listener reports) as plain IPv4, so one client has one key whichever way it arrived."""
    parsed = _address(address)
    return str(parsed) if parsed is not None else address


__all__ = [
    "V1_MAX_LENGTH",
    "V1_SIGNATURE",
    "V2_MAX_LENGTH",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyProtocolError",
    "TrustedProxies",
    "normalized",
    "parse_header",
    "signature_status",
]
