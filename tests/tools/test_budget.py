"""Output budgets: a JSON result is trimmed structurally, predictably, and says what was cut."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from builder.connector import load_connector_text
from builder.tools.budget import STRING_FLOOR, Fitted, fit, json_size, serialize
from tests.serving import serving


def _fit(data: Any, budget: int, schema: dict[str, Any] | None = None) -> Fitted:
    fitted = fit(data, budget, schema=schema)
    assert fitted is not None
    assert fitted.size == json_size(fitted.text) <= budget
    assert json.loads(fitted.text) == fitted.data
    return fitted


def test_a_result_that_fits_is_untouched() -> None:
    data = {"items": [1, 2, 3], "name": "x" * 500}
    fitted = _fit(data, 10_000)
    assert fitted.data is data
    assert not fitted.trimmed
    assert fitted.note("10000 bytes") is None


def test_a_long_list_keeps_as_many_first_items_as_fit() -> None:
    data: dict[str, Any] = {
        "items": [{"id": str(i), "title": f"item {i}"} for i in range(500)],
        "total": 500,
    }
    fitted = _fit(data, 1000)
    kept = fitted.data["items"]
    assert kept == data["items"][: len(kept)]
    assert fitted.data["total"] == 500
    # one more item would not have fitted
    more = {**data, "items": data["items"][: len(kept) + 1]}
    assert json_size(serialize(more)) > 1000
    assert fitted.note("1000 bytes") == (
        f"trimmed to fit 1000 bytes: `items` 500 → {len(kept)} items"
    )


def test_a_top_level_list_is_called_the_result() -> None:
    fitted = _fit(list(range(1000)), 300)
    assert fitted.data == list(range(len(fitted.data)))
    assert (
        fitted.note("300 bytes")
        == f"trimmed to fit 300 bytes: the result 1000 → {len(fitted.data)} items"
    )


def test_one_item_cap_applies_to_nested_lists_too() -> None:
    data = {"items": [{"id": i, "labels": [f"l{j}" for j in range(10)]} for i in range(50)]}
    fitted = _fit(data, 600)
    items = fitted.data["items"]
    k = len(items)
    assert 0 < k < 10
    assert all(item["labels"] == [f"l{j}" for j in range(k)] for item in items)
    assert fitted.note("600 bytes") == (
        f"trimmed to fit 600 bytes: `items` 50 → {k} items; "
        f"`items[].labels` {k} lists → at most {k} items"
    )


def test_long_strings_are_shortened_before_any_item_is_dropped() -> None:
    data: dict[str, Any] = {"items": [{"id": i, "body": "lorem ipsum " * 100} for i in range(20)]}
    fitted = _fit(data, 6000)
    items = fitted.data["items"]
    assert len(items) == 20  # strings alone were enough
    body = items[0]["body"]
    cap = fitted.string_cap
    assert cap >= STRING_FLOOR
    assert body == data["items"][0]["body"][:cap] + f"…[+{1200 - cap} chars]"
    assert fitted.strings == 20
    assert fitted.note("6000 bytes") == (
        f"trimmed to fit 6000 bytes: 20 long strings shortened to {cap} characters"
    )


def test_items_go_when_strings_at_the_floor_are_not_enough() -> None:
    data = {"items": [{"id": i, "body": "é" * 1000} for i in range(100)]}
    fitted = _fit(data, 3000)
    items = fitted.data["items"]
    assert 0 < len(items) < 100
    # the room left by dropping items goes back to the strings
    assert fitted.string_cap >= STRING_FLOOR
    assert all(item["body"].startswith("é" * fitted.string_cap) for item in items)


def test_a_string_at_most_20_characters_over_the_cap_is_kept_whole() -> None:
    # a cut must save more than its marker costs
    data = ["a" * 300, "b" * 115, "c" * 121, "d" * 400]
    fitted = _fit(data, 472)  # 116 + 117 (b, whole) + 116 + 116 + 2 + 3 commas
    cap = fitted.string_cap
    assert cap == STRING_FLOOR
    for before, after in zip(data, fitted.data, strict=True):
        if len(before) <= cap + 20:
            assert after == before
        else:
            assert after == before[:cap] + f"…[+{len(before) - cap} chars]"
    assert fitted.data[1] == "b" * 115  # 15 over: whole
    assert fitted.data[2] == "c" * 100 + "…[+21 chars]"  # 21 over: cut
    assert fitted.strings == 3


def test_unicode_is_cut_on_characters_and_counted_in_utf8_bytes() -> None:
    text = "日本語🙂" * 200  # 800 characters, 3400 bytes
    fitted = _fit({"t": text, "n": 1}, 400)
    cut = fitted.data["t"]
    head, marker = cut.split("…[+")
    assert text.startswith(head)
    assert marker == f"{800 - len(head)} chars]"
    assert fitted.note("400 bytes") == (
        f"trimmed to fit 400 bytes: 1 long string shortened to {len(head)} characters"
    )


def test_keys_numbers_and_nulls_are_never_changed() -> None:
    data = {"k" * 50: None, "n": 12345.5, "flag": True, "list": [None] * 100}
    fitted = _fit(data, 200)
    assert set(fitted.data) == set(data)
    assert fitted.data["n"] == 12345.5
    assert fitted.data["list"] == [None] * len(fitted.data["list"])


def test_nothing_fits_is_none() -> None:
    data = {f"key{i}": i for i in range(100)}  # nothing to cut
    assert fit(data, 256) is None
    assert fit({"a": "x" * 1000, "b": [1] * 10}, 10) is None


def test_schema_min_items_and_frozen_strings_are_kept() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 5,
                "items": {"$ref": "#/$defs/item"},
            }
        },
        "required": ["items"],
        "$defs": {
            "item": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "pattern": "^x+$"},
                    "note": {"type": "string", "minLength": 150},
                },
                "required": ["code", "note"],
            }
        },
    }
    data = {"items": [{"code": "x" * 200, "note": "y" * 300} for _ in range(20)]}
    fitted = _fit(data, 2100, schema)
    items = fitted.data["items"]
    assert len(items) == 5  # minItems: not one fewer, though 5 barely fit
    assert all(item["code"] == "x" * 200 for item in items)  # a pattern: never cut
    assert all(len(item["note"]) >= 150 for item in items)
    assert not list(Draft202012Validator(schema).iter_errors(fitted.data))
    # below minItems it cannot fit
    assert fit(data, 1500, schema=schema) is None


def test_nothing_is_cut_below_a_branch_the_schema_does_not_let_us_follow() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "array", "minItems": 3}, {"type": "string"}]},
            "b": {"type": "array"},
        },
    }
    data = {"a": list(range(300)), "b": list(range(300))}
    fitted = _fit(data, 1400, schema)
    assert fitted.data["a"] == data["a"]
    assert len(fitted.data["b"]) < 300


def test_trimming_is_deterministic_and_leaves_the_input_alone() -> None:
    rng = random.Random(7)

    def value(depth: int) -> Any:
        kind = rng.randrange(5 if depth < 3 else 3)
        if kind == 0:
            return rng.randrange(10**6)
        if kind == 1:
            return "".join(rng.choice('aé日🙂\n"') for _ in range(rng.randrange(400)))
        if kind == 2:
            return None
        if kind == 3:
            return [value(depth + 1) for _ in range(rng.randrange(12))]
        return {f"k{i}": value(depth + 1) for i in range(rng.randrange(6))}

    for _ in range(40):
        data = {"root": [value(0) for _ in range(20)]}
        before = copy.deepcopy(data)
        for budget in (300, 2000, 8000):
            first = fit(data, budget)
            second = fit(copy.deepcopy(data), budget)
            assert data == before
            if first is None:
                assert second is None
                continue
            assert second is not None
            assert first.text == second.text
            assert first.note("b") == second.note("b")
            assert first.size <= budget
            assert json.loads(first.text) == first.data
            assert _is_trim_of(first.data, data)


def _is_trim_of(after: Any, before: Any) -> bool:
    """``after`` is ``before`` with lists cut short and strings cut with a marker."""
    if isinstance(before, dict):
        return (
            isinstance(after, dict)
            and list(after) == list(before)
            and all(_is_trim_of(after[k], before[k]) for k in before)
        )
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(after) <= len(before)
            and all(_is_trim_of(a, b) for a, b in zip(after, before, strict=False))
        )
    if isinstance(before, str) and after != before:
        head, _, cut = after.partition("…[+")
        return before.startswith(head) and cut == f"{len(before) - len(head)} chars]"
    return bool(after == before)


# --- through the MCP SDK client --------------------------------------------------------

SPEC = """\
mcpbuild: 1
name: budgets
api: {base_url: "${UPSTREAM_URL}"}
tools:
  - name: list_things
    description: Many things, more than the budget.
    request: {method: GET, path: /things}
    response: {select: "{things: things}", max_tokens: 100}
  - name: list_ids
    description: Many ids, as structured content.
    request: {method: GET, path: /things}
    response:
      select: "{ids: things[].id}"
      max_bytes: 300
      output_schema:
        type: object
        properties: {ids: {type: array, items: {type: string}, minItems: 2}}
        required: [ids]
