"""The upstream HTTP client behind one small interface, so it can be chosen by measurement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

import aiohttp
import yarl

from builder.errors import TransportFailure
from builder.tools.request import OutgoingRequest

# TransportFailure is defined in builder.errors, with the rest of the tree; re-exported here.
__all__ = [
    "AiohttpUpstream",
    "TransportFailure",
    "UpstreamClient",
    "UpstreamResponse",
]


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """What came back: status, headers (lower-case names) and at most ``read_limit`` bytes."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    truncated: bool


async def _read(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a body, and whether there was more."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(parts)[:limit], True
    return b"".join(parts), False


def _body_headers(request: OutgoingRequest) -> tuple[Mapping[str, str], tuple[str, ...]]:
    """The headers to send, and the automatic ones aiohttp must not add.

    Without a body there is no content to describe: no ``Content-Type`` (aiohttp would add
    ``application/octet-stream`` to a POST, PUT or PATCH, and a static one from the spec
    describes nothing), and ``Content-Length: 0`` where the method expects content, as
    servers that answer 411 Length Required want.
    """
    if request.body:
        return request.headers, ()
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in ("content-type", "content-length")
    }
    if request.method in _BODY_METHODS:
        headers["Content-Length"] = "0"
    return headers, ("Content-Type",)


class UpstreamClient(Protocol):
    """Sends one request; never follows redirects; raises :class:`TransportFailure`."""

    async def send(
        self, request: OutgoingRequest, *, timeout: float, read_limit: int
    ) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


class AiohttpUpstream:
    """One shared :class:`aiohttp.ClientSession`: the default, chosen by measurement.

    At 16 concurrent calls it costs about a quarter of the CPU per upstream GET of a shared
    httpx client, whose pool checks every idle connection on each request
    (``bench/serve_overhead.py``; DESIGN.md section 8). The URL is passed pre-encoded, so
    the path segments and query built by :mod:`builder.tools.request` go out unchanged.
    """

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max, ttl_dns_cache=60),
                trust_env=False,
                auto_decompress=True,
            )
        return self._session

    async def send(
        self, request: OutgoingRequest, *, timeout: float, read_limit: int
    ) -> UpstreamResponse:
        url = request.url
        if request.query:
            url += "?" + urlencode(request.query)
        headers, skip = _body_headers(request)
        try:
            async with self._get_session().request(
                request.method,
                yarl.URL(url, encoded=True),
                headers=headers,
                data=request.body or None,
                skip_auto_headers=skip,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                body, truncated = await _read(response.content.iter_chunked(65536), read_limit)
                return UpstreamResponse(
                    response.status, response.reason or "", response.headers, body, truncated
                )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransportFailure("timeout") from None
        except aiohttp.ClientConnectorError:
            raise TransportFailure("connect") from None
        except aiohttp.ClientError:
            raise TransportFailure("protocol") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
