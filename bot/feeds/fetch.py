"""Conditional GET of feeds over one shared aiohttp session, with every limit a feed host can hit.

`Fetcher.fetch` never raises for a network or HTTP problem: a 404, a timeout, a body over the
cap, a redirect loop or a refused (unsafe) URL all come back as `FetchResult(status="error")`
with a sentence an operator can act on. It returns bytes only; parsing, body-hash comparison,
backoff and scheduling belong to the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot import __version__
from bot.core.types import FetchResult
from bot.feeds.netguard import GuardedResolver, UnsafeURLError, check_url

DEFAULT_USER_AGENT = (
    f"BorderWatch/{__version__} (self-hosted Discord news-alert bot; polite feed reader)"
)
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
# Describe the body we return, not the one on the wire: it is already decompressed.
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_CHUNK = 64 * 1024
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.I)


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Limits of the fetcher; `bot.runtime.fetch_limits` fills it from the `[fetch]` settings."""

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 10.0  # seconds to establish a connection
    total_timeout: float = 30.0  # seconds for the whole fetch, redirects and body included
    max_body_bytes: int = 10 * 1024 * 1024  # decompressed bytes; reading stops past it
    max_redirects: int = 5
    concurrency: int = 20  # requests in flight, all hosts together
    per_host_concurrency: int = 2  # requests in flight to one host name
    # Loopback/private/CGNAT/ULA targets allowed; link-local and metadata never are.
    allow_private_networks: bool = False


class _FetchFailed(Exception):
    """Internal: ends a fetch with an operator-readable error (becomes a FetchResult)."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        http_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.http_status = http_status
        self.retry_after_s = retry_after_s


class _HostSlots:
    """One semaphore per host name, dropped again when nobody uses it (no unbounded growth)."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        sem, users = self._slots.setdefault(host, (asyncio.Semaphore(self._per_host), [0]))
        users[0] += 1
        try:
            async with sem:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[host]


def make_connector(
    limits: FetchLimits, resolver: AbstractResolver | None = None
) -> aiohttp.TCPConnector:
    """A connector whose DNS answers pass through GuardedResolver (wrapping `resolver`)."""
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(resolver, allow_private_networks=limits.allow_private_networks),
        limit=limits.concurrency,
        limit_per_host=limits.per_host_concurrency,
        ttl_dns_cache=60,
    )