"""


async def _things(request: Request) -> Response:
    return JSONResponse({"things": [{"id": f"t{i}", "name": f"thing {i}"} for i in range(200)]})


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


@pytest.fixture
async def mcp_url() -> AsyncIterator[str]:
    upstream = Starlette(routes=[Route("/healthz", _healthz), Route("/things", _things)])
    async with serving(load_connector_text(SPEC), upstream) as url:
        yield url


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_trimmed_result_through_the_sdk(mcp_url: str, mode: str) -> None:
    async with Client(mcp_url, mode=mode) as client:
        await client.list_tools()
        things = await client.call_tool("list_things", {})
        ids = await client.call_tool("list_ids", {})
    assert not things.is_error
    first, note = things.content
    assert first.type == "text"
    assert note.type == "text"
    kept = json.loads(first.text)["things"]  # the first item is still valid JSON
    assert 0 < len(kept) < 200
    assert note.text == f"trimmed to fit 100 tokens (400 bytes): `things` 200 → {len(kept)} items"
    assert not ids.is_error
    assert ids.structured_content is not None
    assert ids.structured_content["ids"] == [
        f"t{i}" for i in range(len(ids.structured_content["ids"]))
    ]
    assert json.loads(ids.content[0].text) == ids.structured_content  # type: ignore[union-attr]
