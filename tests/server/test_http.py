"""The served connector through the official MCP client over streamable HTTP."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from builder.server.serve import ServeOptions
from tests.jsonrpc import INITIALIZE, STREAMABLE_ACCEPT
from tests.server.conftest import API_KEY, Stack

pytestmark = pytest.mark.anyio
GENERATIONS = ["legacy", "2026-07-28"]


@pytest.mark.parametrize("mode", GENERATIONS)
async def test_tools_list_follows_the_spec(stack: Stack, mode: str) -> None:
    async with Client(stack.url, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert len(tools) == 17
    search = tools["search"]
    assert search.description == "Echo a search with query and header params."
    assert search.input_schema["required"] == ["q"]
    assert search.input_schema["properties"]["limit"]["default"] == 10
    assert search.input_schema["additionalProperties"] is False
    assert search.annotations is not None
    assert search.annotations.read_only_hint is True
    delete = tools["delete_thing"].annotations
    assert delete is not None
    assert (delete.read_only_hint, delete.destructive_hint, delete.idempotent_hint) == (
        False,
        True,
        True,
    )
    create = tools["create_thing"].annotations
    assert create is not None
    assert (create.destructive_hint, create.idempotent_hint) == (False, False)
    assert tools["list_item_ids"].output_schema == {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
        "required": ["ids"],
    }


@pytest.mark.parametrize("mode", GENERATIONS)
async def test_tool_call_reaches_the_api(stack: Stack, mode: str) -> None:
    async with Client(stack.url, mode=mode) as client:
        result = await client.call_tool("echo_path", {"value": "../admin"})
        structured = await client.call_tool("list_item_ids", {})
    assert not result.is_error
    echoed = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert echoed["raw_path"] == "/api/echo/..%2Fadmin"
    assert echoed["headers"]["x-api-key"] == "[redacted]"
    assert stack.upstream.paths() == ["/api/echo/..%2Fadmin", "/api/items"]
    assert structured.structured_content == {"ids": ["0", "1", "2"]}


@pytest.mark.parametrize("mode", GENERATIONS)
async def test_bad_argument_is_a_tool_error(stack: Stack, mode: str) -> None:
    async with Client(stack.url, mode=mode) as client:
        result = await client.call_tool("search", {"q": 1})
        unknown = await client.call_tool("nope", {})
    assert result.is_error
    assert result.content[0].text == "argument 'q': expected a string, got 1"  # type: ignore[union-attr]
    assert unknown.is_error
    assert "unknown tool 'nope'" in unknown.content[0].text  # type: ignore[union-attr]
    assert stack.upstream.paths() == []


@pytest.mark.parametrize("mode", GENERATIONS)
async def test_upstream_failure_is_a_tool_error(stack: Stack, mode: str) -> None:
    async with Client(stack.url, mode=mode) as client:
        result = await client.call_tool("post_status", {"code": 500})
    assert result.is_error
    assert "answered HTTP 500 Internal Server Error: status 500 as asked" in (
        result.content[0].text  # type: ignore[union-attr]
    )


async def test_dns_rebinding_host_and_origin_are_refused(stack: Stack) -> None:
    body = INITIALIZE
    headers = STREAMABLE_ACCEPT
    async with httpx.AsyncClient() as http:
        ok = await http.post(stack.url, json=body, headers=headers)
        evil_host = await http.post(
            stack.url, json=body, headers={**headers, "Host": "evil.example"}
        )
        evil_origin = await http.post(
            stack.url, json=body, headers={**headers, "Origin": "http://evil.example"}
        )
    assert ok.status_code == 200
    assert evil_host.status_code == 421
    assert evil_origin.status_code == 403


async def test_body_size_is_limited(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            stack.url,
            content=b'{"jsonrpc":"2.0","id":1,"method":"ping","pad":"' + b"x" * 2_000_000 + b'"}',
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
        )
    assert response.status_code == 413


@pytest.mark.parametrize("serve_options", [ServeOptions(read_only=True)])
@pytest.mark.parametrize("mode", GENERATIONS)
async def test_read_only_hides_and_refuses_writes(stack: Stack, mode: str) -> None:
    async with Client(stack.url, mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        refused = await client.call_tool("create_thing", {"title": "x"})
    assert "create_thing" not in names
    assert "delete_thing" not in names
    assert "search" in names
    assert refused.is_error
    assert "this server is read-only" in refused.content[0].text  # type: ignore[union-attr]
    assert stack.upstream.paths() == []


async def test_one_log_line_per_call_and_no_secret(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Client(stack.url, mode="legacy") as client:
        await client.call_tool("echo_path", {"value": "v"})
        await client.call_tool("get_status", {"code": 404})
    calls = [r for r in caplog.records if r.name == "mcpbuild.tools"]
    assert [(r.tool, r.outcome, r.upstream_status) for r in calls] == [  # type: ignore[attr-defined]
        ("echo_path", "ok", 200),
        ("get_status", "error", 404),
    ]
    assert all(isinstance(r.duration_ms, float) for r in calls)  # type: ignore[attr-defined]
    assert API_KEY not in caplog.text


async def test_internal_errors_do_not_leak(stack: Stack) -> None:
    class Broken:
        async def send(self, *args: object, **kwargs: object) -> object:
            raise RuntimeError("secret internal detail hunter2")

        async def aclose(self) -> None:
            return None

    stack.served.runner.client = Broken()  # type: ignore[assignment]
    for mode in GENERATIONS:
        async with Client(stack.url, mode=mode) as client:
            with pytest.raises(MCPError) as info:
                await client.call_tool("text", {})
        assert "hunter2" not in str(info.value)
        assert info.value.error.message == "Internal server error"
