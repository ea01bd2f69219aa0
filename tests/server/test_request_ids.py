"""Each tool call's request id: in its JSON log lines, echoed to the client, and sent to the
upstream in the header the spec names (``api.request_id_header``), and only then."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from mcp import Client

from builder.connector import load_connector
from builder.connector.models import Connector
from builder.server.serve import ServeOptions, open_connector
from tests.server.calls import GENERATIONS, call_tool, json_log_lines
from tests.server.conftest import API_KEY, Stack
from tests.servers import running
from tests.upstream import Upstream, upstream_app

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).resolve().parents[1] / "assets" / "upstream.yaml"
GENERATED = re.compile(r"[0-9a-f]{16}")


def with_request_id_header(connector: Connector, header: str) -> Connector:
    api = connector.api.model_copy(update={"request_id_header": header})
    return connector.model_copy(update={"api": api})


@pytest.fixture
async def named() -> AsyncIterator[Stack]:
    """The test connector with ``api.request_id_header: X-Correlation-Id``."""
    state = Upstream()
    connector = with_request_id_header(load_connector(str(SPEC)), "X-Correlation-Id")
    options = ServeOptions()
    async with running(upstream_app(state)) as upstream_url:
        served = open_connector(
            connector, options, {"UPSTREAM_URL": upstream_url, "TEST_API_KEY": API_KEY}
        )
        async with running(served.http_app(options)) as base:
            yield Stack(state, upstream_url, served, f"{base}/mcp")


def tool_call_lines(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line["msg"] == "tool call"]


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_an_incoming_request_id_is_logged_echoed_and_sent_upstream(
    named: Stack, generation: str
) -> None:
    with json_log_lines() as lines:
        async with httpx.AsyncClient() as http:
            response = await call_tool(
                http,
                named.url,
                "echo_path",
                {"value": "a"},
                generation=generation,
                headers={"X-Request-Id": "client-7.a_B"},
            )
    assert response.headers["x-request-id"] == "client-7.a_B"
    assert named.upstream.last.headers["x-correlation-id"] == "client-7.a_B"
    [line] = tool_call_lines(lines)
    assert line["request_id"] == "client-7.a_B"
    assert line["tool"] == "echo_path"


@pytest.mark.parametrize(
    "incoming", ["has spaces", "x" * 129, "semi;colon", "ünïcode".encode(), "back\\slash", ""]
)
async def test_a_malformed_request_id_is_replaced(named: Stack, incoming: str | bytes) -> None:
    with json_log_lines() as lines:
        async with httpx.AsyncClient() as http:
            response = await call_tool(
                http, named.url, "echo_path", {"value": "a"}, headers={"X-Request-Id": incoming}
            )
    replaced = response.headers["x-request-id"]
    assert GENERATED.fullmatch(replaced)
    assert named.upstream.last.headers["x-correlation-id"] == replaced
    assert tool_call_lines(lines)[0]["request_id"] == replaced


async def test_without_one_each_call_gets_its_own(named: Stack) -> None:
    with json_log_lines() as lines:
        async with Client(named.url) as client:
            await client.call_tool("echo_path", {"value": "a"})
            await client.call_tool("echo_path", {"value": "b"})
    first, second = (str(line["request_id"]) for line in tool_call_lines(lines))
    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second
    sent = [s.headers["x-correlation-id"] for s in named.upstream.seen if "/echo/" in s.raw_path]
    assert sent == [first, second]


async def test_no_header_goes_upstream_unless_the_spec_names_one(stack: Stack) -> None:
    with json_log_lines() as lines:
        async with httpx.AsyncClient() as http:
            response = await call_tool(
                http, stack.url, "echo_path", {"value": "a"}, headers={"X-Request-Id": "r-1"}
            )
    assert response.headers["x-request-id"] == "r-1"
    assert tool_call_lines(lines)[0]["request_id"] == "r-1"
    sent = stack.upstream.last.headers
    assert "x-request-id" not in sent
    assert "r-1" not in sent.values()


async def test_a_tool_argument_never_sets_the_request_id(named: Stack) -> None:
    async with httpx.AsyncClient() as http:
        await call_tool(
            http,
            named.url,
            "search",
            {"q": "x", "trace": "model-chosen"},  # `trace` goes out as X-Trace
            headers={"X-Request-Id": "from-the-client"},
        )
    sent = named.upstream.last.headers
    assert (sent["x-correlation-id"], sent["x-trace"]) == ("from-the-client", "model-chosen")
