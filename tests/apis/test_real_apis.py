"""Real API shapes through the official MCP client: request bodies as templates, GraphQL,
errors inside 200, every pagination style, and a multipart upload, against the real
servers of tests/apis/server.py (graphql-core, Starlette's multipart parser)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from builder.connector import load_connector
from builder.server.serve import ServeOptions, open_connector
from builder.state.crypto import generate_key
from tests.apis.server import ITEMS, ApiState, api_app
from tests.servers import running
from tests.serving import serving

pytestmark = pytest.mark.anyio
SPEC = Path(__file__).with_name("realapis.yaml")
IDS = [i["id"] for i in ITEMS]


@dataclass
class World:
    api: ApiState
    mcp_url: str


@pytest.fixture
async def world() -> AsyncIterator[World]:
    state = ApiState()
    async with serving(load_connector(str(SPEC)), api_app(state), url_variable="API_URL") as url:
        yield World(state, url)


def texts(result: CallToolResult) -> list[str]:
    return [c.text for c in result.content if isinstance(c, TextContent)]


def data(result: CallToolResult) -> Any:
    assert not result.is_error, texts(result)
    return json.loads(texts(result)[0])


async def call(world: World, tool: str, args: dict[str, Any] | None = None) -> CallToolResult:
    async with Client(world.mcp_url) as client:
        return await client.call_tool(tool, args or {})


# Request bodies


async def test_fixed_body_values_sit_next_to_a_param_in_a_nested_key(world: World) -> None:
    result = await call(world, "search_pages", {"query": "roadmap", "kind": "database"})
    assert data(result) == IDS[:3]
    assert world.api.received[-1].json() == {
        "filter": {"property": "object", "value": "database"},
        "sort": {"direction": "descending"},
        "query": "roadmap",
        "page_size": 3,
    }


async def test_a_spread_param_is_the_whole_body_and_its_schema_tells_the_truth(
    world: World,
) -> None:
    async with Client(world.mcp_url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        created = await client.call_tool(
            "create_account", {"fields": {"Name": "Acme", "Type": "Partner", "Site": "x"}}
        )
        missing = await client.call_tool("create_account", {"fields": {"Phone": "1"}})
        wrong = await client.call_tool("create_account", {"fields": {"Name": "A", "Type": "x"}})
    schema = tools["create_account"].input_schema["properties"]["fields"]
    assert schema["required"] == ["Name"]
    assert schema["properties"]["Type"]["enum"] == ["Customer", "Partner"]
    assert data(created) == {
        "id": "001-new",
        "fields": {"Name": "Acme", "Type": "Partner", "Site": "x"},
    }
    assert world.api.received[-1].json() == {"Name": "Acme", "Type": "Partner", "Site": "x"}
    assert missing.is_error
    assert "Name" in texts(missing)[0]
    assert wrong.is_error
    assert "Customer, Partner" in texts(wrong)[0].replace("'", "")
    assert len(world.api.received) == 1  # the refused calls sent nothing


async def test_a_multipart_upload_reaches_a_real_parser(world: World) -> None:
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 test file"
    result = await call(
        world,
        "upload_file",
        {"content": base64.b64encode(pdf).decode(), "filename": "q3.pdf", "title": "Q3"},
    )
    assert data(result) == {
        "purpose": "attachment",
        "title": "Q3",
        "content": {
            "filename": "q3.pdf",
            "content_type": "application/pdf",
            "size": len(pdf),
            "head": pdf[:8].hex(),
        },
    }
    assert world.api.received[-1].headers["content-type"].startswith("multipart/form-data;")
    bad = await call(world, "upload_file", {"content": "not base64!", "filename": "x.pdf"})
    assert bad.is_error
    assert "base64" in texts(bad)[0]


# GraphQL


async def test_graphql_document_and_variables_are_sent_and_not_in_the_schema(
    world: World,
) -> None:
    async with Client(world.mcp_url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        created = await client.call_tool("create_issue", {"title": "Fix login"})
    assert set(tools["create_issue"].input_schema["properties"]) == {"title"}
    assert "mutation" not in json.dumps(tools["create_issue"].input_schema)
    assert data(created) == {"id": "it-new", "title": "Fix login"}
    sent = world.api.received[-1].json()
    assert sent["variables"] == {"title": "Fix login"}
    assert sent["query"].startswith("mutation Create")


async def test_graphql_errors_with_http_200_are_tool_errors(world: World) -> None:
    found = await call(world, "get_issue", {"issue_id": "it-2"})
    missing = await call(world, "get_issue", {"issue_id": "it-404"})
    assert data(found) == {"id": "it-2", "title": "item 2"}
    assert world.api.received[-1].json()["variables"] == {"id": "it-404"}
    assert missing.is_error
    assert "Entity not found: Issue it-404" in texts(missing)[0]


# Errors inside 200


async def test_ok_false_with_http_200_is_a_tool_error_with_the_apis_message(
    world: World,
) -> None:
    result = await call(world, "list_channels", {"channel": "C-missing"})
    assert result.is_error
    assert "channel_not_found" in texts(result)[0]


# Pagination


async def test_graphql_cursor_pages_one_at_a_time_with_the_argument_for_the_next(
    world: World,
) -> None:
    first = await call(world, "list_issues", {})
    assert [i["id"] for i in data(first)] == IDS[:3]
    assert 'after="c3"' in texts(first)[-1]
    second = await call(world, "list_issues", {"after": "c3"})
    assert [i["id"] for i in data(second)] == IDS[3:6]
    last = await call(world, "list_issues", {"after": "c6"})
    assert [i["id"] for i in data(last)] == IDS[6:]
    assert texts(last)[-1] == "This is the last page."


async def test_notion_cursor_in_the_body(world: World) -> None:
    first = await call(world, "search_pages", {})
    assert 'start_cursor="3"' in texts(first)[-1]
    second = await call(world, "search_pages", {"start_cursor": "3"})
    assert data(second) == IDS[3:6]
    assert world.api.received[-1].json()["start_cursor"] == "3"


async def test_link_header_pages_come_back_as_a_signed_handle(world: World) -> None:
    first = await call(world, "list_items", {})
    assert data(first) == IDS[:3]
    note = texts(first)[-1]
    handle = note.split('cursor="', 1)[1].split('"', 1)[0]
    second = await call(world, "list_items", {"cursor": handle})
    assert data(second) == IDS[3:6]
    # The Link header's URL, on another path, was fetched as given.
    assert world.api.paths()[-1] == "/v2/items/by-id?page=2&per_page=3"
    # A handle not issued by this server is refused before anything is sent.
    forged = base64.urlsafe_b64encode(b"x" * 12 + b"http://127.0.0.1:1/admin").decode()
    refused = await call(world, "list_items", {"cursor": forged})
    assert refused.is_error
    assert "handle from this tool's previous result" in texts(refused)[0]
    assert len(world.api.received) == 2


async def test_a_next_page_url_in_the_body_comes_back_as_a_signed_handle(world: World) -> None:
    first = await call(world, "graph_items", {})
    assert data(first) == IDS[:3]
    handle = texts(first)[-1].split('cursor="', 1)[1].split('"', 1)[0]
    second = await call(world, "graph_items", {"cursor": handle})
    assert data(second) == IDS[3:6]
    assert world.api.paths()[-1] == "/v1/graph/items?$skiptoken=3"  # sent as Graph gave it
    last = await call(world, "graph_items", {"cursor": texts(second)[-1].split('"')[1]})
    assert data(last) == IDS[6:]
    assert texts(last)[-1] == "This is the last page."


async def test_a_relative_next_page_path_in_the_body_is_followed_to_the_end(
    world: World,
) -> None:
    result = await call(world, "soql_all", {})
    assert data(result) == IDS
    assert world.api.paths() == ["/v1/sf/query", "/v1/sf/query/3", "/v1/sf/query/6"]


async def test_a_next_page_url_in_the_body_off_the_base_url_is_not_followed(
    world: World,
) -> None:
    result = await call(world, "graph_items", {"steal": True})
    assert result.is_error
    assert "next page is outside the API's base URL (127.0.0.2:9)" in texts(result)[0]
    assert world.api.paths() == ["/v1/graph/items?steal=true"]


async def test_automatic_paging_follows_every_link_to_the_last_page(world: World) -> None:
    result = await call(world, "all_items", {})
    assert data(result) == IDS
    assert texts(result)[-1] == "All 7 items from 4 pages; this is the last page."


async def test_automatic_paging_stops_at_max_items_and_says_how_to_go_on(world: World) -> None:
    result = await call(world, "list_channels", {})
    assert data(result) == ["item 1", "item 2", "item 3", "item 4", "item 5"]
    note = texts(result)[-1]
    assert "stopped at the limit of 5 items" in note
    assert 'cursor="6"' in note
    assert "1 more items of the last page are not shown" in note


async def test_page_numbers_until_an_empty_page(world: World) -> None:
    first = await call(world, "paged_items", {})
    assert data(first) == IDS[:3]
    assert "page=2" in texts(first)[-1]
    assert texts(first)[-1].startswith("There may be more results")
    empty = await call(world, "paged_items", {"page": 4})
    assert data(empty) == []
    assert texts(empty)[-1] == "This is the last page."


async def test_offsets_count_the_items_received(world: World) -> None:
    result = await call(world, "offset_items", {})
    assert data(result) == IDS
    assert [r.query for r in world.api.received] == [
        "limit=3",
        "offset=3&limit=3",
        "offset=6&limit=3",
        "offset=7&limit=3",
    ]


async def test_one_of_tells_the_model_the_alternatives_and_refuses_a_mix(world: World) -> None:
    async with Client(world.mcp_url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        day = await client.call_tool(
            "create_event", {"summary": "Offsite", "start": {"date": "2026-12-01"}}
        )
        both = await client.call_tool(
            "create_event",
            {"summary": "x", "start": {"date": "2026-12-01", "dateTime": "2026-12-01T09:00:00Z"}},
        )
    start = tools["create_event"].input_schema["properties"]["start"]
    assert [list(s["properties"]) for s in start["oneOf"]] == [["dateTime"], ["date"]]
    assert [s["required"] for s in start["oneOf"]] == [["dateTime"], ["date"]]
    assert data(day) == {"summary": "Offsite", "start": {"date": "2026-12-01"}}
    assert both.is_error
    assert texts(both)[0] == (
        "argument 'start': expected exactly one of: an object with dateTime and nothing else; "
        "or an object with date and nothing else; got an object with date, dateTime"
    )
    assert len(world.api.received) == 1


async def test_a_next_link_off_the_base_url_is_not_followed(world: World) -> None:
    result = await call(world, "escaping_items", {})
    assert result.is_error
    assert "next page is outside the API's base URL (127.0.0.2:9); not followed" in texts(result)[0]
    assert world.api.paths() == ["/v1/escaping"]


@pytest.mark.parametrize(
    ("name", "arrives"),
    [
        ("my report ü.pdf", "my report ü.pdf"),  # as a browser sends it, not percent-encoded
        ('q3"\r\nX-Evil: 1.pdf', "q3%22%0D%0AX-Evil: 1.pdf"),  # no header can be injected
    ],
)
async def test_file_names_arrive_as_browsers_send_them(
    world: World, name: str, arrives: str
) -> None:
    content = base64.b64encode(b"%PDF-1.7").decode()
    result = await call(world, "upload_file", {"content": content, "filename": name})
    got = data(result)
    assert got["content"]["filename"] == arrives
    assert set(got) == {"purpose", "content"}


async def test_a_handle_from_one_replica_is_honoured_by_another_with_the_same_key() -> None:
    """Replicas (or workers) sharing MCPBUILD_SECRET_KEY sign next-page handles alike, so a
    2026-07-28 client whose next call lands elsewhere still gets its next page."""
    connector = load_connector(str(SPEC))
    async with running(api_app(ApiState())) as api_url:
        env = {"MCPBUILD_SECRET_KEY": generate_key(), "API_URL": api_url}
        options = ServeOptions()
        one = open_connector(connector, options, env)
        two = open_connector(connector, options, env)
        async with running(one.http_app(options)) as first, running(two.http_app(options)) as other:
            async with Client(f"{first}/mcp") as client:
                page = await client.call_tool("list_items", {})
            handle = texts(page)[-1].split('cursor="', 1)[1].split('"', 1)[0]
            async with Client(f"{other}/mcp") as client:
                second = await client.call_tool("list_items", {"cursor": handle})
    assert data(second) == IDS[3:6]
