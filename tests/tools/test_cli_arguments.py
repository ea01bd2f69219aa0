"""``--arg NAME=VALUE`` pairs of ``mcpbuild call``: scalars, arrays as JSON, comma-separated
or repeated, and objects as JSON with an example when they are not."""

from __future__ import annotations

from typing import Any

import pytest

from builder.connector.models import Tool
from builder.errors import ArgumentError
from builder.tools.arguments import ArgumentChecker, parse_cli_arguments

TOOL = Tool.model_validate(
    {
        "name": "search",
        "description": "Search.",
        "request": {"method": "POST", "path": "/search"},
        "params": {
            "q": {"type": "string", "in": "query"},
            "limit": {"type": "integer", "in": "query", "required": False},
            "ratio": {"type": "number", "in": "query", "required": False},
            "exact": {"type": "boolean", "in": "query", "required": False},
            "ids": {"type": "array", "in": "body", "required": False},
            "numbers": {
                "type": "array",
                "in": "body",
                "items": {"type": "integer"},
                "required": False,
            },
            "flags": {
                "type": "array",
                "in": "body",
                "items": {"type": "boolean"},
                "required": False,
            },
            "filter": {"type": "object", "in": "body", "required": False},
            "when": {
                "type": "object",
                "in": "body",
                "one_of": [{"type": "string"}, {"type": "object"}],
                "required": False,
            },
        },
    }
)


def parse(*pairs: str) -> dict[str, Any]:
    return parse_cli_arguments(TOOL, list(pairs))


def test_scalars_are_read_as_their_type() -> None:
    assert parse("q=a,b", "limit=5", "ratio=0.5", "exact=TRUE") == {
        "q": "a,b",
        "limit": 5,
        "ratio": 0.5,
        "exact": True,
    }


def test_array_value_starting_with_a_bracket_is_json() -> None:
    assert parse('ids=["a,b", "c"]') == {"ids": ["a,b", "c"]}
    assert parse("numbers= [1, 2]") == {"numbers": [1, 2]}


def test_array_value_without_a_bracket_is_comma_separated() -> None:
    assert parse("ids=a,b") == {"ids": ["a", "b"]}
    assert parse("ids=a") == {"ids": ["a"]}
    assert parse("ids=") == {"ids": []}


def test_comma_separated_items_are_read_as_the_items_type() -> None:
    assert parse("numbers=1, 2,3", "flags=true,False") == {
        "numbers": [1, 2, 3],
        "flags": [True, False],
    }


def test_repeated_array_argument_appends() -> None:
    assert parse("ids=a", "ids=b,c", 'ids=["d"]') == {"ids": ["a", "b", "c", "d"]}
    assert parse("numbers=1", "numbers=2") == {"numbers": [1, 2]}


def test_an_item_that_is_not_of_the_items_type_is_left_for_the_schema_check() -> None:
    arguments = parse("q=x", "numbers=1,two")
    assert arguments == {"q": "x", "numbers": [1, "two"]}
    with pytest.raises(ArgumentError) as info:
        ArgumentChecker(TOOL).check(arguments)
    assert str(info.value) == "argument 'numbers'[1]: expected an integer, got 'two'"


def test_array_value_that_is_broken_json_says_both_ways() -> None:
    with pytest.raises(ArgumentError) as info:
        parse("ids=[a, b]")
    assert str(info.value) == (
        "argument 'ids': expected a JSON array (a value starting with '['), got '[a, b]'; "
        "or give comma-separated items, e.g. --arg ids=a,b"
    )


def test_object_value_is_json() -> None:
    assert parse('filter={"k": 1}') == {"filter": {"k": 1}}


@pytest.mark.parametrize("value", ["k=1", "{k: 1}", "", "{'k': 1}"])
def test_object_value_that_is_not_json_shows_an_example(value: str) -> None:
    with pytest.raises(ArgumentError) as info:
        parse(f"filter={value}")
    assert str(info.value) == (
        "argument 'filter': expected a JSON object, e.g. --arg filter='{\"k\": 1}'"
    )


def test_object_with_alternatives_passes_plain_text_to_the_schema_check() -> None:
    assert parse("when=tomorrow") == {"when": "tomorrow"}


def test_pair_without_equals_sign() -> None:
    with pytest.raises(ArgumentError) as info:
        parse("ids")
    assert str(info.value) == "--arg: expected NAME=VALUE, got 'ids'"


def test_unknown_argument_is_kept_as_a_string_for_the_schema_check() -> None:
    assert parse("nope=1,2") == {"nope": "1,2"}
