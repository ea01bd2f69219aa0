"""Importing GitHub's official description: selected tags validate, the whole description
asks for a selection, and served tools send the requests the description prescribes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from typer.testing import CliRunner

from builder.cli import app
from builder.connector import load_connector, load_connector_text
from builder.errors import SelectionNeeded
from builder.openapi import Generated, Selection, generate, render_connector
from builder.openapi.fingerprint import fingerprints
from tests.openapi.github import github_description
from tests.serving import serving
from tests.upstream import Upstream, upstream_app

TAGS = ("issues", "pulls")


@pytest.fixture(scope="module")
def imported() -> Generated:
    """The ``issues`` and ``pulls`` tags, imported once for the module."""
    return generate(github_description(), Selection(tags=TAGS))


def _tool(generated: Generated, name: str) -> dict[str, Any]:
    return next(t for t in generated.connector["tools"] if t["name"] == name)


def test_selected_tags_make_a_connector_that_validates(imported: Generated) -> None:
    connector = load_connector_text(render_connector(imported.connector))
    assert connector.api.base_url == "https://api.github.com"
    assert connector.provider is None  # GitHub's description declares no security scheme
    assert 60 < len(connector.tools) < 100
    assert all(set(op.tags) & set(TAGS) for op in imported.operations)
    names = [t.name for t in connector.tools]
    assert len(names) == len(set(names))
    assert all(len(n) <= 64 for n in names)
    assert imported.connector["x-openapi"] == {
        "source": github_description(),
        "selection": {"tags": list(TAGS)},
        "imported": sorted(t["x-openapi"]["operation"] for t in imported.connector["tools"]),
    }


def test_issue_operations_map_to_their_requests_and_params(imported: Generated) -> None:
    listing = _tool(imported, "issues_list_for_repo")
    assert listing["request"] == {"method": "GET", "path": "/repos/{owner}/{repo}/issues"}
    assert listing["title"] == "List repository issues"
    assert listing["pagination"] == {"style": "link"}  # its 200 response declares Link
    params = listing["params"]
    assert params["owner"] == {
        "type": "string",
        "in": "path",
        "description": "The account owner of the repository. The name is not case sensitive.",
    }
    assert params["state"]["enum"] == ["open", "closed", "all"]
    assert params["state"]["default"] == "open"
    assert params["since"]["format"] == "date-time"
    assert params["per_page"]["default"] == 30
    assert listing["x-openapi"]["operation"] == "GET /repos/{owner}/{repo}/issues"
    assert listing["x-openapi"]["operation_id"] == "issues/list-for-repo"
    generated = dict(listing["x-openapi"]["generated"])
    without_marker = {k: v for k, v in listing.items() if k != "x-openapi"}
    assert generated == fingerprints(without_marker)

    create = _tool(imported, "issues_create")
    assert create["request"] == {"method": "POST", "path": "/repos/{owner}/{repo}/issues"}
    body = {n: p for n, p in create["params"].items() if p["in"] == "body"}
    assert {"title", "body", "labels", "assignees", "milestone"} <= body.keys()
    assert "required" not in body["title"]  # required by the schema
    assert body["body"]["required"] is False
    assert [s["type"] for s in body["title"]["one_of"]] == ["string", "integer"]
    assert body["labels"]["type"] == "array"
    # Markdown reduced to text: no link targets, no emphasis marks
    assert "](" not in create["description"]
    assert "**" not in create["description"]
    assert len(create["description"]) <= 800


def test_quality_report_counts_and_measures(imported: Generated) -> None:
    report = imported.report
    assert report.tools == len(imported.connector["tools"])
    assert report.by_code("too_many_tools")  # more than the default 40
    assert report.by_code("long_description")
    assert report.by_code("param_description")
    skipped = {n.operation for n in report.by_code("skipped")}
    assert "DELETE /repos/{owner}/{repo}/issues/{issue_number}/assignees" in skipped
    definitions = json.dumps({"tools": [t for t in _definitions(imported)]}, separators=(",", ":"))
    assert report.tools_list_bytes == len(definitions.encode())
    assert report.tools_list_tokens == report.tools_list_bytes // 4
    text = "\n".join(report.lines())
    assert f"{report.tools} tools; tools/list is {report.tools_list_bytes:,} bytes" in text


def _definitions(generated: Generated) -> list[dict[str, Any]]:
    from builder.tools.definition import tool_definition

    connector = load_connector_text(json.dumps(generated.connector))
    return [tool_definition(t) for t in connector.tools]


def test_the_whole_description_prints_the_tag_table_instead(tmp_path: Path) -> None:
    target = tmp_path / "connector.yaml"
    result = CliRunner().invoke(
        app, ["import", "openapi", github_description(), "--out", str(target)]
    )
    assert result.exit_code == 1, result.output
    assert not target.exists()
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["tag", "operations"]
    table = dict(line.split() for line in lines[1:])
    assert int(table["repos"]) > 150
    assert int(table["issues"]) > 40
    assert "more than 40" in result.stderr
    assert "nothing written" in result.stderr
    with pytest.raises(SelectionNeeded) as caught:
        generate(github_description(), Selection())
    assert sum(caught.value.tags.values()) >= caught.value.operations > 1000


OPERATIONS = ("issues/create", "issues/list-for-repo", "issues/update", "issues/add-labels")


@pytest.fixture(scope="module")
def served_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("github") / "connector.yaml"
    args = ["import", "openapi", github_description(), "--out", str(target)]
    for op in OPERATIONS:
        args += ["--operation", op]
    result = CliRunner().invoke(app, [*args, "--base-url", "${UPSTREAM_URL}", "--name", "gh"])
    assert result.exit_code == 0, result.output
    assert "4 tools; tools/list is" in result.stderr
    return target


def test_the_written_file_is_commented_and_validates(served_spec: Path) -> None:
    text = served_spec.read_text()
    assert text.startswith("# Imported by `mcpbuild import openapi` from ")
    assert "  # POST /repos/{owner}/{repo}/issues\n" in text
    connector = load_connector(str(served_spec))
    assert connector.name == "gh"
    assert [t.name for t in connector.tools] == [
        "issues_list_for_repo",
        "issues_create",
        "issues_update",
        "issues_add_labels",
    ]
    result = CliRunner().invoke(app, ["validate", str(served_spec)])
    assert result.exit_code == 0, result.output


@pytest.mark.anyio
async def test_served_tools_send_what_the_description_prescribes(served_spec: Path) -> None:
    connector = load_connector(str(served_spec))
    state = Upstream()
    async with (
        serving(connector, upstream_app(state)) as url,
        Client(url) as client,
    ):
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["issues_list_for_repo"].annotations.read_only_hint is True
        assert listed["issues_create"].annotations.read_only_hint is False

        created = await client.call_tool(
            "issues_create",
            {
                "owner": "octocat",
                "repo": "Hello-World",
                "title": "Found a bug",
                "body": "It breaks.",
                "labels": ["bug"],
            },
        )
        assert not created.is_error, created.content
        seen = state.last
        assert (seen.method, seen.raw_path, seen.query) == (
            "POST",
            "/repos/octocat/Hello-World/issues",
            "",
        )
        assert seen.json() == {"title": "Found a bug", "body": "It breaks.", "labels": ["bug"]}

        listed_issues = await client.call_tool(
            "issues_list_for_repo",
            {"owner": "octocat", "repo": "Hello-World", "state": "closed", "labels": "bug,ui"},
        )
        assert not listed_issues.is_error, listed_issues.content
        seen = state.last
        assert (seen.method, seen.raw_path) == ("GET", "/repos/octocat/Hello-World/issues")
        query = dict(pair.split("=", 1) for pair in seen.query.split("&"))
        assert query["state"] == "closed"
        assert query["labels"] == "bug%2Cui"
        assert seen.body == b""

        updated = await client.call_tool(
            "issues_update",
            {"owner": "octocat", "repo": "Hello-World", "issue_number": 7, "state": "closed"},
        )
        assert not updated.is_error, updated.content
        seen = state.last
        assert (seen.method, seen.raw_path) == ("PATCH", "/repos/octocat/Hello-World/issues/7")
        assert seen.json() == {"state": "closed"}

        labelled = await client.call_tool(
            "issues_add_labels",
            {"owner": "octocat", "repo": "Hello-World", "issue_number": 7, "labels": ["ui"]},
        )
        assert not labelled.is_error, labelled.content
        seen = state.last
        assert (seen.method, seen.raw_path) == (
            "POST",
            "/repos/octocat/Hello-World/issues/7/labels",
        )
        assert seen.json() == {"labels": ["ui"]}
