"""SSRF guard: address classes, URL pre-checks and the resolver wrapper (table-driven)."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.feeds.netguard import GuardedResolver, UnsafeURLError, check_url, classify_address


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address: fine
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.255", "shared (CGNAT)"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),  # documentation range
        ("2001:db8::1", "reserved"),
        # IPv6 forms that reach an IPv4 address are judged by that address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible
    ],
)
def test_classify_address(address: str, kind: str | None) -> None:
    assert classify_address(ipaddress.ip_address(address)) == kind


FIX = "set fetch.allow_private_networks = true to allow"
ALWAYS = "such addresses are always refused, even with fetch.allow_private_networks"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://127.0.0.1:8080/feed",
            f"refusing http://127.0.0.1:8080/feed: 127.0.0.1 is a loopback address; {FIX}",
        ),
        (
            "http://localhost/rss",
            f"refusing http://localhost/rss: localhost is 127.0.0.1, a loopback address; {FIX}",
        ),
        (
            "http://feeds.localhost/rss",
            "refusing http://feeds.localhost/rss: feeds.localhost is 127.0.0.1, "
            f"a loopback address; {FIX}",
        ),
        (
            "http://2130706433/",
            f"refusing http://2130706433/: 2130706433 is 127.0.0.1, a loopback address; {FIX}",
        ),
        (
            "http://0x7f.1/",
            f"refusing http://0x7f.1/: 0x7f.1 is 127.0.0.1, a loopback address; {FIX}",
        ),
        (
            "http://127.0.0.1./x",
            f"refusing http://127.0.0.1./x: 127.0.0.1 is a loopback address; {FIX}",
        ),
        (
            "http://192.168.0.10/rss",
            f"refusing http://192.168.0.10/rss: 192.168.0.10 is a private address; {FIX}",
        ),
        (
            "http://[::ffff:10.0.0.1]/",
            f"refusing http://[::ffff:10.0.0.1]/: ::ffff:10.0.0.1 is a private address; {FIX}",
        ),
        (
            "http://169.254.169.254/latest/meta-data/",
            "refusing http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a cloud "
            f"metadata address; {ALWAYS}",
        ),
        (
            "http://[fe80::1]/",
            f"refusing http://[fe80::1]/: fe80::1 is a link-local address; {ALWAYS}",
        ),
        (
            "https://224.0.0.251/",
            f"refusing https://224.0.0.251/: 224.0.0.251 is a multicast address; {ALWAYS}",
        ),
        (
            "http://0.0.0.0:8000/",
            f"refusing http://0.0.0.0:8000/: 0.0.0.0 is an unspecified address; {ALWAYS}",
        ),
        (
            "file:///etc/passwd",
            "refusing file:///etc/passwd: only http and https URLs are fetched, not file",
        ),
        (
            "gopher://example.com/",
            "refusing gopher://example.com/: only http and https URLs are fetched, not gopher",
        ),
        ("example.com/rss", "refusing example.com/rss: only http and https URLs are fetched"),
        ("http:///rss", "refusing http:///rss: the URL has no host"),
        ("http://example.com:99999/", "refusing http://example.com:99999/: not a valid URL"),
    ],
)
def test_check_url_refuses_with_a_clear_message(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/rss",
        "http://news.example.az/feed?x=1",
        "HTTPS://EXAMPLE.COM/RSS",
        "http://8.8.8.8/feed",
        "http://[2606:4700::1111]/feed",
        "http://1e100.net/",  # digits and letters, but a name, not a numeric address
    ],
)
def test_check_url_allows_public_targets(url: str) -> None:
    check_url(url)  # does not raise


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/feed", True),
        ("http://localhost/feed", True),
        ("http://10.0.0.7/feed", True),
        ("http://100.64.1.1/feed", True),
        ("http://[fd00::7]/feed", True),
        # Never, even for home labs: metadata, link-local, multicast, unspecified.
        ("http://169.254.169.254/latest/", False),
        ("http://169.254.10.10/", False),
        ("http://100.100.100.200/", False),
        ("http://[fd00:ec2::254]/", False),
        ("http://[::ffff:169.254.169.254]/", False),
        ("http://239.1.1.1/", False),
        ("http://0.0.0.0/", False),
    ],
)
def test_allow_private_networks_opens_private_ranges_only(url: str, allowed: bool) -> None:
    if allowed:
        check_url(url, allow_private_networks=True)
    else:
        with pytest.raises(UnsafeURLError):
            check_url(url, allow_private_networks=True)


class TableResolver(AbstractResolver):
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": ip,
                "port": port,
                "family": socket.AF_INET6 if ":" in ip else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for ip in self.table[host]
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("addresses", "allow_private", "refusal"),
    [
        (["93.184.216.34"], False, None),
        (["93.184.216.34", "2606:2800:220:1::1"], False, None),
        (["127.0.0.1"], False, "it resolves to 127.0.0.1, a loopback address"),
        (["127.0.0.1"], True, None),
        (["10.0.0.3"], True, None),
        # One bad record spoils the name: no lucky pick among the answers.
        (["93.184.216.34", "10.0.0.3"], False, "it resolves to 10.0.0.3, a private address"),
        (["169.254.169.254"], True, "it resolves to 169.254.169.254, a cloud metadata address"),
        (["::ffff:127.0.0.1"], False, "it resolves to ::ffff:127.0.0.1, a loopback address"),
    ],
)
async def test_guarded_resolver_checks_every_resolved_address(
    addresses: list[str], allow_private: bool, refusal: str | None
) -> None:
    resolver = GuardedResolver(
        TableResolver({"feeds.test": addresses}), allow_private_networks=allow_private
    )
    if refusal is None:
        results = await resolver.resolve("feeds.test", 80)
        assert [r["host"] for r in results] == addresses
    else:
        with pytest.raises(UnsafeURLError) as caught:
            await resolver.resolve("feeds.test", 80)
        assert str(caught.value).startswith(f"refusing host feeds.test: {refusal}")
