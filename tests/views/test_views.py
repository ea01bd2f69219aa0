"""Views of tool results (MCP Apps): the spec's checks, the values a result carries, the
``ui://`` resources, and the same result for hosts without the extension."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.shared.exceptions import MCPError

from builder.connector import load_connector, load_connector_text
from builder.connector.resolved import resolve_connector
from builder.connector.views import View
from builder.errors import SpecError
from builder.server.serve import Served, ServeOptions, open_connector
from builder.tools.response import Shaped
from builder.views import MIME_TYPE, PAYLOAD_KEY, UI_EXTENSION, ViewCatalog, safe_url
from builder.views.document import runtime, view_document
from builder.views.payload import MAX_ITEMS, ViewPayload, template_environment
from tests.servers import running
from tests.upstream import Upstream, upstream_app

pytestmark = pytest.mark.anyio

HERE = Path(__file__).resolve().parent
SPEC = HERE / "views.yaml"
HOSTILE_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "javascript\n:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example.com/x",
    "/relative/path",
    "https:",
]


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Served, Upstream]]:
    options: ServeOptions = getattr(request, "param", ServeOptions(folder=HERE))
    state = Upstream()
    async with running(upstream_app(state)) as url:
        served = open_connector(load_connector(str(SPEC)), options, {"UPSTREAM_URL": url})
        try:
            yield served, state
        finally:
            await served.client.aclose()


class AppsHost(ClientExtension):
    """What a host with MCP Apps declares: the extension, and the view type it renders."""

    identifier = UI_EXTENSION

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [MIME_TYPE]}


def host(served: Served) -> Client:
    return Client(served.server, extensions=[AppsHost()])


def view_values(result: Any) -> dict[str, Any]:
    meta = result.meta or {}
    values: dict[str, Any] = meta[PAYLOAD_KEY]
    return values


async def test_a_tool_links_its_view_and_the_view_is_a_resource(
    served: tuple[Served, Upstream],
) -> None:
    async with host(served[0]) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        uri = "ui://test-views/views/list_items"
        meta = tools["list_items"].meta or {}
        assert meta["ui"] == {"resourceUri": uri}
        assert meta["openai/outputTemplate"] == uri  # what ChatGPT's Apps SDK reads
        assert not tools["list_items_plain"].meta
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        assert set(listed) == {
            f"ui://test-views/views/{name}"
            for name in ("list_items", "list_items_as_list", "get_item", "item_page")
        }
        assert listed[uri].mime_type == MIME_TYPE
        read = await client.read_resource(uri)
        (contents,) = read.contents
        assert contents.mime_type == MIME_TYPE
        assert (contents.meta or {})["ui"]["csp"] == {"resourceDomains": []}
        html = getattr(contents, "text", "")
        assert html.startswith("<!doctype html>")
        assert '"type": "table"' in html
        with pytest.raises(MCPError, match="no resource"):
            await client.read_resource("ui://test-views/views/list_items_plain")


async def test_a_result_carries_its_view_values_and_the_same_content_as_without(
    served: tuple[Served, Upstream],
) -> None:
    async with host(served[0]) as client:
        viewed = await client.call_tool("list_items", {"n": 2, "tag": "x"})
        plain = await client.call_tool("list_items_plain", {"n": 2})
    # What the model and a host without the extension read is the same.
    assert viewed.content == plain.content
    assert viewed.structured_content == plain.structured_content
    assert viewed.is_error is plain.is_error is False
    assert PAYLOAD_KEY not in (plain.meta or {})
    values = view_values(viewed)
    assert values["type"] == "table"
    assert values["title"] == "Items"
    assert values["columns"] == [
        {"label": "Title", "format": "text"},
        {"label": "Id", "format": "number"},
    ]
    first = values["rows"][0]
    assert first["cells"][0] == {"value": "item 0", "href": "https://example.com/items/0"}
    # Opening a row calls get_item with the row's id and this call's tag, which it takes too.
    assert first["open"] == {"tool": "get_item", "arguments": {"tag": "x", "item_id": "0"}}
    assert values["next"] is None


async def test_a_client_without_the_extension_gets_no_view_values(
    served: tuple[Served, Upstream],
) -> None:
    async with Client(served[0].server) as client:
        viewed = await client.call_tool("list_items", {"n": 2})
        plain = await client.call_tool("list_items_plain", {"n": 2})
    assert (viewed.content, viewed.structured_content) == (plain.content, plain.structured_content)
    assert viewed.meta == plain.meta
    assert PAYLOAD_KEY not in (viewed.meta or {})


async def test_an_error_result_carries_no_view_values(served: tuple[Served, Upstream]) -> None:
    async with host(served[0]) as client:
        result = await client.call_tool("list_items", {"n": "many"})
    assert result.is_error
    assert PAYLOAD_KEY not in (result.meta or {})


async def test_a_template_view_escapes_what_the_api_returns(
    served: tuple[Served, Upstream],
) -> None:
    async with host(served[0]) as client:
        result = await client.call_tool("item_page", {})
    html = view_values(result)["html"]
    assert '<li><a href="">item 0</a></li>' in html  # "item 0" is no URL: no link target


@pytest.mark.parametrize("served", [ServeOptions(folder=HERE, read_only=True)], indirect=True)
async def test_rows_do_not_open_a_tool_that_read_only_serving_left_out(
    served: tuple[Served, Upstream],
) -> None:
    async with host(served[0]) as client:
        result = await client.call_tool("list_items", {"n": 1})
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "open" not in view_values(result)["rows"][0]
    assert "ui://test-views/views/get_item" not in listed


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_only_web_and_mail_links_survive(url: str) -> None:
    assert safe_url(url) is None


@pytest.mark.parametrize(
    "url", ["https://example.com/a?b=c#d", "http://127.0.0.1:8000/x", "mailto:a@example.com"]
)
def test_web_and_mail_links_are_kept(url: str) -> None:
    assert safe_url(url) == url


def _view(data: dict[str, Any]) -> View:
    return View.model_validate(data)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_no_view_kind_passes_a_hostile_link_on(url: str) -> None:
    row = {"title": "<script>window.pwned=1</script>", "url": url}
    table = ViewPayload(
        "t",
        _view(
            {
                "table": {
                    "columns": [
                        {"label": "T", "value": "title", "link": "url"},
                        {"label": "U", "value": "url", "format": "link"},
                    ]
                }
            }
        ),
    ).build([row])
    assert [c.get("href") for c in table["rows"][0]["cells"]] == [None, None]
    assert table["rows"][0]["cells"][0]["value"] == row["title"]  # data: the runtime escapes it
    listed = ViewPayload("t", _view({"list": {"title": "title", "link": "url"}})).build([row])
    assert "href" not in listed["items"][0]
    detail = ViewPayload(
        "t", _view({"detail": {"fields": [{"label": "U", "value": "url", "format": "link"}]}})
    ).build(row)
    assert "href" not in detail["fields"][0]
    image = ViewPayload("t", _view({"image": {"src": "url"}})).build(row)
    assert image["src"] is None


def test_an_image_loads_only_from_a_declared_origin() -> None:
    view = _view({"image": {"src": "src", "domains": ["https://img.example.com"]}})
    payload = ViewPayload("t", view)
    assert payload.build({"src": "https://img.example.com/a.png"})["src"] == (
        "https://img.example.com/a.png"
    )
    assert payload.build({"src": "https://other.example.com/a.png"})["src"] is None
    assert payload.build({"src": "https://img.example.com.evil.test/a.png"})["src"] is None


def test_a_long_list_is_cut_for_the_view_and_says_so() -> None:
    view = _view({"list": {"title": "@"}})
    values = ViewPayload("t", view).build(list(range(MAX_ITEMS + 5)), notes=("more pages",))
    assert len(values["items"]) == MAX_ITEMS
    assert values["notes"][0] == "more pages"
    assert "5 more not shown" in values["notes"][1]


def test_a_row_without_what_opening_needs_has_no_open() -> None:
    opener = {"tool": "x", "arguments": {"id": "id"}}
    view = _view({"table": {"columns": [{"label": "A", "value": "a"}], "open": opener}})
    values = ViewPayload("t", view).build([{"a": 1, "id": 7}, {"a": 2}])
    assert values["rows"][0]["open"] == {"tool": "x", "arguments": {"id": 7}}
    assert "open" not in values["rows"][1]


def test_templates_escape_values_and_drop_unsafe_urls() -> None:
    environment = template_environment()
    environment.filters["url"] = lambda value: safe_url(value) or ""
    template = environment.from_string('<a href="{{ r.u | url }}">{{ r.t }}</a>')
    html = template.render(r={"u": "javascript:alert(1)", "t": "<script>x()</script>"})
    assert html == '<a href="">&lt;script&gt;x()&lt;/script&gt;</a>'


def test_the_document_allows_exactly_its_own_script() -> None:
    script, _ = runtime()
    assert "</script" not in script.lower()
    html = view_document(tool="t", kind="table", heading="</script><script>alert(1)</script>")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None
    assert f"script-src 'sha256-{digest}';" in policy.group(1)
    assert "default-src 'none'" in policy.group(1)
    assert "connect-src" not in policy.group(1)  # falls back to default-src 'none'
    # The title reaches the document only escaped, in <title> and in the JSON data block.
    assert html.count("<script") == 2 + script.count("<script")
    assert "<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in html
    assert '"title": "\\u003c/script>\\u003cscript>alert(1)\\u003c/script>"' in html
    assert f'<script type="module">{script}</script>' in html


BAD_VIEWS = """\
mcpbuild: 1
name: t
api: {base_url: "https://api.example.com"}
tools:
  - name: list_things
    description: d
    request: {method: GET, path: /things}
    params:
      owner: {type: string, in: query}
    view:
      table:
        rows: "items[?"
        columns:
          - {label: A, value: "lenght(a)"}
        open: {tool: get_thng, arguments: {id: id}}
  - name: get_thing
    description: d
    request: {method: GET, path: "/things/{id}"}
    params:
      id: {type: string, in: path}
      repo: {type: string, in: query, required: false}
    view:
      list: {title: a}
      detail: {fields: [{label: x, value: y}]}
  - name: opens_badly
    description: d
    request: {method: GET, path: /things}
    view:
      table:
        columns: [{label: A, value: a}]
        open: {tool: get_thing, arguments: {idd: id}}
  - name: pic
    description: d
    request: {method: GET, path: /pic}
    view:
      image: {domains: ["http://evil.example.com", "https://a.example.com/path"]}
