"""``mcpbuild serve``: a validated connector as a running MCP server."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from starlette.applications import Starlette

from builder.server.handlers import build_server
from builder.server.http import MAX_BODY_BYTES, build_app, transport_security
from builder.spec.checks import is_loopback_host
from builder.spec.models import Connector
from builder.tools.call import ToolRunner
from builder.tools.transport import HttpxUpstream, UpstreamClient

__all__ = ["ServeOptions", "Served", "open_connector", "run_http", "run_stdio"]

logger = logging.getLogger("mcpbuild.serve")


@dataclass(frozen=True)
class ServeOptions:
    """How a connector is served; each option also has an ``MCPBUILD_*`` variable."""

    host: str = "127.0.0.1"
    port: int = 8000
    transport: Literal["http", "stdio"] = "http"
    read_only: bool = False
    allow_hosts: Sequence[str] = field(default_factory=tuple)
    max_body_bytes: int = MAX_BODY_BYTES


@dataclass
class Served:
    """A connector ready to serve: the tool runner, the MCP server, and the upstream client."""

    runner: ToolRunner
    server: Server[Any]
    client: UpstreamClient

    def http_app(self, options: ServeOptions) -> Starlette:
        """The streamable HTTP app; closing it (lifespan shutdown) closes the upstream client."""
        app = build_app(
            self.server,
            security=transport_security(options.host, options.allow_hosts),
            max_body_bytes=options.max_body_bytes,
        )
        inner = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(app_: Starlette) -> AsyncIterator[Any]:
            async with inner(app_) as state:
                try:
                    yield state
                finally:
                    await self.client.aclose()

        app.router.lifespan_context = lifespan
        return app


def open_connector(
    connector: Connector,
    options: ServeOptions,
    environ: Mapping[str, str] | None = None,
    client: UpstreamClient | None = None,
) -> Served:
    """Resolve the spec's ``${VAR}``s and build everything a server needs (no I/O yet)."""
    upstream = client or HttpxUpstream()
    runner = ToolRunner(connector, os.environ if environ is None else environ, upstream)
    server = build_server(runner, read_only=options.read_only)
    return Served(runner, server, upstream)


def exposure_warning(connector: Connector, options: ServeOptions) -> str | None:
    """The loud warning for a connector without sign-in reachable beyond this machine."""
    if connector.provider is not None or options.transport != "http":
        return None
    if is_loopback_host(options.host):
        return None
    return (
        f"WARNING: connector '{connector.name}' has no provider (no sign-in) and is listening on "
        f"{options.host}:{options.port}: ANYONE who can reach this address can call its "
        f"{len(connector.tools)} tools. Bind to 127.0.0.1 or add a provider."
    )


def run_http(served: Served, options: ServeOptions) -> None:
    """Serve over streamable HTTP until interrupted."""
    connector = served.runner.connector
    warning = exposure_warning(connector, options)
    if warning:
        print(warning, file=sys.stderr)
        logger.warning(warning)
    app = served.http_app(options)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        access_log=False,
        server_header=False,
        log_config=None,
        lifespan="on",
    )
    logger.info(
        "serving",
        extra={
            "connector": connector.name,
            "tools": len(served.runner.tools),
            "url": f"http://{_url_host(options.host)}:{options.port}/mcp",
        },
    )
    uvicorn.Server(config).run()


async def run_stdio(served: Served) -> None:
    """Serve over stdin/stdout; stdout carries nothing but the protocol."""
    try:
        async with stdio_server() as (read_stream, write_stream):
            await served.server.run(
                read_stream, write_stream, served.server.create_initialization_options()
            )
    finally:
        with anyio.CancelScope(shield=True):
            await served.client.aclose()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
