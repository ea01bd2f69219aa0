"""Limits in front of the authorization server's endpoints, as small ASGI wrappers.

- :class:`BodyLimit`: a cap on the request body, by Content-Length and by the bytes that
  actually arrive (a chunked body declares no length): 413.
- :class:`RateLimited` with a :class:`RateLimit`: a token bucket per client address, in a
  map bounded by least-recently-seen eviction: 429 with Retry-After.
- :class:`Unavailable`: an exception raised deeper down (the store's client cap) as 503.

Every refusal is an OAuth error body, ``{"error": ..., "error_description": ...}``.
:class:`AuthLimits` holds the numbers, decided once at start-up; :func:`wrap_route` puts a
wrapper on a route.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "AuthLimits",
    "BodyLimit",
    "RateLimit",
    "RateLimited",
    "Unavailable",
    "client_key",
    "wrap_route",
]


@dataclass(frozen=True)
class AuthLimits:
    """The limits on the authorization server's endpoints."""

    body_bytes: int = 16 * 1024
    """Request body cap of /register, /token, /revoke and the consent form: small forms."""
    register_per_minute: float = 10.0
    """Registrations per client address and minute, once a burst is spent."""
    register_burst: int = 10
    """Registrations one client address may make at once."""
    tracked_addresses: int = 10_000
    """Client addresses the registration limit remembers; the least recently seen go."""

    def register_rate(self) -> RateLimit:
        """A fresh rate limit for /register."""
        return RateLimit(
            per_minute=self.register_per_minute,
            burst=self.register_burst,
            max_keys=self.tracked_addresses,
        )


def wrap_route(route: BaseRoute, wrap: Callable[[ASGIApp], ASGIApp]) -> Route:
    """``route``, fresh from its factory, with its app wrapped in place. Inside the SDK's
    CORS layer when there is one, so that a refusal still carries the CORS headers."""
    if not isinstance(route, Route):
        raise TypeError(f"expected a starlette Route to put a limit on, got {route!r}")
    if isinstance(route.app, CORSMiddleware):
        route.app.app = wrap(route.app.app)
    else:
        route.app = wrap(route.app)
    return route


async def _refuse(
    send: Send, status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"error": error, "error_description": description}).encode()
    raw = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        "cache-control": "no-store",
        **(headers or {}),
    }
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode(), v.encode()) for k, v in raw.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """``app`` behind a cap of ``max_bytes`` on the request body.

    The body is read (at most ``max_bytes`` of it) before ``app`` runs, so a refused
    request never reaches it, and then replayed to ``app`` unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; let the app see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        # No "Connection: close": the server then reads and drops the rest of the body, where
        # closing with it unread would reset the connection before the client saw the 413.
        await _refuse(
            send, 413, "invalid_request", f"request body too large: limit {self.max_bytes} bytes"
        )


def client_key(scope: Scope) -> str:
    """Whom a request counts against: the client address as the server saw it (after any
    trusted proxy headers), an IPv6 address by its /64, which one host usually holds whole."""
    client = scope.get("client")
    if not client:
        return "unknown"
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return str(client[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimit:
    """A token bucket per key: ``burst`` requests at once, refilled at ``per_minute``.

    At most ``max_keys`` buckets are kept; the least recently seen goes first. A bucket
    left alone refills, so what eviction forgets is mostly a full bucket anyway.
    """

    def __init__(
        self,
        *,
        per_minute: float = 10.0,
        burst: int = 10,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1 or max_keys < 1:
            raise ValueError(
                f"expected per_minute > 0, burst >= 1 and max_keys >= 1, "
                f"got {per_minute}, {burst} and {max_keys}"
            )
        self.per_minute = per_minute
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def describe(self) -> str:
        """The limit in words, for the refusal."""
        return f"{self.per_minute:g} per minute, bursts of {self.burst}"

    def take(self, key: str) -> float:
        """Spend one token of ``key``: 0.0 if there was one, else seconds until there is."""
        now = self.clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            while len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
        rate = self.per_minute / 60.0
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        self._buckets[key] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


class RateLimited:
    """``app`` behind ``limit``, keyed by :func:`client_key`. CORS preflights (OPTIONS)
    are not counted."""

    def __init__(self, app: ASGIApp, limit: RateLimit) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != "OPTIONS":
            wait = self.limit.take(client_key(scope))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                await _refuse(
                    send,
                    429,
                    "temporarily_unavailable",
                    f"too many requests from this address: limit {self.limit.describe()}; "
                    f"retry in {seconds} s",
                    {"retry-after": str(seconds)},
                )
                return
        await self.app(scope, receive, send)


class Unavailable:
    """``app`` with ``errors`` answered 503, the exception's message as the description:
    for limits decided further in, such as the store's cap on registered clients."""

    def __init__(self, app: ASGIApp, errors: tuple[type[Exception], ...]) -> None:
        self.app = app
        self.errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except self.errors as exc:
            if started or scope["type"] != "http":
                raise
            await _refuse(send, 503, "temporarily_unavailable", str(exc))
