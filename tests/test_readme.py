"""The README's connector snippets are valid connectors: documentation that cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from builder.connector import load_connector_text

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_real_api_feature_snippet_validates() -> None:
    text = README.read_text()
    section = text[text.index("### Bodies, GraphQL, pages") :]
    block = section[section.index("```yaml\n") + 8 :]
    tools = block[: block.index("```")]
    # The snippet lists tools only: give them a connector around and a description each.
    tools = re.sub(r"(  - name: (\w+)[^\n]*\n)", r"\1    description: The \2 tool.\n", tools)
    spec = "mcpbuild: 1\nname: readme\napi: {base_url: https://api.example.com}\ntools:\n"
    connector = load_connector_text(spec + tools, "README.md")
    assert [t.name for t in connector.tools] == [
        "search",
        "create_account",
        "list_issues",
        "list_channels",
        "list_repo_issues",
        "upload",
    ]


def test_the_views_snippet_validates() -> None:
    text = README.read_text()
    section = text[text.index("### Views: tool results") :]
    block = section[section.index("```yaml\n") + 8 :]
    tool = block[: block.index("```")].replace("    # ... request, params, response, ", "    # ")
    spec = (
        "mcpbuild: 1\nname: readme\napi: {base_url: https://api.example.com}\ntools:\n"
        + tool
        + "    description: Issues.\n    request: {method: GET, path: /issues}\n"
        + "  - name: get_issue\n    description: One issue.\n"
        + "    request: {method: GET, path: '/issues/{issue_number}'}\n"
        + "    params: {issue_number: {type: integer, in: path}}\n"
    )
    connector = load_connector_text(spec, "README.md")
    view = connector.tools[0].view
    assert view is not None
    assert view.table is not None
    assert [c.label for c in view.table.columns] == ["#", "Title", "State", "Updated"]


def test_the_provider_snippets_validate_with_their_overrides() -> None:
    text = README.read_text()
    section = text[text.index("### Providers: `preset:`") : text.index("### Bodies, GraphQL")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    tool = "tools:\n  - {name: me, description: Me., request: {method: GET, path: /me}}\n"
    microsoft = load_connector_text(
        "mcpbuild: 1\nname: readme\n"
        + blocks[0]
        + "api: {base_url: https://graph.microsoft.com/v1.0}\n"
        + tool,
        "README.md",
    ).provider
    assert microsoft is not None
    assert microsoft.preset == "microsoft"
    # The override: the tenant is in both endpoints instead of `common`.
    assert microsoft.authorization_url.startswith(
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/"
    )
    assert "contoso.onmicrosoft.com" in microsoft.token_url
    assert "offline_access" in microsoft.always_request
    assert {"User.Read", "Mail.Read", "offline_access"} <= set(microsoft.scopes)
    for block in blocks[1:]:
        connector = load_connector_text("mcpbuild: 1\nname: readme\n" + block + tool)
        assert "${grant." in connector.api.base_url
