"""The YAML mistakes new authors make most, each explained with what to do, under both
parsers (libyaml, which mcpbuild uses when it is there, and PyYAML's own)."""

from __future__ import annotations

import pytest
import yaml

from builder.connector import load_connector_text, source
from builder.errors import SpecError

HEAD = """\
mcpbuild: 1
name: yaml
api: {base_url: https://api.example.com}
tools:
  - name: items
"""
REST = "    description: Items.\n    request: {method: GET, path: /items}\n"

LOADERS = [yaml.SafeLoader]
if hasattr(yaml, "CSafeLoader"):
    LOADERS.append(yaml.CSafeLoader)


@pytest.fixture(params=LOADERS, ids=lambda loader: loader.__name__)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "_Loader", request.param)


def errors_of(tool: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_connector_text(HEAD + tool, "c.yaml")
    return [issue.render() for issue in info.value.issues]


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (
            "    description: Note: this lists items\n    request: {method: GET, path: /items}\n",
            "c.yaml:6:22: invalid YAML: quote this value: it contains ': ', which YAML reads as "
            'the start of a mapping; write description: "Note: this lists items"',
        ),
        (
            REST + "    response:\n      select: items[].{id: id, title: title}\n",
            "c.yaml:9:26: invalid YAML: quote this value: it contains ': ', which YAML reads as "
            'the start of a mapping; write select: "items[].{id: id, title: title}"',
        ),
        (
            REST + '    response:\n      select: items[?name == "x"].{id: id}\n',
            "c.yaml:9:38: invalid YAML: quote this value: it contains ': ', which YAML reads as "
            "the start of a mapping; write select: 'items[?name == \"x\"].{id: id}'",
        ),
        (
            "    description: Items.\n    request: {method: GET, path: /items, note: a: b}\n",
            "c.yaml:7:49: invalid YAML: quote this value: inside {...} or [...] an unquoted ': ' "
            "starts another key and an unquoted ', ' ends the value; write \"a: b\"",
        ),
    ],
    ids=["block", "jmespath", "jmespath-with-double-quotes", "flow"],
)
def test_colon_space_in_a_plain_value(tool: str, expected: str) -> None:
    assert errors_of(tool) == [expected]


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (REST + "\tparams: {}\n", "c.yaml:8:1"),
        (
            "    description: Items.\n    request:\n      method: GET\n  \t  path: /items\n",
            "c.yaml:9:3",
        ),
    ],
    ids=["whole-indent", "inside-indent"],
)
def test_tab_indentation(tool: str, expected: str) -> None:
    assert errors_of(tool) == [
        f"{expected}: invalid YAML: tabs are not allowed for indentation in YAML; use spaces"
    ]


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (
            REST + "    response:\n      select: `[]`\n",
            "c.yaml:9:15: invalid YAML: quote this value: a plain YAML value cannot start with "
            "'`'; write \"`[]`\"",
        ),
        (
            REST + "    response: {select: `foo`, max_bytes: 1000}\n",
            "c.yaml:8:24: invalid YAML: quote this value: a plain YAML value cannot start with "
            "'`'; write \"`foo`\"",
        ),
        (
            "    description: @mention the owner\n    request: {method: GET, path: /items}\n",
            "c.yaml:6:18: invalid YAML: quote this value: a plain YAML value cannot start with "
            "'@'; write \"@mention the owner\"",
        ),
    ],
    ids=["backtick", "backtick-in-flow", "at"],
)
def test_value_starting_with_a_reserved_character(tool: str, expected: str) -> None:
    assert errors_of(tool) == [expected]


@pytest.mark.usefixtures("loader")
def test_comma_that_breaks_a_flow_mapping() -> None:
    tool = "    description: Items.\n    request: {method: GET,, path: /items}\n"
    assert errors_of(tool) == [
        "c.yaml:7:27: invalid YAML: a ',' with no value before it: remove it, or quote the "
        "value that holds it"
    ]


@pytest.mark.usefixtures("loader")
def test_comma_after_a_flow_value_in_block_context() -> None:
    tool = REST + "    response:\n      select: {id: id}, x\n"
    assert errors_of(tool) == [
        "c.yaml:9:23: invalid YAML: quote this value: a value starting with '{' or '[' is a "
        "YAML mapping or list, which ends at its closing bracket; write select: "
        '"{id: id}, x"'
    ]


@pytest.mark.usefixtures("loader")
def test_text_after_a_closing_quote() -> None:
    tool = '    description: "Items" of the user\n    request: {method: GET, path: /items}\n'
    assert errors_of(tool) == [
        "c.yaml:6:26: invalid YAML: quote the whole value: text follows its closing quote"
    ]


def test_comma_that_splits_a_flow_value_into_a_key() -> None:
    tool = REST + "    response: {select: a, b}\n"
    assert errors_of(tool) == [
        "c.yaml:8:27: tools[0].response.b: unknown field 'b'; inside {...} an unquoted ', ' "
        "ends a value: if this belongs to the value before it, quote that value"
    ]


@pytest.mark.usefixtures("loader")
def test_other_yaml_errors_keep_the_parsers_words() -> None:
    errors = errors_of(REST + "    response: {select: [a, b}\n")
    assert len(errors) == 1
    assert errors[0].startswith("c.yaml:8:29: invalid YAML: ")
    assert "quote" not in errors[0]
