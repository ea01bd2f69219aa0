"""What operators watch: /readyz and /metrics of a served connector."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mcp import Client

from builder.connector import load_connector
from builder.server.serve import ServeOptions
from tests.prometheus import samples
from tests.server.conftest import Stack
from tests.serving import serving
from tests.upstream import Upstream, upstream_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def serve_options() -> ServeOptions:
    return ServeOptions(metrics=True)


async def test_metrics_count_the_calls_of_the_test(stack: Stack) -> None:
    async with Client(stack.url) as client:
        await client.call_tool("get_status", {"code": 200})
        await client.call_tool("get_status", {"code": 200})
        await client.call_tool("post_status", {"code": 500})
        await client.call_tool("no_such_tool", {})
    async with httpx.AsyncClient() as http:
        response = await http.get(stack.url.removesuffix("/mcp") + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found['mcpbuild_tool_calls_total{outcome="ok",tool="get_status"}'] == 2
    assert found['mcpbuild_tool_calls_total{outcome="error",tool="post_status"}'] == 1
    # A name the server does not have never becomes a label (the label set stays bounded).
    assert "no_such_tool" not in response.text
    assert found['mcpbuild_tool_call_seconds_count{tool="get_status"}'] == 2
    assert found['mcpbuild_upstream_responses_total{status="200"}'] == 2
    assert found['mcpbuild_upstream_responses_total{status="500"}'] == 1


async def test_readyz_without_a_provider_has_nothing_to_wait_for(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(stack.url.removesuffix("/mcp") + "/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {}}


async def test_metrics_are_off_unless_asked_for() -> None:
    spec = load_connector(str(Path(__file__).parents[1] / "assets" / "upstream.yaml"))
    async with (
        serving(spec, upstream_app(Upstream()), env={"TEST_API_KEY": "k"}) as url,
        httpx.AsyncClient() as http,
    ):
        assert (await http.get(url.removesuffix("/mcp") + "/metrics")).status_code == 404
