"""Errors inside successful answers: `response.error` (Slack's ok: false) and GraphQL
`errors` with HTTP 200 are tool errors that carry the API's own message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from builder.connector import load_connector_text
from builder.connector.models import ErrorWhen
from builder.connector.models import Response as ResponseSpec
from builder.errors import ToolCallError, UpstreamError
from builder.tools.response import ResponseShaper
from builder.tools.transport import UpstreamResponse
from tests.serving import serving

SLACK = ErrorWhen(when="ok == `false`", message="error")


def _answer(data: Any, status: int = 200, reason: str = "OK") -> UpstreamResponse:
    body = json.dumps(data).encode()
    return UpstreamResponse(status, reason, {"content-type": "application/json"}, body, False)


def test_slack_ok_false_is_a_tool_error_with_the_api_message() -> None:
    shaper = ResponseShaper(ResponseSpec(error=SLACK), host="slack.com")
    result = shaper.shape(_answer({"ok": False, "error": "channel_not_found"}), "POST")
    assert result.is_error
    assert result.text == "slack.com answered HTTP 200 OK with an error: channel_not_found"


def test_without_a_host_the_text_says_the_api() -> None:
    shaper = ResponseShaper(ResponseSpec(error=SLACK))
    result = shaper.shape(_answer({"ok": False, "error": "not_authed"}), "GET")
    assert result.text == "the API answered HTTP 200 OK with an error: not_authed"


def test_a_good_answer_is_selected_as_usual() -> None:
    shaper = ResponseShaper(ResponseSpec(error=SLACK, select="channel.id"), host="slack.com")
    result = shaper.shape(_answer({"ok": True, "channel": {"id": "C1"}}), "GET")
    assert not result.is_error
    assert json.loads(result.text) == "C1"


def test_the_check_runs_on_the_body_before_select() -> None:
    # the select would hide `ok` (and find nothing): the error is still seen
    shaper = ResponseShaper(ResponseSpec(error=SLACK, select="channel.id"), host="slack.com")
    result = shaper.shape(_answer({"ok": False, "error": "is_archived"}), "GET")
    assert result.is_error
    assert result.text.endswith("with an error: is_archived")


@pytest.mark.parametrize(
    ("error", "body", "text"),
    [
        # no message expression: the usual message keys of the body
        (ErrorWhen(when="ok == `false`"), {"ok": False, "error": "ratelimited"}, "ratelimited"),
        # the expression finds nothing, nor do the usual keys
        (SLACK, {"ok": False}, "(response.error.when matched: ok == `false`)"),
        (ErrorWhen(when="status == 'ERROR'"), {"status": "ERROR"}, "(response.error.when "),
        # a message that is not a string is shown as JSON, on one line
        (
            ErrorWhen(when="failed", message="problems"),
            {"failed": True, "problems": [{"field": "name", "issue": "too   long"}]},
            'with an error: [{"field": "name", "issue": "too long"}]',
        ),
    ],
)
def test_messages_when_the_api_gives_none_or_not_a_string(
    error: ErrorWhen, body: dict[str, Any], text: str
) -> None:
    result = ResponseShaper(ResponseSpec(error=error), host="api.example.com").shape(
        _answer(body), "GET"
    )
    assert result.is_error
    assert result.text.startswith("api.example.com answered HTTP 200 OK with an error")
    assert text in result.text


@pytest.mark.parametrize("value", [0, "no", [0], {"a": 1}])
def test_when_follows_jmespath_truth(value: Any) -> None:
    shaper = ResponseShaper(ResponseSpec(error=ErrorWhen(when="bad")))
    assert shaper.shape(_answer({"bad": value}), "GET").is_error


@pytest.mark.parametrize("value", [False, None, "", [], {}])
def test_false_null_and_empty_are_not_errors(value: Any) -> None:
    shaper = ResponseShaper(ResponseSpec(error=ErrorWhen(when="bad")))
    assert not shaper.shape(_answer({"bad": value}), "GET").is_error


def test_a_when_failing_at_run_time_is_a_tool_error_naming_it() -> None:
    shaper = ResponseShaper(ResponseSpec(error=ErrorWhen(when="length(ok) > `0`")))
    with pytest.raises(ToolCallError) as info:
        shaper.shape(_answer({"ok": True}), "GET")
    assert str(info.value) == (
        "the tool's response.error.when 'length(ok) > `0`' failed on this response: "
        "length() expected string or array or object, got boolean"
    )


def test_graphql_errors_with_200_are_a_tool_error() -> None:
    shaper = ResponseShaper(ResponseSpec(select="data.issue"), graphql=True, host="api.linear.app")
    body = {
        "data": {"issue": None},
        "errors": [
            {"message": "Entity not found", "path": ["issue", "comments", 0]},
            {"message": "Rate limit\nexceeded", "extensions": {"code": "RATELIMITED"}},
        ],
    }
    result = shaper.shape(_answer(body), "POST")
    assert result.is_error
    assert result.text == (
        "api.linear.app answered HTTP 200 OK with 2 GraphQL errors: Entity not found "
        "(at issue.comments[0]); Rate limit exceeded"
    )


def test_graphql_error_without_a_message_is_shown_as_json() -> None:
    shaper = ResponseShaper(ResponseSpec(), graphql=True)
    result = shaper.shape(_answer({"errors": [{"code": 7}]}), "POST")
    assert result.text == 'the API answered HTTP 200 OK with 1 GraphQL error: {"code": 7}'


@pytest.mark.parametrize("body", [{"data": {"a": 1}}, {"data": {"a": 1}, "errors": []}])
def test_graphql_without_errors_is_a_result(body: dict[str, Any]) -> None:
    result = ResponseShaper(ResponseSpec(), graphql=True).shape(_answer(body), "POST")
    assert not result.is_error
    assert json.loads(result.text) == body


def test_errors_in_a_rest_answer_are_data() -> None:
    body = {"errors": [{"message": "a field called errors"}]}
    result = ResponseShaper(ResponseSpec()).shape(_answer(body), "GET")
    assert not result.is_error


def test_for_tool_reads_graphql_from_the_request() -> None:
    spec = load_connector_text(
        """\
