"""The streamable HTTP transport: a Starlette app serving the MCP server at ``/mcp``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from builder.connector.checks import is_loopback_host
from builder.routes import HEALTH_PATH, MCP_PATH
from builder.server.request_ids import WithRequestId
from builder.server.sessions import DEFAULT_SESSION_LIMITS, BoundedSessionManager, SessionLimits
from builder.server.unhandled import LogUnhandledErrors

__all__ = ["MAX_BODY_BYTES", "build_app", "transport_security"]

MAX_BODY_BYTES = 1024 * 1024
_WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - names of the wildcard bind, not a bind


def transport_security(host: str, extra_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """Host and Origin checks against DNS rebinding: the loopback names when bound to
    loopback or to every interface, else the bound host, plus ``extra_hosts`` (the public
    URL's host, ``--allow-host``). Each name is allowed with and without a port."""
    names: list[str] = []
    if is_loopback_host(host) or host in _WILDCARDS:
        names += ["127.0.0.1", "localhost", "[::1]"]
    else:
        names.append(f"[{host}]" if ":" in host else host)
    names += [h for h in extra_hosts if h not in names]
    hosts = [form for name in names for form in (name, f"{name}:*")]
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


async def _healthz(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def build_app(
    server: Server[Any],
    *,
    security: TransportSecuritySettings,
    max_body_bytes: int = MAX_BODY_BYTES,
    extra_routes: Sequence[BaseRoute] = (),
    wrap_mcp: Callable[[ASGIApp], ASGIApp] | None = None,
    sessions: SessionLimits = DEFAULT_SESSION_LIMITS,
    stateless: bool = False,
) -> Starlette:
    """The ASGI app: ``/mcp`` (both protocol generations, behind ``wrap_mcp`` when given:
    the bearer gate), ``/healthz`` and ``extra_routes``.

    ``sessions`` bounds the 2025-11-25 protocol sessions per user and in all, and closes
    idle ones; the manager is ``app.state.sessions``. ``stateless`` serves them without
    sessions instead: each request stands alone, so any process may answer it (no
    server-to-client stream, which our tools do not use). Any exception no route handled is
    logged without its message and answered with a generic 500.
    """
    manager = BoundedSessionManager(
        server,
        limits=sessions,
        # JSON responses are the cheapest mode (no SSE framing) and all our tools answer once.
        json_response=True,
        security_settings=security,
        max_request_body_size=max_body_bytes,
        stateless=stateless,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    endpoint: ASGIApp = StreamableHTTPASGIApp(manager)
    # Outermost: the gate's log lines carry the request id too.
    mcp = WithRequestId(wrap_mcp(endpoint) if wrap_mcp else endpoint)
    routes: list[BaseRoute] = [
        Route(MCP_PATH, endpoint=mcp),
        Route(HEALTH_PATH, endpoint=_healthz, methods=["GET"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(LogUnhandledErrors)])
    app.state.sessions = manager
    return app
