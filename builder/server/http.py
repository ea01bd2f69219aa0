"""The streamable HTTP transport: a Starlette app serving the MCP server at ``/mcp``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from builder.connector.checks import is_loopback_host

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
) -> Starlette:
    """The ASGI app: ``/mcp`` (both protocol generations, behind ``wrap_mcp`` when given:
    the bearer gate), ``/healthz`` and ``extra_routes``."""
    manager = StreamableHTTPSessionManager(
        app=server,
        # JSON responses are the cheapest mode (no SSE framing) and all our tools answer once.
        json_response=True,
        stateless=False,
        security_settings=security,
        max_request_body_size=max_body_bytes,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    endpoint: ASGIApp = StreamableHTTPASGIApp(manager)
    routes: list[BaseRoute] = [
        Route("/mcp", endpoint=wrap_mcp(endpoint) if wrap_mcp else endpoint),
        Route("/healthz", endpoint=_healthz, methods=["GET"]),
        *extra_routes,
    ]
    return Starlette(routes=routes, lifespan=lifespan)
