"""`import openapi --update`: re-import keeps the author's curation and reports upstream."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from builder.cli import app
from builder.connector import load_connector_text
from builder.errors import SpecError
from builder.openapi.fingerprint import fingerprint, fingerprints
from builder.openapi.selection import Selection
from builder.openapi.update import UpdateReport, stored_selection, update_file

PATH_PARAM = {"type": "string", "in": "path"}


def _tool(
    name: str, method: str, path: str, op_id: str, description: str, **fields: Any
) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "name": name,
        "description": description,
        "scopes": fields.pop("scopes", ["repo"]),
        "request": {"method": method, "path": path},
        **json.loads(json.dumps(fields)),  # shared dicts would be written as YAML aliases
    }
    tool["x-openapi"] = {
        "operation": f"{method} {path}",
        "operation_id": op_id,
        "generated": fingerprints(tool),
    }
    return tool


def _connector(tools: list[dict[str, Any]], scopes: dict[str, str]) -> dict[str, Any]:
    return {
        "mcpbuild": 1,
        "name": "tracker",
        "provider": {
            "authorization_url": "https://tracker.example.com/oauth/authorize",
            "token_url": "https://tracker.example.com/oauth/token",
            "client_id": "${TRACKER_CLIENT_ID}",
            "client_secret": "${TRACKER_CLIENT_SECRET}",
            "scopes": scopes,
        },
        "api": {"base_url": "https://api.tracker.example.com"},
        "tools": tools,
        "x-openapi": {
            "source": "tracker.yaml",
            "selection": {"tags": [], "operations": [], "paths": [], "methods": []},
        },
    }


def _v1() -> dict[str, Any]:
    owner_repo = {"owner": PATH_PARAM, "repo": PATH_PARAM}
    return _connector(
        [
            _tool(
                "list_issues",
                "GET",
                "/repos/{owner}/{repo}/issues",
                "issues/list-for-repo",
                "List issues in a repository.",
                params={
                    **owner_repo,
                    "state": {"type": "string", "in": "query", "required": False},
                    "since": {"type": "string", "in": "query", "required": False},
                },
            ),
            _tool(
                "get_issue",
                "GET",
                "/repos/{owner}/{repo}/issues/{number}",
                "issues/get",
                "Get an issue.",
                params={**owner_repo, "number": {"type": "integer", "in": "path"}},
            ),
            _tool(
                "create_issue",
                "POST",
                "/repos/{owner}/{repo}/issues",
                "issues/create",
                "Create an issue.",
                params={
                    **owner_repo,
                    "title": {"type": "string", "in": "body"},
                    "body": {"type": "string", "in": "body", "required": False},
                    "assignee": {"type": "string", "in": "body", "required": False},
                },
            ),
            _tool(
                "get_user",
                "GET",
                "/user/{username}",
                "users/get-by-username",
                "Get a user.",
                scopes=[],
                params={"username": PATH_PARAM},
            ),
            _tool(
                "delete_issue",
                "DELETE",
                "/repos/{owner}/{repo}/issues/{number}",
                "issues/delete",
                "Delete an issue.",
                params={**owner_repo, "number": {"type": "integer", "in": "path"}},
            ),
        ],
        {"repo": "Read and write your repositories"},
    )


def _v2() -> dict[str, Any]:
    """Upstream's next version: a changed description, a param removed and one added, an
    operation moved, one removed and one added (with a new scope)."""
    v1 = {t["name"]: t for t in _v1()["tools"]}

    def regenerate(tool: dict[str, Any]) -> dict[str, Any]:
        tool["x-openapi"]["generated"] = fingerprints(tool)
        return tool

    list_issues = copy.deepcopy(v1["list_issues"])
    list_issues["description"] = "List the issues of a repository, newest first."
    list_issues["params"]["labels"] = {"type": "string", "in": "query", "required": False}
    get_issue = copy.deepcopy(v1["get_issue"])
    get_issue["description"] = "Get one issue by its number."
    create_issue = copy.deepcopy(v1["create_issue"])
    del create_issue["params"]["body"]
    del create_issue["params"]["assignee"]
    get_user = copy.deepcopy(v1["get_user"])
    get_user["request"]["path"] = "/users/{username}"
    get_user["x-openapi"]["operation"] = "GET /users/{username}"
    list_labels = _tool(
        "list_labels",
        "GET",
        "/repos/{owner}/{repo}/labels",
        "issues/list-labels",
        "List the labels of a repository.",
        scopes=["read:labels"],
        params={"owner": PATH_PARAM, "repo": PATH_PARAM},
    )
    tools = [list_issues, get_issue, create_issue, get_user, list_labels]
    return _connector(
        [regenerate(t) for t in tools],
        {"repo": "Read and write your repositories", "read:labels": "Read labels"},
    )


def _dump(data: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected {old!r} once in the file"
    return text.replace(old, new)


AUTHOR_OWN_TOOL = """\
  - name: ping   # mine, not imported
    description: Check that the API answers.
    request: {method: GET, path: /ping}
