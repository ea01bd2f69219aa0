"""Ready-to-paste client configuration for a running server, printed by ``serve``."""

from __future__ import annotations

import json

__all__ = ["client_snippets"]


def client_snippets(name: str, url: str) -> str:
    """How to add the MCP server ``name`` at ``url`` (its ``/mcp`` endpoint) to Claude Code,
    Claude Desktop, VS Code and the MCP Inspector: a few lines to paste, one per client."""
    desktop = {"mcpServers": {name: {"command": "npx", "args": ["-y", "mcp-remote", url]}}}
    vscode = {"servers": {name: {"type": "http", "url": url}}}
    return "\n".join(
        [
            "connect a client:",
            f"  Claude Code:    claude mcp add --transport http {name} {url}",
            f"  Claude Desktop: claude_desktop_config.json {_compact(desktop)}",
            f"  VS Code:        .vscode/mcp.json {_compact(vscode)}",
            f"  MCP Inspector:  npx @modelcontextprotocol/inspector --transport http "
            f"--server-url {url}",
        ]
    )


def _compact(document: object) -> str:
    return json.dumps(document, separators=(", ", ": "))
