"""A connector served over streamable HTTP against a test upstream, both on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from builder.connector.models import Connector
from builder.server.serve import ServeOptions, open_connector
from tests.servers import running


@contextlib.asynccontextmanager
async def serving(
    connector: Connector,
    upstream: Any,
    *,
    url_variable: str = "UPSTREAM_URL",
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """Run ASGI ``upstream`` and ``mcpbuild serve`` of ``connector`` with ``url_variable`` set
    to the upstream's URL; yield the MCP endpoint's URL."""
    async with running(upstream) as upstream_url:
        options = ServeOptions()
        served = open_connector(connector, options, {**(env or {}), url_variable: upstream_url})
        async with running(served.http_app(options)) as base:
            yield f"{base}/mcp"