mcpbuild: 1
name: gql
api: {base_url: "https://api.example.com"}
tools:
  - name: issue
    description: One issue.
    request:
      method: POST
      path: /graphql
      graphql: {query: "query Issue { issue { id } }"}
"""
    )
    shaper = ResponseShaper.for_tool(spec.tools[0], host="api.example.com")
    result = shaper.shape(_answer({"errors": [{"message": "boom"}]}), "POST")
    assert result.text == "api.example.com answered HTTP 200 OK with 1 GraphQL error: boom"


def test_a_page_with_an_error_inside_raises_it() -> None:
    shaper = ResponseShaper(ResponseSpec(error=SLACK, select="messages"), host="slack.com")
    bad = _answer({"ok": False, "error": "invalid_cursor"})
    with pytest.raises(UpstreamError) as info:
        shaper.page(bad)
    assert str(info.value) == "slack.com answered HTTP 200 OK with an error: invalid_cursor"
    assert info.value.status == 200
    good = _answer({"ok": True, "messages": [1, 2], "response_metadata": {"next_cursor": "c2"}})
    assert shaper.page(good) == (json.loads(good.body), [1, 2])


def test_a_page_must_be_json() -> None:
    shaper = ResponseShaper(ResponseSpec(max_bytes=256), host="api.example.com")
    text = UpstreamResponse(200, "OK", {"content-type": "text/html"}, b"<html>", False)
    with pytest.raises(ToolCallError) as info:
        shaper.page(text)
    assert str(info.value) == (
        "api.example.com answered HTTP 200 OK with text/html that is not JSON; "
        "this tool reads JSON pages"
    )
    cut = UpstreamResponse(200, "OK", {"content-type": "application/json"}, b'{"a": [1', True)
    with pytest.raises(ToolCallError, match="larger than 2097152 bytes"):
        shaper.page(cut)
    empty = UpstreamResponse(204, "No Content", {}, b"", False)
    assert shaper.page(empty) == (None, None)


# --- through the MCP SDK client --------------------------------------------------------

SPEC = """\
mcpbuild: 1
name: slackish
api: {base_url: "${UPSTREAM_URL}/api"}
tools:
  - name: post_message
    description: Post a message; the API answers 200 with ok false on errors.
    request: {method: POST, path: /chat.postMessage}
    params:
      channel: {type: string, in: body}
    response:
      select: "{ts: ts}"
      error: {when: "ok == `false`", message: error}
"""


async def _post_message(request: Request) -> Response:
    channel = (await request.json())["channel"]
    if channel != "C1":
        return JSONResponse({"ok": False, "error": "channel_not_found"})
    return JSONResponse({"ok": True, "ts": "1.0"})


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


@pytest.fixture
async def mcp_url() -> AsyncIterator[str]:
    upstream = Starlette(
        routes=[
            Route("/healthz", _healthz),
            Route("/api/chat.postMessage", _post_message, methods=["POST"]),
        ]
    )
    async with serving(load_connector_text(SPEC), upstream) as url:
        yield url


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_200_with_an_error_through_the_sdk(mcp_url: str, mode: str) -> None:
    async with Client(mcp_url, mode=mode) as client:
        failed = await client.call_tool("post_message", {"channel": "C9"})
        posted = await client.call_tool("post_message", {"channel": "C1"})
    assert failed.is_error
    assert len(failed.content) == 1
    text = failed.content[0].text  # type: ignore[union-attr]
    # the host is named once the runner passes it (ResponseShaper.for_tool(..., host=...))
    assert text.endswith("answered HTTP 200 OK with an error: channel_not_found")
    assert not posted.is_error
    assert json.loads(posted.content[0].text) == {"ts": "1.0"}  # type: ignore[union-attr]