class Fetcher:
    """Fetches feeds with conditional GET, manual redirects, size caps and concurrency limits.

    Build it with `await Fetcher.create(limits)` (own session and guarded connector; `close()`
    closes them) or hand in a session you own: `Fetcher(session, limits)`. A handed-in session
    should use `make_connector(limits)`, otherwise only `check_url` guards hostnames (literal IPs
    and every redirect hop are checked either way, but DNS answers are not).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        limits: FetchLimits | None = None,
        *,
        owns_session: bool = False,
    ) -> None:
        self.limits = limits or FetchLimits()
        self._session = session
        self._owns_session = owns_session
        self._global = asyncio.Semaphore(self.limits.concurrency)
        self._hosts = _HostSlots(self.limits.per_host_concurrency)

    @classmethod
    async def create(
        cls, limits: FetchLimits | None = None, *, resolver: AbstractResolver | None = None
    ) -> Fetcher:
        """A fetcher with its own session. `resolver` replaces DNS (tests); it is still guarded."""
        limits = limits or FetchLimits()
        session = aiohttp.ClientSession(
            connector=make_connector(limits, resolver),
            # Feeds need no cookies; a shared jar would carry one site's cookies across feeds.
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": limits.user_agent},
            timeout=aiohttp.ClientTimeout(
                total=None, connect=limits.connect_timeout, sock_connect=limits.connect_timeout
            ),
            trust_env=False,
        )
        return cls(session, limits, owns_session=True)

    async def close(self) -> None:
        if self._owns_session and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url` (If-None-Match / If-Modified-Since when validators are given).

        status "ok": body holds the decompressed bytes; "not_modified": the server answered 304;
        "error": `error` says what went wrong (and `http_status` when there was an answer).
        """
        started: list[float] = []  # set when the first request actually starts
        try:
            result = await self._follow(url, etag, last_modified, started)
        except _FetchFailed as exc:
            return FetchResult(
                status="error",
                url=exc.url or url,
                http_status=exc.http_status,
                retry_after_s=exc.retry_after_s,
                error=exc.message,
                elapsed_s=_since(started),
            )
        return dataclasses.replace(result, elapsed_s=_since(started))

    async def _follow(
        self, url: str, etag: str | None, last_modified: str | None, started: list[float]
    ) -> FetchResult:
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified

        chain = [url]
        current = url
        deadline: float | None = None
        while True:
            try:
                check_url(current, self.limits.allow_private_networks)
            except UnsafeURLError as exc:
                prefix = "" if current == url else f"redirected from {url}, then "
                raise _FetchFailed(prefix + str(exc), url=current) from None
            host = urlsplit(current).hostname or ""
            async with self._hosts.hold(host), self._global:
                if deadline is None:
                    started.append(time.monotonic())
                    deadline = asyncio.get_running_loop().time() + self.limits.total_timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        outcome = await self._one_request(current, headers, etag, last_modified)
                except _FetchFailed as exc:
                    exc.url = exc.url or current
                    raise
                except aiohttp.ServerTimeoutError as exc:  # connect or socket-read timeout
                    raise _FetchFailed(
                        _describe_error(exc, current, self.limits), url=current
                    ) from None
                except TimeoutError:
                    raise _FetchFailed(
                        f"timed out after {self.limits.total_timeout:g} s "
                        f"(fetch.total_timeout_s) fetching {current}",
                        url=current,
                    ) from None
                except (aiohttp.ClientError, OSError, ValueError) as exc:
                    raise _FetchFailed(
                        _describe_error(exc, current, self.limits), url=current
                    ) from None

            if isinstance(outcome, FetchResult):
                return outcome
            next_url = outcome
            if next_url in chain:
                loop_text = " → ".join([*chain[chain.index(next_url) :], next_url])
                raise _FetchFailed(f"redirect loop: {loop_text}", url=current)
            chain.append(next_url)
            if len(chain) - 1 > self.limits.max_redirects:
                raise _FetchFailed(
                    f"too many redirects (more than {self.limits.max_redirects}, "
                    f"fetch.max_redirects): {' → '.join(chain)}",
                    url=current,
                )
            current = next_url

    async def _one_request(
        self,
        url: str,
        headers: Mapping[str, str],
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult | str:
        """One hop: a FetchResult, or the absolute URL a redirect points to."""
        async with self._session.get(
            url,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=self.limits.connect_timeout,
                sock_connect=self.limits.connect_timeout,
            ),
        ) as resp:
            status = resp.status
            if status in _REDIRECTS:
                location = resp.headers.get("Location")
                if not location:
                    raise _FetchFailed(
                        f"HTTP {status} redirect without a Location header", http_status=status
                    )
                try:
                    return str(resp.url.join(URL(location)))
                except ValueError:
                    raise _FetchFailed(
                        f"HTTP {status} redirect to an invalid URL: {location!r}",
                        http_status=status,
                    ) from None

            final_url = str(resp.url)
            kept = tuple(
                (k, v) for k, v in resp.headers.items() if k.lower() not in _DROPPED_HEADERS
            )
            max_age = parse_max_age(resp.headers.get("Cache-Control", ""))
            new_etag = resp.headers.get("ETag")
            new_modified = resp.headers.get("Last-Modified")

            if status == 304:
                return FetchResult(
                    status="not_modified",
                    url=final_url,
                    http_status=304,
                    headers=kept,
                    etag=new_etag or etag,
                    last_modified=new_modified or last_modified,
                    max_age_s=max_age,
                )
            if status >= 300 or status == 204:
                retry_after = None
                if status in _RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(
                        resp.headers.get("Retry-After", ""), _server_now(resp.headers)
                    )
                raise _FetchFailed(
                    _describe_status(status, retry_after),
                    http_status=status,
                    retry_after_s=retry_after,
                )

            body = await _read_capped(resp, self.limits.max_body_bytes)
            return FetchResult(
                status="ok",
                url=final_url,
                http_status=status,
                body=body,
                headers=kept,
                etag=new_etag,
                last_modified=new_modified,
                max_age_s=max_age,
            )


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """The (decompressed) body, refusing to hold more than `cap` bytes of it.

    aiohttp decompresses gzip/deflate as it streams, so counting what `resp.content` yields
    counts inflated bytes: a gzip bomb is stopped after `cap` bytes, not after inflating.
    """
    declared = resp.content_length
    if declared is not None and declared > cap:
        resp.close()
        raise _FetchFailed(
            f"the response is too large: {declared:,} bytes declared, the limit is {cap:,} "
            "(fetch.max_body_bytes)",
            http_status=resp.status,
        )
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > cap:
            resp.close()  # drop the connection instead of draining the rest
            encoding = resp.headers.get("Content-Encoding", "").strip()
            what = f" after {encoding} decompression" if encoding else ""
            raise _FetchFailed(
                f"the response is too large: more than {cap:,} bytes{what}, stopped reading "
                "(fetch.max_body_bytes)",
                http_status=resp.status,
            )
    return bytes(body)


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP-date (RFC 9110 10.2.3).

    A date in the past means 0. Unparseable values give None.
    """
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_max_age(cache_control: str) -> int | None:
    """max-age seconds from a Cache-Control header, or None."""
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


def _server_now(headers: Mapping[str, str]) -> datetime:
    """The server's clock (Date header) when it sent one: Retry-After dates are on its clock."""
    date = headers.get("Date")
    if date:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            parsed = parsedate_to_datetime(date)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _describe_status(status: int, retry_after: float | None) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unknown status"
    head = f"HTTP {status} {phrase}"
    if status == 404:
        return f"{head}: the feed URL does not exist (moved or mistyped?)"
    if status == 410:
        return f"{head}: the feed was removed for good; remove or replace it"
    if status in (401, 403):
        return f"{head}: the server refuses us (login required, or it blocks bots)"
    if status == 429:
        wait = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
        return f"{head}: the server asks us to poll less often{wait}"
    if status == 503:
        wait = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
        return f"{head}: the server is down or overloaded{wait}"
    if status == 204:
        return f"{head}: the server sent no feed"
    if status >= 500:
        return f"{head}: a problem on the feed's server"
    return head


def _describe_error(exc: BaseException, url: str, limits: FetchLimits) -> str:
    unsafe = _find_unsafe(exc)
    if unsafe is not None:
        return f"{unsafe} (while connecting to {url})"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (
            f"could not connect within {limits.connect_timeout:g} s "
            f"(fetch.connect_timeout_s) to {url}"
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed for {exc.host}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate problem with {exc.host}: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS handshake with {exc.host} failed: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return f"could not connect to {exc.host}:{exc.port}: {reason}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"the server closed the connection before answering ({url})"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"the response body was cut off or badly encoded: {exc}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"not a valid URL: {url}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"bad HTTP response from {url}: {exc.message}"
    text = str(exc) or type(exc).__name__
    return f"request to {url} failed: {text}"


def _find_unsafe(exc: BaseException) -> UnsafeURLError | None:
    """The UnsafeURLError raised by GuardedResolver, however aiohttp wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, UnsafeURLError):
            return current
        seen.add(id(current))
        os_error = getattr(current, "os_error", None)
        if isinstance(os_error, UnsafeURLError):
            return os_error
        current = current.__cause__ or current.__context__
    return None


def _since(started: list[float]) -> float:
    return time.monotonic() - started[0] if started else 0.0
