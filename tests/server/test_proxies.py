"""PROXY protocol headers (v1 and v2, HAProxy's proxy-protocol.txt), trusted proxies and X-Forwarded-For
(``server.proxies``); the headers are built here from the specification's layout, field by field."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from kms_backend.server.config import ConfigError, load_config
from kms_backend.server.proxies import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    TrustedProxies,
    parse_header,
    signature_status,
)


def v2(
    command: int = 0x1, family: int = 0x1, transport: int = 0x1, body: bytes | None = None, tlvs: bytes = b""
) -> bytes:
    """A version 2 header: signature, version|command, family|transport, length, addresses, TLVs."""
    if body is None:
        if family == 0x1:
            body = struct.pack("!4s4sHH", bytes([203, 0, 113, 7]), bytes([10, 0, 0, 1]), 51000, 5696)
        elif family == 0x2:
            source = ipaddress.IPv6Address("2001:db8::7").packed
            body = struct.pack("!16s16sHH", source, ipaddress.IPv6Address("2001:db8::1").packed, 51000, 5696)
        else:
            body = b""
    body += tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family << 4 | transport]) + struct.pack("!H", len(body)) + body


# -- version 1 ----------------------------------------------------------------------------------------------------


def test_v1_tcp4_and_tcp6_name_the_client() -> None:
    line = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 5696\r\n"
    assert parse_header(line + b"\x16\x03\x01") == ProxyHeader(1, len(line), ("203.0.113.7", 51000))
    line6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 65535 443\r\n"
    assert parse_header(line6) == ProxyHeader(1, len(line6), ("2001:db8::7", 65535))


def test_v1_ipv4_mapped_client_is_keyed_as_ipv4() -> None:
    line = b"PROXY TCP6 ::ffff:203.0.113.7 ::1 51000 5696\r\n"
    header = parse_header(line)
    assert header is not None and header.client == ("203.0.113.7", 51000)


def test_v1_unknown_is_the_proxys_own_connection() -> None:
    line = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"
    assert parse_header(line) == ProxyHeader(1, len(line), None)
    assert parse_header(b"PROXY UNKNOWN\r\n") == ProxyHeader(1, 15, None)


def test_v1_incomplete_line_waits_for_more() -> None:
    assert parse_header(b"PROXY TCP4 203.0.113.7 10.0.0.1 51") is None


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 203.0.113.7 10.0.0.1 51000\r\n",  # a field missing
        b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 5696 extra\r\n",
        b"PROXY TCP4  203.0.113.7 10.0.0.1 51000 5696\r\n",  # two spaces
        b"PROXY UDP4 203.0.113.7 10.0.0.1 51000 5696\r\n",
        b"PROXY TCP4 2001:db8::7 10.0.0.1 51000 5696\r\n",  # family and address disagree
        b"PROXY TCP6 203.0.113.7 2001:db8::1 51000 5696\r\n",
        b"PROXY TCP4 203.0.113.256 10.0.0.1 51000 5696\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.1 65536 5696\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.1 051000 5696\r\n",  # leading zero
        b"PROXY TCP4 203.0.113.7 10.0.0.1 -1 5696\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 +5696\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 5696\n",  # LF without CR
        b"PROXY TCP4 203.0.113.7 10.0.0.1 \xd9\xa1 5696\r\n",  # not ASCII
        b"PROXY TCP4 " + b"1" * 200,  # no CRLF within 107 bytes
    ],
)
def test_malformed_v1_is_refused(line: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_header(line)


# -- version 2 ----------------------------------------------------------------------------------------------------


def test_v2_inet_and_inet6_name_the_client() -> None:
    header = v2()
    assert parse_header(header + b"\x16\x03\x01") == ProxyHeader(2, 16 + 12, ("203.0.113.7", 51000))
    header6 = v2(family=0x2)
    assert parse_header(header6) == ProxyHeader(2, 16 + 36, ("2001:db8::7", 51000))


def test_v2_tlvs_are_skipped_but_must_fit() -> None:
    tlvs = bytes([0x01]) + struct.pack("!H", 2) + b"h2" + bytes([0x05]) + struct.pack("!H", 3) + b"abc"
    header = v2(tlvs=tlvs)
    assert parse_header(header) == ProxyHeader(2, len(header), ("203.0.113.7", 51000))
    with pytest.raises(ProxyProtocolError, match="TLV"):
        parse_header(v2(tlvs=bytes([0x01]) + struct.pack("!H", 9) + b"h2"))  # runs past the end
    with pytest.raises(ProxyProtocolError, match="TLV"):
        parse_header(v2(tlvs=b"\x01\x00"))  # a TLV cut inside its own type and length


def test_v2_local_unspec_and_unix_are_the_proxys_own_connection() -> None:
    # LOCAL: a health check of HAProxy's; the addresses, if any, are ignored.
    local = v2(command=0x0)
    assert parse_header(local) == ProxyHeader(2, len(local), None)
    unspec = v2(family=0x0, transport=0x0)
    assert parse_header(unspec) == ProxyHeader(2, 16, None)
    unix = v2(family=0x3, body=b"\x00" * 216)
    assert parse_header(unix) == ProxyHeader(2, 16 + 216, None)


def test_v2_incomplete_header_waits_for_more() -> None:
    header = v2()
    for cut in (12, 15, 16, len(header) - 1):
        assert parse_header(header[:cut]) is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\x00" * 12, "version 1"),  # version nibble 1
        (V2_SIGNATURE + b"\x31\x11\x00\x0c" + b"\x00" * 12, "version 3"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c" + b"\x00" * 12, "command 2"),
        (V2_SIGNATURE + b"\x21\x41\x00\x0c" + b"\x00" * 12, "0x41"),  # family 4
        (V2_SIGNATURE + b"\x21\x13\x00\x0c" + b"\x00" * 12, "0x13"),  # transport 3
        (V2_SIGNATURE + b"\x21\x11\x00\x08" + b"\x00" * 8, "8 bytes, 12 needed"),  # INET block too short
        (V2_SIGNATURE + b"\x21\x21\x00\x0c" + b"\x00" * 12, "12 bytes, 36 needed"),  # INET6 block too short
    ],
)
def test_malformed_v2_is_refused(header: bytes, message: str) -> None:
    with pytest.raises(ProxyProtocolError, match=message):
        parse_header(header)


def test_signature_status() -> None:
    assert signature_status(b"PROXY TCP4 ") is True
    assert signature_status(V2_SIGNATURE + b"\x21") is True
    assert signature_status(b"PRO") is None  # could still be either
    assert signature_status(b"\r\n\r\n") is None
    assert signature_status(b"\x16\x03\x01\x02\x00") is False  # a TLS ClientHello
    assert signature_status(b"POST /kmip") is False
    assert signature_status(b"GET / HTTP/1.1") is False


# -- trusted proxies and X-Forwarded-For ---------------------------------------------------------------------------


def test_trusted_proxies_match_addresses_and_blocks() -> None:
    trusted = TrustedProxies(["10.0.0.0/8", "2001:db8::1", "192.0.2.5/32"])
    assert "10.1.2.3" in trusted and "2001:db8::1" in trusted and "192.0.2.5" in trusted
    assert "::ffff:10.1.2.3" in trusted  # what a dual-stack listener reports for an IPv4 peer
    assert "11.0.0.1" not in trusted and "2001:db8::2" not in trusted and "not-an-address" not in trusted
    assert not TrustedProxies([]) and "127.0.0.1" not in TrustedProxies([])
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies(["10.0.0.0/33"])


def test_forwarded_for_is_read_from_the_right_through_trusted_proxies_only() -> None:
    trusted = TrustedProxies(["10.0.0.0/8"])
    # One proxy: the address it appended is the client.
    assert trusted.forwarded_client("10.0.0.2", ["198.51.100.7"]) == "198.51.100.7"
    # A forged entry on the left is not reached: the first untrusted address from the right is the client.
    assert trusted.forwarded_client("10.0.0.2", ["1.2.3.4, 198.51.100.7"]) == "198.51.100.7"
    # Two proxies in a row, split over two header lines, with ports and IPv6 brackets.
    assert trusted.forwarded_client("10.0.0.2", ["198.51.100.7:5000", "10.0.0.3"]) == "198.51.100.7"
    assert trusted.forwarded_client("10.0.0.2", ["[2001:db8::7]:443"]) == "2001:db8::7"
    # A peer that is not a trusted proxy: its header says nothing.
    assert trusted.forwarded_client("198.51.100.9", ["1.2.3.4"]) == "198.51.100.9"
    # Garbage stops the walk at the last proxy: the proxy itself, when its own entry is garbage.
    assert trusted.forwarded_client("10.0.0.2", ["unknown"]) == "10.0.0.2"
    assert trusted.forwarded_client("10.0.0.2", ["198.51.100.7, garbage, 10.0.0.4"]) == "10.0.0.4"
    # Every entry trusted: the leftmost proxy is as far as the header reaches.
    assert trusted.forwarded_client("10.0.0.2", ["10.0.0.5"]) == "10.0.0.5"


def test_trusted_proxies_option() -> None:
    config = load_config({"trusted_proxies": "10.0.0.0/8, 2001:db8::/32"})
    assert config.trusted_proxies == ("10.0.0.0/8", "2001:db8::/32")
    assert load_config({}).trusted_proxies == ()
    assert load_config({}, {"KEYSTEAD_TRUSTED_PROXIES": "192.0.2.1"}).trusted_proxies == ("192.0.2.1",)
    with pytest.raises(ConfigError, match="--trusted-proxies: 'haproxy' is not an IP address or CIDR block"):
        load_config({"trusted_proxies": "haproxy"})
