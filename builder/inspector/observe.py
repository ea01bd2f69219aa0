"""Watching a user's calls for the inspector: which grant a request acts for, and the
upstream exchanges it causes.

:class:`McpTap` wraps ``/mcp`` (outside the bearer gate): it learns which grant a request
acts for from its bearer token and sets :data:`acting_grant` for everything the request
causes, in the gate (a refresh that is due) and in the tool handler (which the SDK runs
in a copy of the request's context). :class:`ObservedUpstream` (the API client) and
:class:`ObservedTransport` (the provider's token endpoint) read it and record each
exchange for that grant: method, URL with secret-looking query values masked, status and
duration. Bodies and headers are never recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import httpx2
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from builder import explain
from builder.inspector.events import EventLog
from builder.tools.redact import Redactor
from builder.tools.request import OutgoingRequest
from builder.tools.transport import UpstreamClient, UpstreamResponse

__all__ = ["GrantOf", "McpTap", "ObservedTransport", "ObservedUpstream", "acting_grant", "safe_url"]

acting_grant: ContextVar[str | None] = ContextVar("mcpbuild_inspector_grant", default=None)
"""The grant the current ``/mcp`` request acts for (set by :class:`McpTap`)."""

GrantOf = Callable[[str], Awaitable["str | None"]]
"""The grant a client access token acts for, or None (unknown, expired, revoked)."""

_SECRET_KEY = re.compile(
    r"token|secret|key|password|passwd|signature|sig$|^code$|auth|credential|session",
    re.IGNORECASE,
)
_MASK = "***"
# Headers that describe the body as sent, not as read (decoded, whole).
_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def safe_url(url: str, query: list[tuple[str, str]] | None, redactor: Redactor) -> str:
    """``url`` (plus ``query``) for a log: secret-looking query values masked, known secret
    values scrubbed, no user info."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True) + list(query or [])
    masked = [(k, _MASK if _SECRET_KEY.search(k) else v) for k, v in pairs]
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    text = urlunsplit((parts.scheme, netloc, parts.path, urlencode(masked, safe="*/:,"), ""))
    return redactor.scrub(text)


class ObservedUpstream:
    """An :class:`UpstreamClient` that records each API exchange for the acting grant."""

    def __init__(self, inner: UpstreamClient, events: EventLog, redactor: Redactor) -> None:
        self.inner = inner
        self.events = events
        self.redactor = redactor

    async def send(
        self, request: OutgoingRequest, *, timeout: float, read_limit: int
    ) -> UpstreamResponse:
        grant = acting_grant.get()
        if grant is None:
            return await self.inner.send(request, timeout=timeout, read_limit=read_limit)
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await self.inner.send(request, timeout=timeout, read_limit=read_limit)
            status = response.status
            return response
        finally:
            url = safe_url(request.url, request.query, self.redactor)
            self.events.add(
                grant,
                "upstream",
                method=request.method,
                url=url,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            if status == 401:
                host = urlsplit(request.url).netloc
                self.events.add(
                    grant,
                    "explain",
                    text=explain.upstream_unauthorized(host),  # logged by the tool runner
                )

    async def aclose(self) -> None:
        await self.inner.aclose()


class ObservedTransport(httpx.AsyncBaseTransport):
    """The provider's HTTP transport (Authlib's client is httpx2's, whose requests and
    responses have the same interface as httpx's), recording token endpoint exchanges for the acting
    grant: refreshes counted, a refused one explained. Only an error answer's body is
    read (for its ``error`` code); a token answer is passed on untouched."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport | None, events: EventLog, redactor: Redactor
    ) -> None:
        self.inner = inner
        self.events = events
        self.redactor = redactor

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        grant = acting_grant.get()
        if grant is None:
            return await self._send(request)
        kind = _grant_type(request)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._send(request)
            status = response.status_code
            if status >= 400:
                await response.aread()
                error = _error_code(response.content) or f"HTTP {status}"
            return response
        except (httpx.HTTPError, httpx2.HTTPError) as exc:
            error = type(exc).__name__
            raise
        finally:
            self.events.add(
                grant,
                "token",
                method=request.method,
                url=safe_url(str(request.url), None, self.redactor),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
                grant_type=kind,
                error=error,
            )
            if kind == "refresh_token":
                self.events.refreshed(grant, error)
                if error == "invalid_grant":
                    self.events.add(
                        grant,
                        "explain",
                        text=explain.upstream_invalid_grant(error),  # logged by the grants
                    )

    async def _send(self, request: httpx.Request) -> httpx.Response:
        if self.inner is not None:
            return await self.inner.handle_async_request(request)
        # No transport of our own to keep open: the provider is called rarely. Authlib's
        # client is httpx2's, whose transport this is.
        async with httpx2.AsyncHTTPTransport() as transport:
            response = await transport.handle_async_request(cast(httpx2.Request, request))
            body = await response.aread()
            answer = httpx2.Response(
                response.status_code,
                headers=[(k, v) for k, v in response.headers.items() if k not in _DECODED],
                content=body,
                extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
            )
            return cast(httpx.Response, answer)

    async def aclose(self) -> None:
        if self.inner is not None:
            await self.inner.aclose()


def _grant_type(request: httpx.Request) -> str | None:
    try:
        form = dict(parse_qsl(request.content.decode("utf-8", "replace")))
    except (httpx.RequestNotRead, httpx2.RequestNotRead):
        return None
    kind = form.get("grant_type")
    return kind if kind in ("authorization_code", "refresh_token", "client_credentials") else None


def _error_code(body: bytes) -> str | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    # A registered error code is a short token; anything else is not repeated.
    if isinstance(error, str) and re.fullmatch(r"[a-z_]{1,64}", error):
        return error
    return None


class McpTap:
    """ASGI wrapper of ``/mcp``: sets :data:`acting_grant` from the bearer token, and
    explains a request that comes without one in a session that was opened with one."""

    def __init__(
        self, app: ASGIApp, grant_of: GrantOf, events: EventLog, *, sessions: int = 10_000
    ) -> None:
        self.app = app
        self.grant_of = grant_of
        self.events = events
        self.max_sessions = sessions
        self._sessions: OrderedDict[str, str] = OrderedDict()  # session id -> grant id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        session = headers.get(MCP_SESSION_ID_HEADER)
        authorization = headers.get("authorization")
        if authorization is None:
            grant = self._sessions.get(session) if session else None
            if grant is not None:
                text = explain.explain(explain.missing_authorization(True), grant=grant[:8])
                self.events.add(grant, "explain", text=text)
            await self.app(scope, receive, send)
            return
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        grant = await self.grant_of(token) if token else None
        if grant is None:
            await self.app(scope, receive, send)
            return
        if session:
            self._remember(session, grant)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                opened = Headers(raw=message.get("headers", [])).get(MCP_SESSION_ID_HEADER)
                if opened:
                    self._remember(opened, grant)
            await send(message)

        reset = acting_grant.set(grant)
        try:
            await self.app(scope, receive, watch)
        finally:
            acting_grant.reset(reset)

    def _remember(self, session: str, grant: str) -> None:
        self._sessions[session] = grant
        self._sessions.move_to_end(session)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