"""


def _author_file(tmp_path: Path) -> Path:
    """The v1 import, then curated by hand."""
    text = "# Tracker connector, curated by hand\n" + _dump(_v1())
    text = _edit(text, "- name: list_issues\n", "- name: issues   # shorter for the model\n")
    text = _edit(
        text,
        "description: List issues in a repository.\n",
        "description: Issues of one repository; closed ones only with state=closed.\n"
        "    response:\n      select: '[].{number: number, title: title}'\n"
        "      max_tokens: 4000\n",
    )
    # The author drops `since` from list_issues (the only `since` param).
    text = _edit(
        text,
        "      since:\n        type: string\n        in: query\n        required: false\n",
        "",
    )
    # get_user: a header added to the request; create_issue: assignee described.
    text = _edit(
        text,
        "      path: /user/{username}\n",
        "      path: /user/{username}\n      headers:\n        Accept: application/json\n",
    )
    text = _edit(
        text,
        "      assignee:\n        type: string\n        in: body\n",
        "      assignee:\n        type: string\n        in: body\n"
        "        description: Login of the person to assign.\n",
    )
    text = _edit(text, "tools:\n", "tools:\n" + AUTHOR_OWN_TOOL)
    path = tmp_path / "connector.yaml"
    path.write_text(text, encoding="utf-8")
    load_connector_text(text, str(path))  # the author's file is valid
    return path


def _update(path: Path, generated: dict[str, Any]) -> UpdateReport:
    return update_file(path, SimpleNamespace(connector=generated, notes_by_tool=dict))


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _tools(path: Path) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in _load(path)["tools"]}


def test_update_keeps_hand_edits_and_reports_upstream_changes(tmp_path: Path) -> None:
    path = _author_file(tmp_path)
    report = _update(path, _v2())

    assert report.written
    text = path.read_text(encoding="utf-8")
    load_connector_text(text, str(path))
    assert text.startswith("# Tracker connector, curated by hand\n")
    assert "- name: issues   # shorter for the model\n" in text
    assert "  - name: ping   # mine, not imported\n" in text

    tools = _tools(path)
    assert list(tools) == [
        "ping",
        "issues",
        "get_issue",
        "create_issue",
        "get_user",
        "delete_issue",
        "list_labels",
    ]
    assert tools["ping"] == {
        "name": "ping",
        "description": "Check that the API answers.",
        "request": {"method": "GET", "path": "/ping"},
    }
    # Renamed, rewritten, select and budget added, `since` removed: all kept; the new
    # upstream param is added.
    issues = tools["issues"]
    assert issues["description"].startswith("Issues of one repository")
    assert issues["response"] == {"select": "[].{number: number, title: title}", "max_tokens": 4000}
    assert list(issues["params"]) == ["owner", "repo", "state", "labels"]
    # The fingerprints are now upstream's: the author's values differ from them, so the
    # next update still knows them for edits.
    v2 = {t["name"]: t for t in _v2()["tools"]}
    assert issues["x-openapi"]["generated"] == v2["list_issues"]["x-openapi"]["generated"]
    assert issues["x-openapi"]["generated"]["name"] == fingerprint("list_issues")
    # Untouched fields take upstream's value.
    assert tools["get_issue"]["description"] == "Get one issue by its number."
    assert tools["get_issue"]["x-openapi"]["generated"]["description"] == fingerprint(
        "Get one issue by its number."
    )
    # A param removed upstream goes; the one the author described stays.
    assert list(tools["create_issue"]["params"]) == ["owner", "repo", "title", "assignee"]
    # Moved upstream: the new path, with the author's header kept on top.
    get_user = tools["get_user"]
    assert get_user["request"] == {
        "method": "GET",
        "path": "/users/{username}",
        "headers": {"Accept": "application/json"},
    }
    assert get_user["x-openapi"]["operation"] == "GET /users/{username}"
    # Removed upstream: the tool stays as it was.
    assert tools["delete_issue"]["request"]["method"] == "DELETE"
    # Added upstream, with the scope it needs declared.
    assert tools["list_labels"]["request"]["path"] == "/repos/{owner}/{repo}/labels"
    assert _load(path)["provider"]["scopes"]["read:labels"] == "Read labels"

    assert report.as_dict() == {
        "added": ["GET /repos/{owner}/{repo}/labels"],
        "removed": ["DELETE /repos/{owner}/{repo}/issues/{number}"],
        "moved": ["GET /user/{username} -> GET /users/{username}"],
        "changed": [
            "tools[1].params.labels",
            "tools[2].description",
            "tools[3].params.body",
            "tools[4].request",
            "provider.scopes.read:labels",
        ],
        "kept": ["tools[1].name", "tools[1].params.since"],
        "conflicts": ["tools[1].description", "tools[3].params.assignee"],
    }
    lines = report.lines()
    assert "kept your edit of tools[1].description; upstream changed it too" in lines
    assert "kept your edit of tools[3].params.assignee; upstream removed it" in lines
    assert "added tools[6] list_labels for GET /repos/{owner}/{repo}/labels" in lines
    assert "kept your edits of tools[1] issues: name, params.since (removed)" in lines
    assert (
        "removed upstream: tool delete_issue (tools[5]) still calls "
        "DELETE /repos/{owner}/{repo}/issues/{number}"
    ) in lines


def test_updating_again_with_the_same_description_changes_nothing(tmp_path: Path) -> None:
    path = _author_file(tmp_path)
    _update(path, _v2())
    before = path.read_bytes()

    report = _update(path, _v2())

    assert not report.written
    assert path.read_bytes() == before
    changes = report.as_dict()
    assert changes["added"] == changes["changed"] == changes["moved"] == []
    # A conflict is told once; what still holds is said again.
    assert changes["conflicts"] == []
    assert changes["kept"] == ["tools[1].name", "tools[1].description", "tools[1].params.since"]
    assert changes["removed"] == ["DELETE /repos/{owner}/{repo}/issues/{number}"]


def test_updating_an_untouched_import_with_itself_keeps_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    path.write_text(_dump(_v1()), encoding="utf-8")
    _update(path, _v1())  # the first update records the operations it has seen
    before = path.read_bytes()

    report = _update(path, _v1())

    assert path.read_bytes() == before
    assert report.lines() == ["nothing changed upstream"]


def test_a_tool_the_author_deleted_is_not_added_back(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    path.write_text(_dump(_v1()), encoding="utf-8")
    _update(path, _v1())
    data = _load(path)
    assert len(data["x-openapi"]["imported"]) == 5
    text = path.read_text(encoding="utf-8")
    start = text.index("  - name: delete_issue")
    end = text.index("\nx-openapi:", start) + 1  # delete_issue is the last tool
    path.write_text(text[:start] + text[end:], encoding="utf-8")

    report = _update(path, _v1())

    assert "delete_issue" not in _tools(path)
    assert report.as_dict()["added"] == []
    assert report.as_dict()["kept"] == ["DELETE /repos/{owner}/{repo}/issues/{number}"]
    assert report.lines() == [
        "kept your removal of 1 tool(s), not added back: "
        "DELETE /repos/{owner}/{repo}/issues/{number}"
    ]


def test_an_added_tool_whose_name_is_taken_gets_a_suffix(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    text = _edit(_dump(_v1()), "- name: get_user\n", "- name: list_labels\n")
    path.write_text(text, encoding="utf-8")

    report = _update(path, _v2())

    tools = _tools(path)
    assert tools["list_labels"]["request"]["path"] == "/users/{username}"
    added = tools["list_labels_2"]
    assert added["request"]["path"] == "/repos/{owner}/{repo}/labels"
    assert added["x-openapi"]["generated"]["name"] == fingerprint("list_labels_2")
    assert "added tools[5] list_labels_2 for GET /repos/{owner}/{repo}/labels" in report.lines()
    before = path.read_bytes()
    _update(path, _v2())
    assert path.read_bytes() == before


def test_an_update_that_would_make_the_file_invalid_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    # The author described get_user's `username`; upstream renames it to `login`.
    text = _edit(
        _dump(_v1()), "      username:\n", "      username:\n        description: A login.\n"
    )
    path.write_text(text, encoding="utf-8")
    v2 = _v1()
    get_user = v2["tools"][3]
    get_user["request"]["path"] = "/users/{login}"
    get_user["params"] = {"login": PATH_PARAM}
    get_user["x-openapi"]["operation"] = "GET /users/{login}"
    get_user["x-openapi"]["generated"] = fingerprints(get_user)
    before = path.read_bytes()

    with pytest.raises(SpecError) as caught:
        _update(path, v2)

    assert path.read_bytes() == before
    message = str(caught.value)
    assert message.startswith(f"{path}: not written: after the update the connector would be")
    assert "kept your edit of tools[3].params.username; upstream removed it" in message
    assert f"{path} (as updated):" in message
    assert "param 'username' is in: path but the request path '/users/{login}'" in message
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_a_file_that_was_not_imported_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    data = _v1()
    del data["x-openapi"]
    path.write_text(_dump(data), encoding="utf-8")

    with pytest.raises(SpecError, match="this file was not imported"):
        _update(path, _v2())


def test_a_new_param_is_written_like_its_siblings(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    text = _edit(
        _dump(_v1()),
        "      owner:\n        type: string\n        in: path\n"
        "      repo:\n        type: string\n        in: path\n"
        "      state:\n        type: string\n        in: query\n        required: false\n"
        "      since:\n        type: string\n        in: query\n        required: false\n",
        "      owner: {type: string, in: path}\n      repo: {type: string, in: path}\n"
        "      state: {type: string, in: query, required: false}\n"
        "      since: {type: string, in: query, required: false}   # ISO 8601\n",
    )
    path.write_text(text, encoding="utf-8")

    _update(path, _v2())

    assert (
        "      since: {type: string, in: query, required: false}   # ISO 8601\n"
        "      labels: {type: string, in: query, required: false}\n"
    ) in path.read_text(encoding="utf-8")


def test_a_name_left_alone_follows_upstream_and_an_edited_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    text = _edit(_dump(_v1()), "- name: create_issue\n", "- name: open_issue\n")
    path.write_text(text, encoding="utf-8")
    v2 = _v1()
    for tool, name in ((v2["tools"][1], "fetch_issue"), (v2["tools"][2], "add_issue")):
        tool["name"] = name
        tool["x-openapi"]["generated"] = fingerprints(tool)

    report = _update(path, v2)

    assert list(_tools(path))[:3] == ["list_issues", "fetch_issue", "open_issue"]
    assert report.as_dict()["changed"] == ["tools[1].name"]
    assert "tools[1].name: renamed upstream from get_issue to fetch_issue" in report.lines()
    assert "kept your edit of tools[2].name; upstream changed it too" in report.lines()


NOTES_V1 = """\
openapi: 3.0.3
info: {title: Notes, version: "1"}
servers: [{url: "https://api.notes.example.com/v1"}]
paths:
  /notes:
    get:
      operationId: listNotes
      summary: List notes
      parameters:
        - {name: limit, in: query, description: How many., schema: {type: integer}}
      responses:
        "200":
          description: The notes.
          content: {application/json: {schema: {type: array, items: {type: object}}}}
  /notes/{id}:
    get:
      operationId: getNote
      summary: Get a note
      parameters:
        - {name: id, in: path, required: true, description: The note., schema: {type: string}}
      responses:
        "200": {description: The note., content: {application/json: {schema: {type: object}}}}