"""


def test_a_bad_view_is_named_at_its_line_and_column() -> None:
    with pytest.raises(SpecError) as caught:
        load_connector_text(BAD_VIEWS, "c.yaml")
    lines = sorted(issue.render() for issue in caught.value.issues)
    expected = [
        "c.yaml:12:15: tools[0].view.table.rows: expected a JMESPath expression, got 'items[?'",
        "c.yaml:14:31: tools[0].view.table.columns[0].value: expected a JMESPath expression, "
        "got 'lenght(a)': unknown function lenght(); did you mean length()?",
        "c.yaml:15:22: tools[0].view.table.open.tool: no tool 'get_thng' to open; "
        "did you mean 'get_thing'?",
        "c.yaml:23:7: tools[1].view: expected exactly one of table, list, detail, image, "
        "template, got list, detail",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, lines)
    assert len(lines) >= len(expected)


def test_a_view_that_opens_badly_or_loads_from_anywhere_is_named() -> None:
    text = BAD_VIEWS.replace("      detail: {fields: [{label: x, value: y}]}\n", "")
    text = text.replace('rows: "items[?"', 'rows: "items"').replace("lenght", "length")
    text = text.replace("get_thng", "get_thing")
    with pytest.raises(SpecError) as caught:
        load_connector_text(text, "c.yaml")
    messages = sorted(issue.render() for issue in caught.value.issues)
    assert any(
        "tools[2].view.table.open.arguments.idd: tool 'get_thing' has no param 'idd'; "
        "did you mean 'id'?" in m
        for m in messages
    ), messages
    assert any(
        "tools[2].view.table.open.arguments: tool 'get_thing' needs id: map it" in m
        for m in messages
    ), messages
    assert any("domains[0]: expected https (http only for loopback)" in m for m in messages)
    assert any("domains[1]: expected an origin like https://" in m for m in messages)
    assert len(messages) == 4, messages


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (None, "no such file"),
        ("<p>{{ result.a }</p>", "line 1: unexpected '}'"),
        ("<script>alert(1)</script>", "may not contain script"),
        ('<a href="JavaScript:x()">x</a>', "may not contain script"),
    ],
)
def test_a_bad_template_file_is_named(tmp_path: Path, body: str | None, problem: str) -> None:
    spec = tmp_path / "connector.yaml"
    spec.write_text(
        "mcpbuild: 1\nname: t\napi: {base_url: 'https://api.example.com'}\ntools:\n"
        "  - name: page\n    description: d\n    request: {method: GET, path: /p}\n"
        "    view: {template: page.html}\n"
    )
    if body is not None:
        (tmp_path / "page.html").write_text(body)
    with pytest.raises(SpecError) as caught:
        load_connector(str(spec))
    (issue,) = caught.value.issues
    assert issue.render().startswith(f"{spec}:8:22: tools[0].view.template: view template")
    assert problem in issue.render()


def test_a_template_outside_the_connectors_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.html").write_text("<p>hi</p>")
    folder = tmp_path / "c"
    folder.mkdir()
    spec = folder / "connector.yaml"
    spec.write_text(
        "mcpbuild: 1\nname: t\napi: {base_url: 'https://api.example.com'}\ntools:\n"
        "  - name: page\n    description: d\n    request: {method: GET, path: /p}\n"
        "    view: {template: ../secret.html}\n"
    )
    with pytest.raises(SpecError, match="inside the connector's folder"):
        load_connector(str(spec))


def test_a_paged_view_gets_a_next_call_instead_of_the_models_paging_note() -> None:
    spec = (
        "mcpbuild: 1\nname: t\napi: {base_url: 'https://api.example.com'}\ntools:\n"
        "  - name: items\n    description: d\n    request: {method: GET, path: /items}\n"
        "    params: {page: {type: integer, in: query, required: false}}\n"
        "    pagination: {style: page, page_param: page}\n"
        "    view: {list: {title: name}}\n"
    )
    catalog = ViewCatalog(resolve_connector(load_connector_text(spec), {}))
    paging = "More results remain: call items again with the same arguments and page=3."
    result = Shaped(
        "[]",
        notes=(paging, "2 long strings were cut"),
        data=[{"name": "a"}],
        next_arguments={"page": 3},
    )
    values = (catalog.result_meta("items", result, {"page": 2}) or {})[PAYLOAD_KEY]
    assert values["next"] == {"tool": "items", "arguments": {"page": 3}}
    assert values["notes"] == ["2 long strings were cut"]
    assert values["items"][0]["title"] == "a"
