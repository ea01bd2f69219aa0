"""Response shaping: a select that fails on the data it meets is a tool error, not a crash."""

from __future__ import annotations

import json

import pytest

from builder.connector import load_connector_text
from builder.connector.models import Connector, Response
from builder.errors import ToolCallError
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
