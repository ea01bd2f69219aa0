from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.connector import load_connector
from builder.server.serve import Served, ServeOptions, open_connector
from tests.servers import running
from tests.upstream import Upstream, upstream_app

ASSETS = Path(__file__).resolve().parents[1] / "assets"
API_KEY = "test-api-key-7f3a9c"


@dataclass
class Stack:
    upstream: Upstream
    upstream_url: str
    served: Served
    url: str  # the MCP endpoint


@pytest.fixture
def serve_options() -> ServeOptions:
    return ServeOptions()


@pytest.fixture
async def stack(serve_options: ServeOptions) -> AsyncIterator[Stack]:
    state = Upstream()
    connector = load_connector(str(ASSETS / "upstream.yaml"))
    async with running(upstream_app(state)) as upstream_url:
        served = open_connector(
            connector, serve_options, {"UPSTREAM_URL": upstream_url, "TEST_API_KEY": API_KEY}
        )
        async with running(served.http_app(serve_options)) as base:
            yield Stack(state, upstream_url, served, f"{base}/mcp")
