"""Response shaping: a select that fails on the data it meets is a tool error, not a crash."""

from __future__ import annotations

import json

import pytest
from mcp import types

from builder.connector import load_connector_text
from builder.connector.models import Connector, Response
from builder.errors import ToolCallError
from builder.server.handlers import tool_result
from builder.tools.response import ResponseShaper
from builder.tools.transport import UpstreamResponse
from tests.tools.conftest import Rig

pytestmark = pytest.mark.anyio

# Selects that validate but fail at run time on what tests/upstream.py answers.
SPEC = """\
mcpbuild: 1
name: failing-selects
api:
  base_url: ${UPSTREAM_URL}/api
  timeout: 2
tools:
  - name: join_missing
    description: Joins a field the echo answer lacks (null).
    request: {method: GET, path: /echo/x}
    response: {select: "join(', ', tags)"}
  - name: sort_mixed
    description: Sorts a string with a number.
    request: {method: GET, path: /echo/x}
    response: {select: "sort([method, length(raw_path)])"}
  - name: compare_mixed
    description: Compares string ids with a number.
    request: {method: GET, path: /items}
    response: {select: "items[?id > `1`]"}
  - name: fine
    description: A select that works.
    request: {method: GET, path: /items}
    response: {select: "items[].id"}
  - name: big
    description: A large body.
    request: {method: GET, path: /big}
    params:
      n: {type: integer, in: query}
    response: {max_bytes: 1000}
"""


@pytest.fixture
def connector() -> Connector:
    """Overrides tests/tools/conftest.py's connector, so ``rig`` runs these tools."""
    return load_connector_text(SPEC)


@pytest.mark.parametrize(
    ("tool", "select", "reason"),
    [
        ("join_missing", "join(', ', tags)", "join() expected array of strings, got null"),
        (
            "sort_mixed",
            "sort([method, length(raw_path)])",
            "sort() expected array of strings or array of numbers, got number",
        ),
        (
            "compare_mixed",
            "items[?id > `1`]",
            "a value of an unexpected type ('>' not supported between instances of 'str' "
            "and 'int')",
        ),
    ],
)
async def test_select_failing_at_run_time_is_a_tool_error(
    rig: Rig, tool: str, select: str, reason: str
) -> None:
    result = await rig.runner.call(tool, {})
    assert result.is_error
    assert result.text == (
        f"the tool's response.select '{select}' failed on this response: {reason}"
    )
    assert len(rig.upstream.paths()) == 1  # no retry: the upstream answered fine


async def test_other_tools_still_work_after_a_failing_select(rig: Rig) -> None:
    assert (await rig.runner.call("join_missing", {})).is_error
    result = await rig.runner.call("fine", {})
    assert not result.is_error, result.text
    assert json.loads(result.text) == ["0", "1", "2"]


def _json_response(body: bytes) -> UpstreamResponse:
    return UpstreamResponse(200, "OK", {"content-type": "application/json"}, body, False)


@pytest.mark.parametrize(
    ("select", "reason"),
    [
        ("qqq(a)", "unknown function: qqq()"),
        ("length(a, a)", "expected 1 argument for function length(), received 2"),
        ("a[::0]", "slice step cannot be zero"),
    ],
)
def test_select_validate_refuses_is_still_a_tool_error_if_it_runs(select: str, reason: str) -> None:
    # Built without the loader's checks, as a spec that skipped validation would be.
    shaper = ResponseShaper(Response(select=select))
    with pytest.raises(ToolCallError) as info:
        shaper.shape(_json_response(b'{"a": [1, 2]}'), "GET")
    assert str(info.value) == (
        f"the tool's response.select '{select}' failed on this response: {reason}"
    )


def test_json_nested_too_deep_to_parse_is_shown_as_text() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    shaper = ResponseShaper(Response(select="[0]", max_bytes=256))
    result = shaper.shape(_json_response(body), "GET")
    assert not result.is_error
    assert result.text.startswith("[[[[")
    assert result.text.endswith("[truncated: showing 256 bytes of a larger result]")


# --- output budgets ----------------------------------------------------------------------


async def test_a_large_json_result_is_trimmed_and_still_parses(rig: Rig) -> None:
    # tests/upstream.py answers {"data": "x" * n}
    result = await rig.runner.call("big", {"n": 5000})
    assert not result.is_error
    data = json.loads(result.text)["data"]
    assert data == "x" * (len(data) - len("…[+4027 chars]")) + "…[+4027 chars]"
    assert len(result.text.encode()) <= 1000
    assert result.notes == ("trimmed to fit 1000 bytes: 1 long string shortened to 973 characters",)


