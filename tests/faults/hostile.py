"""Builders for hostile feed bodies (fault-injection tests, issue 6).

Each returns the bytes a hostile or broken server would send. Sizes are parameters so that a test
states the scale it proves; the docstrings say what a reader without the matching defence would
do with them.
"""

from __future__ import annotations

import functools
import struct
import zlib
from xml.sax.saxutils import escape

from tests.integration.rss import Item, rss

MIB = 1 << 20
GIB = 1 << 30


def billion_laughs(levels: int = 10, fanout: int = 10) -> bytes:
    """The classic nested entity bomb: `&lol{levels-1};` expands to 3 * fanout**(levels-1) bytes
    (3 GB with the defaults) from a body of about a kilobyte."""
    decls = ['<!ENTITY lol0 "lol">']
    for level in range(1, levels):
        decls.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * fanout}">')
    doctype = "<!DOCTYPE rss [\n" + "\n".join(decls) + "\n]>"
    return _rss_with_prolog(doctype, title=f"Aras border &lol{levels - 1};", guid="laughs-1")


def quadratic_blowup(entity_bytes: int = 64 * 1024, references: int = 16 * 1024) -> bytes:
    """One big flat entity referenced many times: no nesting, so a parser that only forbids
    nested entities still expands it. entity_bytes * references bytes (1 GiB with the defaults)
    from a body of entity_bytes + 3 * references bytes (about 112 KiB)."""
    doctype = f'<!DOCTYPE rss [\n<!ENTITY a "{"x" * entity_bytes}">\n]>'
    return _rss_with_prolog(doctype, title="Aras border " + "&a;" * references, guid="quad-1")


def external_entities(secret_url: str) -> bytes:
    """XXE: general entities pointing at a local file and at a loopback URL, a parameter entity
    and an external DTD on that URL. A parser that resolves any of them reads /etc/passwd or
    sends a request to `secret_url`."""
    doctype = (
        f'<!DOCTYPE rss SYSTEM "{secret_url}/dtd" [\n'
        '<!ENTITY file SYSTEM "file:///etc/passwd">\n'
        f'<!ENTITY net SYSTEM "{secret_url}">\n'
        f'<!ENTITY % remote SYSTEM "{secret_url}/param">\n'
        "%remote;\n"
        "]>"
    )
    return _rss_with_prolog(doctype, title="Aras border file=&file; net=&net;", guid="xxe-1")


def invalid_utf8() -> bytes:
    """Declared UTF-8 (XML declaration and, when served, the Content-Type charset) but carrying
    bytes that are not UTF-8: a lone 0xFF, a truncated sequence, an overlong encoding."""
    good = rss([Item("utf8-1", "Astara crossing BROKEN reopens", "Trucks BROKEN queue.", 1)])
    return good.replace(b"BROKEN", b"\xff\xc3(\xc0\xaf")


def login_page() -> bytes:
    """What a paywalled or expired feed URL often answers: 200 OK and an HTML login form."""
    return (
        b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>"
        b'<form method="post" action="/login"><input name="user"><input type="password" '
        b'name="password"><button>Sign in</button></form></body></html>'
    )


def many_items(count: int, *, prefix: str = "bulk", title: str = "Archive story") -> bytes:
    """An RSS feed of `count` small distinct items (an archive dump served as a feed)."""
    return rss(
        [
            Item(f"{prefix}-{n}", f"{title} {n}", f"Body of story {n}.", n / 3600)
            for n in range(count)
        ],
        title=f"{count} items",
    )


@functools.cache
def gzip_bomb(inflated_bytes: int = GIB, block: int = MIB) -> bytes:
    """A valid gzip stream of `inflated_bytes` spaces after a small RSS head, about a thousandth
    of that on the wire (1 GiB -> about 1 MiB). Serve it with Content-Encoding: gzip.

    Built without holding the inflated data: each block is compressed after a full flush, so
    every block compresses to the same bytes and is repeated; the CRC is computed block by block.
    """
    head = rss([Item("bomb-1", "Aras border", "x", 0)]).split(b"</channel>")[0]
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; gzip framing added here
    first = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    spaces = b" " * block
    repeated = packer.compress(spaces) + packer.flush(zlib.Z_FULL_FLUSH)
    blocks = (inflated_bytes - len(head)) // block
    tail = packer.flush()  # empty final block
    crc = zlib.crc32(head)
    for _ in range(blocks):
        crc = zlib.crc32(spaces, crc)
    size = len(head) + blocks * block
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, mtime 0, max compr.
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
    return header + first + repeated * blocks + tail + trailer


def _rss_with_prolog(prolog: str, *, title: str, guid: str) -> bytes:
    """An RSS document with a DOCTYPE; `title` is inserted raw (it holds entity references)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"{prolog}\n"
        '<rss version="2.0"><channel><title>Hostile</title><link>https://news.test/</link>'
        f"<item><guid>{escape(guid)}</guid><title>{title}</title>"
        f"<link>https://news.test/{escape(guid)}</link>"
        "<description>Drills near the Aras river.</description></item>"
        "</channel></rss>"
    ).encode()
