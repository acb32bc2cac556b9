"""Refuse hostile feed URLs (SSRF): loopback, private, link-local, metadata, multicast, reserved.

Two layers, both needed (issue 5):
- `check_url` runs before every request and every redirect hop: scheme, host, and literal IP
  hosts (aiohttp never passes IP literals to the resolver, so this is their only check).
- `GuardedResolver` wraps aiohttp's resolver, so every address a hostname resolves to is checked
  right before the connection uses it. A name that resolved to a public address for a pre-check
  and to 127.0.0.1 a second later (DNS rebinding) is refused here.

`allow_private_networks` (config `fetch.allow_private_networks`, off by default) lets tests and
home labs reach loopback, RFC 1918, CGNAT (100.64/10) and ULA (fc00::/7) addresses. Link-local
addresses (169.254/16, fe80::/10, which include the cloud metadata service 169.254.169.254),
known metadata addresses in other ranges, multicast, unspecified and reserved addresses are
ALWAYS refused: no feed lives there, and a redirect to the metadata service is the classic way to
steal cloud credentials through a fetcher.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Final, Literal
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

AddressKind = Literal[
    "loopback",
    "private",
    "shared (CGNAT)",
    "link-local",
    "cloud metadata",
    "multicast",
    "unspecified",
    "reserved",
]

# Reachable only when allow_private_networks is on.
PRIVATE_KINDS: Final[frozenset[AddressKind]] = frozenset({"loopback", "private", "shared (CGNAT)"})

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Instance metadata services (AWS, GCP, Azure, Oracle, DigitalOcean use 169.254.169.254; ECS and
# EKS use other link-local ones; Alibaba 100.100.100.200 sits in CGNAT space; AWS IPv6 in ULA).
_METADATA: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)

_RANGES: Final[tuple[tuple[_V4 | _V6, AddressKind], ...]] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V6("::/128"), "unspecified"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V6("::1/128"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V6("fe80::/10"), "link-local"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V6("ff00::/8"), "multicast"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V6("fc00::/7"), "private"),
    (_V4("100.64.0.0/10"), "shared (CGNAT)"),
    # Deprecated IPv4-compatible IPv6 (::a.b.c.d): never used legitimately.
    (_V6("::/96"), "reserved"),
)
_NAT64: Final = _V6("64:ff9b::/96")

# Hosts made only of digits, dots, hex letters and "x" may be a legacy numeric IPv4 form
# (2130706433, 127.1, 0x7f.0.0.1) that the C library would read as an address.
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.I)


class UnsafeURLError(ValueError):
    """A URL or resolved address the fetcher refuses to contact. The message is for operators."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


def classify_address(ip: IPAddress) -> AddressKind | None:
    """Why this address is not a public internet address, or None if it is one."""
    if ip in _METADATA:
        return "cloud metadata"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return classify_address(embedded)
    for network, kind in _RANGES:
        if ip.version == network.version and ip in network:
            return kind
    if not ip.is_global:
        return "reserved"  # documentation, benchmarking, 240/4, Teredo, ...
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address; those reach it."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress, allow_private_networks: bool) -> str | None:
    """Why connecting to `ip` is refused ("a loopback address; set ... to allow"), or None."""
    kind = classify_address(ip)
    if kind is None or (allow_private_networks and kind in PRIVATE_KINDS):
        return None
    article = "an" if kind[0] in "aeiou" else "a"
    if kind in PRIVATE_KINDS:
        fix = "set fetch.allow_private_networks = true to allow"
    else:
        fix = "such addresses are always refused, even with fetch.allow_private_networks"
    return f"{article} {kind} address; {fix}"


def check_url(url: str, allow_private_networks: bool = False) -> None:
    """Raise UnsafeURLError unless `url` may be fetched. No DNS lookup happens here.

    Checks the scheme (http/https only), that there is a host, and literal IP hosts (also legacy
    numeric forms such as 2130706433). "localhost" and *.localhost count as loopback (RFC 6761).
    Hostnames are otherwise checked after resolution, by GuardedResolver.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise UnsafeURLError(f"refusing {url}: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        shown = parts.scheme or "no scheme"
        raise UnsafeURLError(f"refusing {url}: only http and https URLs are fetched, not {shown}")
    if not host:
        raise UnsafeURLError(f"refusing {url}: the URL has no host")

    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        ip: IPAddress | None = ipaddress.IPv4Address("127.0.0.1")
    else:
        ip = _literal_ip(host)
    if ip is None:
        return
    reason = refusal_reason(ip, allow_private_networks)
    if reason is not None:
        # A legacy numeric form or "localhost" is spelled out; a plain literal is not repeated.
        plain = host == str(ip) or ":" in host
        subject = f"{host} is" if plain else f"{host} is {ip},"
        raise UnsafeURLError(f"refusing {url}: {subject} {reason}", address=str(ip))


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses hostnames resolving to addresses check_url would refuse.

    Wraps another resolver (aiohttp's ThreadedResolver by default, created on first use so that
    this object can be built outside a running event loop). If any address a name resolves to
    is refused, the whole name is refused: a public name with an internal address among its
    records is a rebinding attempt or a misconfiguration, and a clear error beats a lucky pick.
    """

    def __init__(
        self, inner: AbstractResolver | None = None, *, allow_private_networks: bool = False
    ) -> None:
        self._inner = inner
        self.allow_private_networks = allow_private_networks

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            try:
                ip = ipaddress.ip_address(result["host"])
            except ValueError:
                raise UnsafeURLError(
                    f"refusing host {host}: it resolved to {result['host']!r}, not an IP address"
                ) from None
            reason = refusal_reason(ip, self.allow_private_networks)
            if reason is not None:
                raise UnsafeURLError(
                    f"refusing host {host}: it resolves to {result['host']}, {reason}",
                    address=str(ip),
                )
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
