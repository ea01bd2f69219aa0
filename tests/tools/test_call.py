"""Tool calls against a real HTTP API on 127.0.0.1: exactly what arrives, and every failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from builder.connector.resolved import resolve_connector
from builder.tools.call import ToolRunner
from builder.tools.transport import UpstreamClient
from tests.servers import free_port
from tests.tools.conftest import API_KEY, Rig

# anyio's plugin, not pytest-asyncio: it keeps a fixture's set-up and tear-down in one task,
# which servers started in a task group need.
pytestmark = pytest.mark.anyio


async def test_path_param_is_one_encoded_segment(rig: Rig) -> None:
    result = await rig.runner.call("echo_path", {"value": "../admin"})
    assert not result.is_error, result.text
    assert rig.upstream.paths() == ["/api/echo/..%2Fadmin"]


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        ("..", "/api/echo/%2E%2E"),
        (".", "/api/echo/%2E"),
        ("a/b?c=d#e", "/api/echo/a%2Fb%3Fc%3Dd%23e"),
        ("%2e%2e", "/api/echo/%252e%252e"),
        ("//evil.example.com", "/api/echo/%2F%2Fevil.example.com"),
        ("héllo wörld", "/api/echo/h%C3%A9llo%20w%C3%B6rld"),
    ],
)
async def test_no_path_value_escapes_its_segment(rig: Rig, value: str, raw: str) -> None:
    result = await rig.runner.call("echo_path", {"value": value})
    assert not result.is_error, result.text
    assert rig.upstream.paths() == [raw]


async def test_empty_path_param_is_refused_before_sending(rig: Rig) -> None:
    result = await rig.runner.call("echo_path", {"value": ""})
    assert result.is_error
    assert "argument 'value': expected a non-empty value for a path segment" in result.text
    assert rig.upstream.paths() == []


async def test_query_header_and_static_parts_arrive_exactly(rig: Rig) -> None:
    result = await rig.runner.call(
        "search", {"q": "a b&c", "tags": ["x", "y"], "ids": [1, 2], "trace": "t-1"}
    )
    assert not result.is_error, result.text
    seen = rig.upstream.last
    assert seen.raw_path == "/api/echo/search"
    assert seen.query == "static=yes&q=a+b%26c&per_page=10&tags=x&tags=y&ids=1%2C2"
    assert seen.headers["x-trace"] == "t-1"
    assert seen.headers["x-api-key"] == API_KEY
    assert seen.headers["accept"] == "application/json"


async def test_header_param_with_line_break_is_refused(rig: Rig) -> None:
    result = await rig.runner.call("search", {"q": "x", "trace": "a\r\nX-Evil: 1"})
    assert result.is_error
    assert "argument 'trace': expected a header value without control characters" in result.text
    assert rig.upstream.paths() == []


async def test_json_body_with_defaults(rig: Rig) -> None:
    result = await rig.runner.call("create_thing", {"title": "T", "meta": {"tag": "z"}})
    assert not result.is_error, result.text
    seen = rig.upstream.last
    assert seen.method == "POST"
    assert seen.headers["content-type"] == "application/json"
    assert seen.json() == {"title": "T", "count": 1, "meta": {"tag": "z"}}


async def test_form_body(rig: Rig) -> None:
    result = await rig.runner.call("form_thing", {"name": "n m", "flags": ["a", "b"]})
    assert not result.is_error, result.text
    seen = rig.upstream.last
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.body == b"name=n+m&flags=a&flags=b"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"q": 5}, "argument 'q': expected a string, got 5"),
        ({}, "missing required argument 'q'"),
        ({"q": "x", "limit": 500}, "argument 'limit': expected at most 50, got 500"),
        ({"q": "x", "limt": 5}, "unknown argument 'limt'; did you mean 'limit'?"),
        ({"q": "x", "sort": "mid"}, "argument 'sort': expected one of 'new', 'old', got 'mid'"),
        ({"q": "x", "ids": [1, "two"]}, "argument 'ids'[1]: expected an integer, got 'two'"),
    ],
)
async def test_bad_arguments_name_what_was_expected(
    rig: Rig, args: dict[str, object], message: str
) -> None:
    result = await rig.runner.call("search", args)
    assert result.is_error
    assert result.text == message
    assert rig.upstream.paths() == []


async def test_select_shapes_json(rig: Rig) -> None:
    result = await rig.runner.call("list_items", {"n": 2})
    assert json.loads(result.text) == [
        {"id": "0", "title": "item 0"},
        {"id": "1", "title": "item 1"},
    ]
    assert result.structured is None


async def test_output_schema_gives_structured_content(rig: Rig) -> None:
    result = await rig.runner.call("list_item_ids", {})
    assert result.structured == {"ids": ["0", "1", "2"]}


async def test_large_body_is_trimmed_and_says_so(rig: Rig) -> None:
    result = await rig.runner.call("big", {"n": 5000})
    assert json.loads(result.text)["data"].endswith("…[+4027 chars]")
    assert len(result.text.encode()) <= 1000
    assert result.notes == ("trimmed to fit 1000 bytes: 1 long string shortened to 973 characters",)


async def test_binary_and_text_bodies(rig: Rig) -> None:
    assert (await rig.runner.call("binary", {})).text == "[binary response: image/png, 108 bytes]"
    assert (await rig.runner.call("text", {})).text == "plain words"


async def test_4xx_is_a_tool_error_with_upstream_message(rig: Rig) -> None:
    result = await rig.runner.call("get_status", {"code": 404})
    assert result.is_error
    host = rig.url.removeprefix("http://")
    assert result.text == f"{host} answered HTTP 404 Not Found: status 404 as asked"
    assert len(rig.upstream.paths()) == 1


async def test_5xx_on_get_is_retried_then_succeeds(rig: Rig) -> None:
    result = await rig.runner.call("flaky", {"key": "k1", "fails": 2})
    assert not result.is_error, result.text
    assert json.loads(result.text) == {"ok": True, "calls": 3}
    sleeps = rig.sleeps
    assert len(sleeps) == 2
    assert 0.125 <= sleeps[0] <= 0.25
    assert 0.25 <= sleeps[1] <= 0.5


async def test_retries_are_bounded_by_attempts(rig: Rig) -> None:
    result = await rig.runner.call("flaky", {"key": "k2", "fails": 10})
    assert result.is_error
    assert "answered HTTP 503" in result.text
    assert len(rig.upstream.paths()) == 3


async def test_429_honours_retry_after(rig: Rig) -> None:
    result = await rig.runner.call("flaky", {"key": "k3", "status": 429, "retry_after": "1"})
    assert not result.is_error, result.text
    assert rig.sleeps == [1.0]


async def test_retry_after_beyond_max_wait_is_not_waited_for(rig: Rig) -> None:
    result = await rig.runner.call("flaky", {"key": "k4", "status": 429, "retry_after": "3600"})
    assert result.is_error
    assert "(rate limited; retry after 3600 s)" in result.text
    assert rig.sleeps == []


async def test_post_is_not_retried(rig: Rig) -> None:
    result = await rig.runner.call("flaky_post", {"key": "k5"})
    assert result.is_error
    assert len(rig.upstream.paths()) == 1


async def test_timeout_names_the_host(rig: Rig) -> None:
    result = await rig.runner.call("slow", {"seconds": 5})
    host = rig.url.removeprefix("http://")
    assert result.is_error
    assert result.text == f"{host} did not answer within 2 s"


async def test_dropped_connection_is_a_tool_error(rig: Rig) -> None:
    result = await rig.runner.call("drop", {})
    assert result.is_error
    assert "broke before a full response came" in result.text


async def test_redirect_to_another_origin_is_not_followed(rig: Rig) -> None:
    result = await rig.runner.call("redirect", {"to": "http://127.0.0.2:9/steal"})
    assert result.is_error
    assert "redirecting to another origin (127.0.0.2:9); not followed" in result.text
    assert rig.upstream.paths() == ["/api/redirect"]


async def test_redirect_outside_base_path_is_not_followed(rig: Rig) -> None:
    result = await rig.runner.call("redirect", {"to": f"{rig.url}/admin"})
    assert result.is_error
    assert rig.upstream.paths() == ["/api/redirect"]


async def test_redirect_within_base_url_is_followed(rig: Rig) -> None:
    result = await rig.runner.call("redirect", {"to": f"{rig.url}/api/items"})
    assert not result.is_error, result.text
    assert rig.upstream.paths() == ["/api/redirect", "/api/items"]


async def test_unreachable_upstream(rig: Rig, make_client: Callable[[], UpstreamClient]) -> None:
    env = {"UPSTREAM_URL": f"http://127.0.0.1:{free_port()}", "TEST_API_KEY": API_KEY}
    runner = ToolRunner(resolve_connector(rig.runner.connector.spec, env), make_client())
    result = await runner.call("text", {})
    await runner.client.aclose()
    assert result.is_error
    assert result.text.startswith("could not connect to 127.0.0.1:")


async def test_secret_header_value_never_reaches_a_result(rig: Rig) -> None:
    result = await rig.runner.call("echo_path", {"value": "x"})
    assert API_KEY not in result.text
    assert "[redacted]" in result.text


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        # Jira: messages, and field errors by field.
        (
            {"errorMessages": ["Field 'priority' is required"], "errors": {"summary": "Too long"}},
            "Field 'priority' is required; summary: Too long",
        ),
        # Salesforce: a list of coded errors.
        (
            [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            "NOT_FOUND: The requested resource does not exist",
        ),
        # Google and Microsoft Graph: one error object with a code and a message.
        (
            {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}},
            "NOT_FOUND: Not Found",
        ),
        (
            {"error": {"code": "ErrorItemNotFound", "message": "The object was not found."}},
            "ErrorItemNotFound: The object was not found.",
        ),
        ({"error": {"message": "Bad"}}, "Bad"),
        # A list of something else stays the API's JSON.
        ([1, 2], "[1, 2]"),
    ],
)
def test_error_bodies_of_known_shapes_read_as_sentences(body: Any, detail: str) -> None:
    from builder.tools.response import error_detail
    from builder.tools.transport import UpstreamResponse

    raw = json.dumps(body).encode()
    response = UpstreamResponse(
        400, "Bad Request", {"content-type": "application/json"}, raw, False
    )
    assert error_detail(response) == detail
