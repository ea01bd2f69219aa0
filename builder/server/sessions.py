"""Bounded protocol sessions: one user's flood of ``initialize`` never locks out the others.

A 2025-11-25 client opens a stateful session with a POST that carries no
``Mcp-Session-Id``. The SDK keeps every session until it is deleted or has been idle for
its timeout, with one global limit: a client that opens sessions in a loop and never
closes them would fill the table and leave every other user with 503 until they expire.

:class:`BoundedSessionManager` bounds the sessions of each user — the authenticated
principal when the bearer gate set one, else the client's address — and, when a user opens
one more, closes that user's least recently used idle session; if all of them are busy
(a request in flight), the new one is refused with 429. The global limit stays, as a 503
with a body that says so. Requests of the 2026-07-28 generation are stateless: the SDK
routes them elsewhere before any of this runs.

It relies on ``mcp`` 2.3.0 internals, pinned by ``tests/server/test_sessions.py``: the
manager routes every stateful request through ``_handle_stateful_request(scope, receive,
send)``, ends every session (DELETE, idle timeout, crash, failed opening) through
``_discard_session(session_id, transport)``, and tracks open sessions in
``_server_instances``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST, ErrorData, JSONRPCError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from builder.errors import ConfigError

__all__ = [
    "DEFAULT_SESSION_LIMITS",
    "BoundedSessionManager",
    "Principal",
    "SessionLimits",
    "principal_of",
]

logger = logging.getLogger("mcpbuild.sessions")

Principal = tuple[str, str | None, str]
"""Whose budget a session counts against: ``("subject", issuer, subject)``, ``("client",
issuer, client_id)`` or ``("address", None, address)``."""

_RETRY_AFTER_BUSY: Final = "5"


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """How many stateful protocol sessions may be open, and for how long one may sit idle."""

    per_user: int = 8
    """Open sessions per user (principal or address); one more closes that user's least
    recently used idle session, or is refused with 429 when all are busy."""
    max_sessions: int = 1000
    """Open sessions in all; one more is refused with 503. A session holds about 40 KB."""
    idle_timeout: float = 300.0
    """Seconds a session may go without a request in flight before it is closed."""

    def __post_init__(self) -> None:
        if self.per_user < 1:
            raise ConfigError(f"sessions per user: expected at least 1, got {self.per_user}")
        if self.max_sessions < self.per_user:
            raise ConfigError(
                f"max sessions: expected at least the per-user limit {self.per_user}, "
                f"got {self.max_sessions}"
            )
        if not 0 < self.idle_timeout < float("inf"):
            raise ConfigError(
                f"session idle timeout: expected a positive number of seconds, "
                f"got {self.idle_timeout}"
            )


DEFAULT_SESSION_LIMITS: Final = SessionLimits()


def principal_of(scope: Scope) -> Principal:
    """The user a request's sessions count against.

    The authenticated principal when the bearer gate set ``scope["user"]``, read through
    the SDK's ``authorization_context`` (the identity it binds sessions to): its
    ``subject`` (the signed-in user, across all of their clients), else its client id.
    Without one, the client's address; IPv6 addresses count by /64, the block one host
    is usually given.
    """
    user = scope.get("user")
    if isinstance(user, AuthenticatedUser):
        ctx = authorization_context(user)
        if ctx["subject"] is not None:
            return ("subject", ctx["issuer"], ctx["subject"])
        return ("client", ctx["issuer"], ctx["client_id"])
    client = scope.get("client")
    host = str(client[0]) if client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ("address", None, host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return ("address", None, str(address.ipv4_mapped))
        return ("address", None, str(ipaddress.IPv6Network(f"{address}/64", strict=False)))
    return ("address", None, str(address))


@dataclass(slots=True)
class _Session:
    owner: Principal
    in_flight: int = 0


@dataclass(slots=True)
class _User:
    # Least recently used first.
    sessions: OrderedDict[str, _Session] = field(default_factory=OrderedDict)
    opening: int = 0  # opening requests being served: not yet a session id, never idle

    def size(self) -> int:
        return len(self.sessions) + self.opening


class BoundedSessionManager(StreamableHTTPSessionManager):
    """The SDK's stateful session manager with per-user and global session limits.

    Every bookkeeping decision is made without awaiting in between, so concurrent
    requests on the event loop cannot both take the last place.
    """

    def __init__(
        self,
        app: Server[Any],
        *,
        limits: SessionLimits,
        security_settings: TransportSecuritySettings,
        max_request_body_size: int,
        json_response: bool = True,
        stateless: bool = False,
    ) -> None:
        super().__init__(
            app=app,
            json_response=json_response,
            stateless=stateless,
            security_settings=security_settings,
            session_idle_timeout=limits.idle_timeout,
            max_request_body_size=max_request_body_size,
            # The global limit is ours, counted with the sessions still being opened.
            max_sessions=None,
        )
        self.limits = limits
        self._users: dict[Principal, _User] = {}
        self._sessions: dict[str, _Session] = {}
        self._opening = 0

    @property
    def open_sessions(self) -> int:
        """Sessions open or being opened, as counted against the limits."""
        return len(self._sessions) + self._opening

    def is_open(self, session_id: str) -> bool:
        """Whether session ``session_id`` is open (not ended, expired or evicted)."""
        return session_id in self._server_instances

    def sessions_of(self, principal: Principal) -> int:
        """Sessions ``principal`` has open or is opening."""
        user = self._users.get(principal)
        return user.size() if user else 0

    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Read the session id exactly as the SDK does (first value, case-insensitive).
        session_id = Headers(scope=scope).get(MCP_SESSION_ID_HEADER)
        if session_id is None:
            await self._open(scope, receive, send)
            return
        session = self._sessions.get(session_id)
        if session is None:  # unknown, expired or evicted: the SDK answers 404
            await super()._handle_stateful_request(scope, receive, send)
            return
        session.in_flight += 1
        self._touch(session_id, session)
        try:
            await super()._handle_stateful_request(scope, receive, send)
        finally:
            session.in_flight -= 1
            self._touch(session_id, session)

    async def _discard_session(
        self, session_id: str, transport: StreamableHTTPServerTransport
    ) -> None:
        self._forget(session_id)
        await super()._discard_session(session_id, transport)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = principal_of(scope)
        user = self._users.setdefault(principal, _User())
        self._forget_ended(list(user.sessions))
        victim: str | None = None
        if user.size() >= self.limits.per_user:
            victim = next((sid for sid, s in user.sessions.items() if not s.in_flight), None)
            if victim is None:
                self._drop_if_empty(principal, user)
                logger.warning(
                    "new session refused: all of the user's sessions are busy",
                    extra=_who(principal),
                )
                await _error(
                    429,
                    INVALID_REQUEST,
                    f"Too many open sessions: all {self.limits.per_user} of this client's "
                    "sessions have a request in flight. Close one (DELETE with its "
                    "Mcp-Session-Id) or retry when a request completes.",
                    retry_after=_RETRY_AFTER_BUSY,
                )(scope, receive, send)
                return
        elif self.open_sessions >= self.limits.max_sessions:
            self._forget_ended(list(self._sessions))
            if self.open_sessions >= self.limits.max_sessions:
                self._drop_if_empty(principal, user)
                logger.warning(
                    "new session refused: the server-wide limit is reached",
                    extra={"limit": self.limits.max_sessions},
                )
                await _error(
                    503,
                    INTERNAL_ERROR,
                    f"Too many open sessions on this server ({self.limits.max_sessions}); "
                    "retry later.",
                    retry_after=str(min(60, int(self.limits.idle_timeout))),
                )(scope, receive, send)
                return
        # Take the place before letting go of the victim's, so the user is never dropped.
        user.opening += 1
        self._opening += 1
        opened = _OpenedSession(send)
        try:
            if victim is not None:
                logger.info(
                    "idle session closed: its user opened one too many", extra=_who(principal)
                )
                self._forget(victim)
                transport = self._server_instances.get(victim)
                if transport is not None:
                    await self._discard_session(victim, transport)
            await super()._handle_stateful_request(scope, receive, opened.send)
        finally:
            user.opening -= 1
            self._opening -= 1
        sid = opened.session_id
        if sid is not None and sid in self._server_instances and sid not in self._sessions:
            session = _Session(principal)
            self._sessions[sid] = session
            user.sessions[sid] = session
        self._drop_if_empty(principal, user)

    def _touch(self, session_id: str, session: _Session) -> None:
        user = self._users.get(session.owner)
        if user is not None and session_id in user.sessions:
            user.sessions.move_to_end(session_id)

    def _forget(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        user = self._users.get(session.owner)
        if user is not None:
            user.sessions.pop(session_id, None)
            self._drop_if_empty(session.owner, user)

    def _drop_if_empty(self, principal: Principal, user: _User) -> None:
        if not user.size() and self._users.get(principal) is user:
            del self._users[principal]

    def _forget_ended(self, session_ids: list[str]) -> None:
        # Sessions the SDK ended without going through _discard_session (it should not
        # happen): forget them, so that a change in the SDK cannot lock users out.
        ended = [sid for sid in session_ids if sid not in self._server_instances]
        if ended:
            logger.error(
                "session limits: the SDK ended sessions without discarding them",
                extra={"sessions": len(ended)},
            )
        for sid in ended:
            self._forget(sid)


def _who(principal: Principal) -> dict[str, object]:
    kind, _, name = principal
    return {"user_kind": kind, "user": name[:12] if kind == "client" else name[:64]}


class _OpenedSession:
    """Wraps ``send`` to read the session id and status of the response that opens a session."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.session_id: str | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] < 400:
            self.session_id = Headers(raw=message.get("headers", [])).get(MCP_SESSION_ID_HEADER)
        await self._send(message)


def _error(status: int, code: int, message: str, *, retry_after: str) -> Response:
    """A JSON-RPC error body without a request id, as the SDK's own transport errors."""
    body = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=code, message=message))
    return Response(
        body.model_dump_json(by_alias=True, exclude_unset=True),
        status_code=status,
        media_type="application/json",
        headers={"Retry-After": retry_after},
    )