def test_finish_puts_the_callers_notes_first() -> None:
    shaper = ResponseShaper(Response(max_bytes=256))
    result = shaper.finish(list(range(200)), ["more: pass cursor=abc"])
    assert result.notes == (
        "more: pass cursor=abc",
        f"trimmed to fit 256 bytes: the result 200 → {len(json.loads(result.text))} items",
    )
    assert shaper.finish([1, 2], ("last page",)).notes == ("last page",)


def test_max_tokens_is_the_budget_at_4_bytes_a_token() -> None:
    shaper = ResponseShaper(Response(max_tokens=100))
    assert shaper.max_bytes == 400
    result = shaper.finish({"items": list(range(1000))})
    assert len(result.text.encode()) <= 400
    assert result.notes[0].startswith("trimmed to fit 100 tokens (400 bytes): `items` 1000 → ")
    text = shaper.shape(UpstreamResponse(200, "OK", {}, b"y" * 1000, False), "GET")
    assert text.text == "y" * 400 + "\n[truncated: showing 400 bytes of a larger result]"
    assert text.notes == ()


SCHEMA = {
    "type": "object",
    "properties": {"ids": {"type": "array", "items": {"type": "string"}, "minItems": 3}},
    "required": ["ids"],
}


def test_structured_content_is_the_trimmed_data() -> None:
    shaper = ResponseShaper(Response(max_bytes=256, output_schema=SCHEMA))
    result = shaper.finish({"ids": [f"id-{i}" for i in range(100)]})
    assert not result.is_error
    assert result.structured is not None
    assert json.loads(result.text) == result.structured
    kept = result.structured["ids"]
    assert kept == [f"id-{i}" for i in range(len(kept))]
    assert len(result.notes) == 1


def test_a_result_that_cannot_fit_its_schema_is_a_tool_error() -> None:
    shaper = ResponseShaper(Response(max_bytes=256, output_schema=SCHEMA))
    data = {"ids": ["a", "b", "c"], "meta": {f"key{i}": i for i in range(30)}}
    result = shaper.finish(data, ["page 1"])
    assert result.is_error
    size = len(json.dumps(data, separators=(",", ":")))
    assert result.text == (
        f"the result is {size} bytes, over this tool's limit of 256 bytes even with its lists and "
        "long strings trimmed; ask for less, e.g. a smaller page"
    )
    assert result.notes == ()


def test_a_trim_that_breaks_the_schema_is_a_tool_error() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}
    shaper = ResponseShaper(Response(max_bytes=256, output_schema=schema))
    # cut to the same first 100 characters and the same marker: no longer unique
    result = shaper.finish({"tags": ["a" * 150 + "1", "a" * 150 + "2"]})
    assert result.is_error
    assert result.text.startswith(
        "the result is over this tool's limit of 256 bytes, and trimmed to fit it no longer "
        "matches the tool's output schema: "
    )


def test_a_mismatch_is_reported_before_any_trim() -> None:
    shaper = ResponseShaper(Response(max_bytes=256, output_schema=SCHEMA))
    result = shaper.finish({"ids": list(range(500))})
    assert result.text == (
        "the upstream response does not match the tool's output schema: 0 is not of type 'string'"
    )


def test_json_with_nothing_to_trim_is_cut_as_text_without_a_schema() -> None:
    shaper = ResponseShaper(Response(max_bytes=256))
    result = shaper.finish({f"key{i}": i for i in range(100)})
    assert result.text.endswith("\n[truncated: showing 256 bytes of a larger result]")


def test_notes_are_a_second_text_item() -> None:
    shaped = ResponseShaper(Response(max_bytes=256)).finish(list(range(200)), ["more: cursor=c"])
    result = tool_result("list", shaped)
    first, notes = result.content
    assert isinstance(first, types.TextContent)
    assert json.loads(first.text) == list(range(len(json.loads(first.text))))
    assert isinstance(notes, types.TextContent)
    assert notes.text == "\n".join(shaped.notes)
    plain = tool_result("list", ResponseShaper(Response()).finish([1]))
    assert plain.content == [types.TextContent(type="text", text="[1]")]


def test_a_lone_surrogate_in_json_becomes_a_replacement_character() -> None:
    # JSON allows "\ud800"; no UTF-8 text can carry it on to the client
    body = b'{"a": "\\ud800x", "b": "\\ud83d\\ude42"}'
    result = ResponseShaper(Response()).shape(_json_response(body), "GET")
    data = json.loads(result.text)
    assert data["a"].endswith("x")
    assert "\ufffd" in data["a"]
    assert data["b"] == "\U0001f642"
    assert tool_result("t", result).model_dump_json()  # serializable as UTF-8
