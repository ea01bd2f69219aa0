"""A description in several files written here: relative refs, a recursive schema, a
remote ref, and the mapping rules (bodies, names, styles, security) on small operations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client
from typer.testing import CliRunner

from builder.cli import app
from builder.connector import load_connector, load_connector_text
from builder.errors import DescriptionError
from builder.openapi import Selection, generate, render_connector
from builder.openapi.fingerprint import fingerprint
from builder.openapi.text import plain_text, trim
from tests.serving import serving
from tests.upstream import Upstream, upstream_app

ROOT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Tracker API", "version": "2"},
    "servers": [
        {
            "url": "https://{region}.tracker.example.com/v1",
            "variables": {"region": {"default": "eu"}},
        }
    ],
    "components": {
        "securitySchemes": {
            "oauth": {
                "type": "oauth2",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "https://tracker.example.com/oauth/authorize",
                        "tokenUrl": "https://tracker.example.com/oauth/token",
                        "scopes": {
                            "tasks:read": "Read your **tasks**",
                            "tasks:write": "Change tasks",
                        },
                    }
                },
            },
            "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
        }
    },
    "security": [{"oauth": ["tasks:read"]}],
    "paths": {
        "/tasks/{task-id}": {
            "parameters": [{"$ref": "common/params.yaml#/TaskId"}],
            "get": {
                "operationId": "getTask",
                "tags": ["tasks"],
                "summary": "Get a task",
                "description": "Read <b>one</b> task. See [the docs](https://example.com/docs).",
                "parameters": [
                    {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                    {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                    {
                        "name": "filter",
                        "in": "query",
                        "style": "deepObject",
                        "schema": {
                            "type": "object",
                            "properties": {"status": {"type": "string", "enum": ["open", "done"]}},
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "schemas/task.yaml#/Task"}}
                        },
                    }
                },
            },
            "patch": {
                "operationId": "updateTask",
                "tags": ["tasks"],
                "summary": "Update a task",
                "security": [{"oauth": ["tasks:write"]}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "schemas/task.yaml#/Task"}}
                    },
                },
                "responses": {"204": {"description": "done"}},
            },
        },
        "/tasks": {
            "post": {
                "operationId": "createTask",
                "tags": ["tasks"],
                "summary": "Create a task",
                "security": [{"oauth": ["tasks:write"]}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": True,
                                "properties": {"title": {"type": "string"}},
                                "required": ["title"],
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "made", "content": {"application/json": {}}}},
            }
        },
        "/tasks/{task-id}/attachments": {
            "parameters": [{"$ref": "common/params.yaml#/TaskId"}],
            "post": {
                "operationId": "attach",
                "tags": ["files"],
                "summary": "Attach a file",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "note": {"type": "string"},
                                },
                                "required": ["file"],
                            },
                            "encoding": {"file": {"contentType": "image/png, image/jpeg"}},
                        }
                    },
                },
                "responses": {"201": {"description": "attached"}},
            },
        },
        "/login": {
            "post": {
                "operationId": "login",
                "tags": ["files"],
                "security": [],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "user": {"type": "string"},
                                    "remember": {"type": "boolean"},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/remote": {
            "get": {
                "operationId": "remote",
                "tags": ["remote"],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "https://schemas.example.com/thing.json#/Thing"}
                            }
                        },
                    }
                },
            }
        },
    },
}
PARAMS = {
    "TaskId": {
        "name": "task-id",
        "in": "path",
        "required": True,
        "description": "The task's id.",
        "schema": {"type": "string"},
    }
}
TASK = {
    "Task": {
        "type": "object",
        "required": ["title"],
        "properties": {
            "id": {"type": "string", "readOnly": True},
            "title": {"type": "string", "description": "What to do."},
            "secret": {"type": "string", "writeOnly": True},
            "subtasks": {"type": "array", "items": {"$ref": "#/Node"}},
        },
    },
    "Node": {
        "type": "object",
        "properties": {
            "label": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/Node"}},
        },
    },
}


@pytest.fixture
def description(tmp_path: Path) -> Path:
    (tmp_path / "common").mkdir()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "common" / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    (tmp_path / "schemas" / "task.yaml").write_text(yaml.safe_dump(TASK))
    root = tmp_path / "openapi.yaml"
    root.write_text(yaml.safe_dump(ROOT, sort_keys=False))
    return root


def _tools(description: Path, **selection: Any) -> dict[str, dict[str, Any]]:
    generated = generate(str(description), Selection(**selection))
    return {t["name"]: t for t in generated.connector["tools"]}


def test_several_files_import_and_validate(description: Path) -> None:
    generated = generate(str(description), Selection(tags=["tasks", "files"]))
    connector = load_connector_text(render_connector(generated.connector))
    assert connector.api.base_url == "https://eu.tracker.example.com/v1"  # server variable
    assert connector.provider is not None
    assert connector.provider.scopes == {
        "tasks:read": "Read your tasks",
        "tasks:write": "Change tasks",
    }
    assert [t.name for t in connector.tools] == [
        "get_task",
        "update_task",
        "create_task",
        "attach",
        "login",
    ]
    by_name = {t.name: t for t in connector.tools}
    assert by_name["get_task"].scopes == ["tasks:read"]  # the description's default security
    assert by_name["update_task"].scopes == ["tasks:write"]
    assert by_name["login"].scopes == []  # security: [] opts out
    assert by_name["get_task"].is_read_only
    assert not by_name["update_task"].is_read_only
    assert generated.report.by_code("security")  # the API key scheme is named, not used


def test_params_names_styles_and_headers(description: Path) -> None:
    get = _tools(description, operations=["getTask"])["get_task"]
    # "task-id" is a valid param name; the path keeps its placeholder
    assert get["request"]["path"] == "/tasks/{task-id}"
    params = get["params"]
    assert params["task-id"] == {"type": "string", "in": "path", "description": "The task's id."}
    # Authorization and cookies are mcpbuild's; other headers stay
    assert "Authorization" not in params
    assert "session" not in params
    assert params["X-Trace"] == {"type": "string", "in": "header", "required": False}
    # a deepObject query object: one param per property, sent as filter[status]
    assert params["filter_status"] == {
        "type": "string",
        "in": "query",
        "enum": ["open", "done"],
        "api_name": "filter[status]",
        "required": False,
    }
    assert get["description"] == "Get a task.\n\nRead one task. See the docs."


def test_recursive_schema_is_cut_and_read_only_dropped(description: Path) -> None:
    update = _tools(description, operations=["updateTask"])["update_task"]
    params = update["params"]
    assert "id" not in params  # readOnly: the server sets it
    assert params["title"] == {"type": "string", "in": "body", "description": "What to do."}
    assert params["secret"]["in"] == "body"  # writeOnly: sent, never returned
    node = params["subtasks"]["items"]
    children = node["properties"]["children"]
    assert children["items"] == {"type": "object", "description": "(recursive: see Node)"}
    get = _tools(description, operations=["getTask"])["get_task"]
    # a recursive response schema is not an output schema; writeOnly never in responses
    assert "response" not in get


def test_open_json_body_is_one_spread_param(description: Path) -> None:
    create = _tools(description, operations=["createTask"])["create_task"]
    assert create["params"]["body"] == {
        "type": "object",
        "in": "body",
        "properties": {"title": {"type": "string", "required": True}},
        "additional_properties": True,
        "spread": True,
    }


def test_form_and_multipart_bodies(description: Path) -> None:
    tools = _tools(description, tags=["files"])
    attach = tools["attach"]
    assert attach["request"]["body_format"] == "multipart"
    assert attach["params"]["file"] == {
        "type": "string",
        "in": "body",
        "file": {"media_type": "image/png"},
    }
    assert attach["params"]["note"]["required"] is False
    login = tools["login"]
    assert login["request"]["body_format"] == "form"
    assert login["params"]["remember"] == {"type": "boolean", "in": "body", "required": False}


def test_selection_by_path_glob_and_method(description: Path) -> None:
    assert set(_tools(description, paths=["/tasks/*"], methods=["get"])) == {"get_task"}
    assert set(_tools(description, methods=["PATCH"])) == {"update_task"}
    assert set(_tools(description, operations=["POST /login"])) == {"login"}
    with pytest.raises(
        DescriptionError, match="no operation has tag 'task' \\(did you mean 'tasks'"
    ):
        generate(str(description), Selection(tags=["task"]))


def test_remote_ref_is_refused_with_a_clear_message(description: Path) -> None:
    with pytest.raises(DescriptionError) as caught:
        generate(str(description), Selection(tags=["remote"]))
    message = str(caught.value)
    assert "https://schemas.example.com/thing.json#/Thing" in message
    assert "mcpbuild reads local files only: download it" in message


def test_missing_file_and_url_source_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump(
            {
                "openapi": "3.1.0",
                "info": {"title": "a", "version": "1"},
                "paths": {
                    "/x": {"get": {"parameters": [{"$ref": "missing.yaml#/P"}], "responses": {}}}
                },
            }
        )
    )
    with pytest.raises(
        DescriptionError, match=r"\$ref 'missing.yaml#/P' in .*a.yaml: .*missing.yaml: no such file"
    ):
        generate(str(tmp_path / "a.yaml"), Selection())
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "import",
            "openapi",
            "https://example.com/openapi.json",
            "--out",
            str(tmp_path / "c.yaml"),
        ],
    )
    assert result.exit_code == 2
    assert "download the description" in result.stderr
    result = runner.invoke(app, ["import", "openapi", str(tmp_path / "a.yaml")])
    assert result.exit_code == 2
    assert "expected one of --out FILE or --update FILE" in result.stderr


@pytest.mark.anyio
async def test_served_multipart_and_form_tools(description: Path, tmp_path: Path) -> None:
    target = tmp_path / "connector.yaml"
    result = CliRunner().invoke(
        app,
        [
            "import",
            "openapi",
            str(description),
            "--out",
            str(target),
            "--tag",
            "files",
            "--base-url",
            "${UPSTREAM_URL}",
        ],
    )
    assert result.exit_code == 0, result.output
    connector = load_connector(str(target)).model_copy(update={"provider": None})
    connector = connector.model_copy(
        update={"tools": [t.model_copy(update={"scopes": []}) for t in connector.tools]}
    )
    state = Upstream()
    async with serving(connector, upstream_app(state)) as url, Client(url) as client:
        done = await client.call_tool("login", {"user": "ann", "remember": True})
        assert not done.is_error, done.content
        assert (state.last.method, state.last.raw_path) == ("POST", "/login")
        assert state.last.body == b"user=ann&remember=true"
        done = await client.call_tool(
            "attach", {"task-id": "t 1", "file": "aGVsbG8=", "note": "hi"}
        )
        assert not done.is_error, done.content
        assert state.last.raw_path == "/tasks/t%201/attachments"
        assert state.last.headers["content-type"].startswith("multipart/form-data")
        assert b'filename="file"' in state.last.body
        assert b"image/png" in state.last.body


def test_text_and_fingerprints() -> None:
    assert plain_text("**Bold** and `code` and <i>html</i> &amp; [a link](http://x)") == (
        "Bold and code and html & a link"
    )
    assert trim("One. Two. Three. Four.", 15) == "One. Two. …"
    assert fingerprint({"b": 1, "a": [1, 2]}) == fingerprint({"a": [1, 2], "b": 1})
    assert len(fingerprint("x")) == 12
