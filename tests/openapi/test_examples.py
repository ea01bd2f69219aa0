"""The OpenAPI Initiative's examples: Swagger 2.0 (one file and several), 3.0 and 3.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from typer.testing import CliRunner

from builder.cli import app
from builder.connector import load_connector, load_connector_text
from builder.openapi import Selection, generate, render_connector
from tests.serving import serving
from tests.upstream import Upstream, upstream_app

DESCRIPTIONS = Path(__file__).resolve().parent / "descriptions"


@pytest.mark.parametrize(
    "name",
    [
        "petstore-swagger2.yaml",
        "petstore-separate/spec/swagger.yaml",
        "petstore-openapi30.yaml",
        "tictactoe-openapi31.yaml",
    ],
)
def test_each_example_imports_to_a_connector_that_validates(name: str) -> None:
    generated = generate(str(DESCRIPTIONS / name), Selection())
    connector = load_connector_text(render_connector(generated.connector))
    assert connector.tools
    for tool in generated.connector["tools"]:
        assert tool["x-openapi"]["operation"].split()[0] == tool["request"]["method"]


def test_swagger2_is_read_as_3x() -> None:
    generated = generate(str(DESCRIPTIONS / "petstore-swagger2.yaml"), Selection())
    connector = generated.connector
    # host + basePath + schemes; http is not allowed beyond loopback, so https and a note
    assert connector["api"] == {"base_url": "https://petstore.swagger.io/v1"}
    assert generated.report.by_code("base_url")
    tools = {t["name"]: t for t in connector["tools"]}
    assert set(tools) == {"list_pets", "create_pets", "show_pet_by_id"}
    assert tools["list_pets"]["params"]["limit"] == {
        "type": "integer",
        "in": "query",
        "description": "How many items to return at one time (max 100)",
        "required": False,
    }
    assert tools["show_pet_by_id"]["request"]["path"] == "/pets/{petId}"
    assert "response" not in tools["list_pets"]  # an array: MCP output schemas are objects


def test_swagger2_in_several_files_resolves_relative_refs() -> None:
    generated = generate(str(DESCRIPTIONS / "petstore-separate/spec/swagger.yaml"), Selection())
    tools = {t["name"]: t for t in generated.connector["tools"]}
    # parameters.yaml#/tagsParam: an array with collectionFormat csv
    assert tools["find_pets"]["params"]["tags"] == {
        "type": "array",
        "in": "query",
        "items": {"type": "string"},
        "description": "tags to filter by",
        "explode": False,
        "required": False,
    }
    # the body param's NewPet.yaml: allOf of Pet.yaml and more properties
    add = tools["add_pet"]["params"]
    assert {n: (p["in"], p.get("required", True)) for n, p in add.items()} == {
        "id": ("body", True),
        "name": ("body", True),
        "tag": ("body", False),
        "description": ("body", False),
    }
    assert tools["find_pet_by_id"]["response"]["output_schema"] == {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "tag": {"type": "string"},
        },
    }
    # operationId "find pet by id" is not a valid tool name
    assert tools["find_pet_by_id"]["x-openapi"]["operation_id"] == "find pet by id"


def test_openapi31_oauth_flow_becomes_the_provider() -> None:
    generated = generate(str(DESCRIPTIONS / "tictactoe-openapi31.yaml"), Selection())
    connector = generated.connector
    assert connector["provider"] == {
        "authorization_url": "https://learn.openapis.org/oauth/2.0/auth",
        "token_url": "https://learn.openapis.org/oauth/2.0/token",
        "client_id": "${TIC_TAC_TOE_CLIENT_ID}",
        "client_secret": "${TIC_TAC_TOE_CLIENT_SECRET}",
        "scopes": {"board:read": "Read the board", "board:write": "Write to the board"},
    }
    tools = {t["name"]: t for t in connector["tools"]}
    # get-square asks user2AppOauth for board:read; get-board only an API key or the
    # client credentials flow, so no user scope
    assert tools["get_square"]["scopes"] == ["board:read"]
    assert "scopes" not in tools["get_board"]
    assert tools["get_square"]["params"]["row"] == {
        "type": "integer",
        "in": "path",
        "minimum": 1,
        "maximum": 3,
        "description": "Board row (vertical coordinate)",
    }
    assert tools["get_board"]["response"]["output_schema"]["properties"]["board"] == {
        "type": "array",
        "items": {"type": "array", "items": {"type": "string"}},
    }
    # no servers: a variable to set; put-square's body is a string, which mcpbuild cannot send
    assert connector["api"]["base_url"] == "${TIC_TAC_TOE_BASE_URL}"
    assert [n.operation for n in generated.report.by_code("skipped")] == [
        "PUT /board/{row}/{column}"
    ]


@pytest.mark.anyio
async def test_a_served_petstore_tool_calls_the_upstream(tmp_path: Path) -> None:
    target = tmp_path / "connector.yaml"
    result = CliRunner().invoke(
        app,
        [
            "import",
            "openapi",
            str(DESCRIPTIONS / "petstore-separate/spec/swagger.yaml"),
            "--out",
            str(target),
            "--base-url",
            "${UPSTREAM_URL}/api",
        ],
    )
    assert result.exit_code == 0, result.output
    state = Upstream()
    async with serving(load_connector(str(target)), upstream_app(state)) as url, Client(url) as c:
        found = await c.call_tool("find_pets", {"tags": ["dog", "cat"], "limit": 5})
        assert not found.is_error, found.content
        seen = state.last
        assert (seen.method, seen.raw_path) == ("GET", "/api/pets")
        assert seen.query == "tags=dog%2Ccat&limit=5"
        added = await c.call_tool("add_pet", {"id": 1, "name": "Rex"})
        assert not added.is_error, added.content
        assert (state.last.method, state.last.raw_path) == ("POST", "/api/pets")
        assert state.last.json() == {"id": 1, "name": "Rex"}
        deleted = await c.call_tool("delete_pet", {"id": 1})
        assert (state.last.method, state.last.raw_path) == ("DELETE", "/api/pets/1")
        assert not deleted.is_error