"""

NOTES_V2 = f"""{NOTES_V1}    delete:
      operationId: deleteNote
      summary: Delete a note
      parameters:
        - {{name: id, in: path, required: true, description: The note., schema: {{type: string}}}}
      responses:
        "204": {{description: Deleted.}}
"""


def test_cli_update_keeps_a_hand_edit_and_reports_an_added_operation(tmp_path: Path) -> None:
    runner = CliRunner()
    v1, v2 = tmp_path / "notes-v1.yaml", tmp_path / "notes-v2.yaml"
    v1.write_text(NOTES_V1, encoding="utf-8")
    v2.write_text(NOTES_V2, encoding="utf-8")
    out = tmp_path / "connector.yaml"
    imported = runner.invoke(app, ["import", "openapi", str(v1), "--out", str(out)])
    assert imported.exit_code == 0, imported.output
    text = _edit(
        out.read_text(encoding="utf-8"),
        "description: List notes.\n",
        "description: The user's notes, newest first.   # said better\n",
    )
    out.write_text(text, encoding="utf-8")

    result = runner.invoke(app, ["import", "openapi", str(v2), "--update", str(out)])

    assert result.exit_code == 0, result.output
    assert "added tools[2] delete_note for DELETE /notes/{id}" in result.output
    assert "kept your edits of tools[0] list_notes: description" in result.output
    updated = out.read_text(encoding="utf-8")
    assert "description: The user's notes, newest first.   # said better\n" in updated
    assert [t["name"] for t in _load(out)["tools"]] == ["list_notes", "get_note", "delete_note"]
    load_connector_text(updated, str(out))

    again = runner.invoke(app, ["import", "openapi", str(v2), "--update", str(out)])
    assert again.exit_code == 0, again.output
    assert out.read_text(encoding="utf-8") == updated


def test_cli_update_that_would_be_invalid_exits_1_and_leaves_the_file(tmp_path: Path) -> None:
    runner = CliRunner()
    v1, v2 = tmp_path / "notes-v1.yaml", tmp_path / "notes-v2.yaml"
    v1.write_text(NOTES_V1, encoding="utf-8")
    # Upstream renames the path param of getNote; the author had edited it.
    v2.write_text(NOTES_V1.replace("{id}", "{note_id}").replace("name: id,", "name: note_id,"))
    out = tmp_path / "connector.yaml"
    imported = runner.invoke(app, ["import", "openapi", str(v1), "--out", str(out)])
    assert imported.exit_code == 0, imported.output
    text = out.read_text(encoding="utf-8")
    start = text.index("      id: {")
    end = text.index("\n", start)
    text = (
        text[:start]
        + "      id: {type: string, in: path, description: The note's id.}"
        + text[end:]
    )
    out.write_text(text, encoding="utf-8")

    result = runner.invoke(app, ["import", "openapi", str(v2), "--update", str(out)])

    assert result.exit_code == 1, result.output
    assert f"{out}: not written: after the update the connector would be invalid" in result.output
    assert "kept your edit of tools[1].params.id; upstream removed it" in result.output
    assert out.read_text(encoding="utf-8") == text


def test_an_update_generated_from_another_selection_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "connector.yaml"
    data = _v1()
    data["x-openapi"]["selection"] = {"tags": ["issues"]}
    path.write_text(_dump(data), encoding="utf-8")
    before = path.read_bytes()

    with pytest.raises(SpecError, match=r"expected the operations the file was imported with "):
        _update(path, _v2())  # generated from every operation

    assert path.read_bytes() == before
    assert stored_selection(path) == Selection(tags=["issues"])


NOTES_TAGGED = NOTES_V2.replace(
    "      operationId: deleteNote\n", "      operationId: deleteNote\n      tags: [admin]\n"
).replace("      operationId: getNote\n", "      operationId: getNote\n      tags: [notes]\n")


def test_cli_update_without_options_reimports_the_stored_selection(tmp_path: Path) -> None:
    """Imported with --tag notes, updated with no selection: still only the notes tag, and
    a tool the author deleted after the import does not come back."""
    runner = CliRunner()
    source = tmp_path / "notes.yaml"
    source.write_text(NOTES_TAGGED, encoding="utf-8")
    out = tmp_path / "connector.yaml"
    imported = runner.invoke(
        app, ["import", "openapi", str(source), "--out", str(out), "--tag", "notes"]
    )
    assert imported.exit_code == 0, imported.output
    assert [t["name"] for t in _load(out)["tools"]] == ["get_note"]
    result = runner.invoke(app, ["import", "openapi", str(source), "--update", str(out)])
    assert result.exit_code == 0, result.output
    assert [t["name"] for t in _load(out)["tools"]] == ["get_note"]
    missing = runner.invoke(
        app, ["import", "openapi", str(source), "--update", str(tmp_path / "none.yaml")]
    )
    assert missing.exit_code == 2
    assert "no such file" in missing.output
