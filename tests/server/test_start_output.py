"""What `mcpbuild serve` prints at start-up on a stderr that is not a terminal: the client
snippets to paste, and log lines without terminal colour codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.server.snippets import client_snippets
from tests.servers import free_port, wait_for_http

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "assets" / "upstream.yaml"


def test_snippets_for_each_client() -> None:
    url = "https://connector.example.com/mcp"
    lines = client_snippets("notes", url).splitlines()
    assert lines[1] == f"  Claude Code:    claude mcp add --transport http notes {url}"
    desktop = json.loads(lines[2].split("claude_desktop_config.json ", 1)[1])
    assert desktop == {
        "mcpServers": {"notes": {"command": "npx", "args": ["-y", "mcp-remote", url]}}
    }
    vscode = json.loads(lines[3].split(".vscode/mcp.json ", 1)[1])
    assert vscode == {"servers": {"notes": {"type": "http", "url": url}}}
    assert lines[4] == (
        f"  MCP Inspector:  npx @modelcontextprotocol/inspector --transport http --server-url {url}"
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_serve_prints_snippets_and_no_colour_codes(log_format: str) -> None:
    port = free_port()
    env = {**os.environ, "UPSTREAM_URL": "http://127.0.0.1:9", "TEST_API_KEY": "k"}
    args = ["serve", str(SPEC), "--port", str(port), "--log-format", log_format]
    proc = subprocess.Popen(
        [sys.executable, "-m", "builder.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_for_http(f"http://127.0.0.1:{port}/healthz")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    url = f"http://127.0.0.1:{port}/mcp"
    assert f"  Claude Code:    claude mcp add --transport http test-upstream {url}" in err
    assert (
        f'.vscode/mcp.json {{"servers": {{"test-upstream": {{"type": "http", "url": "{url}"}}'
        in err
    )
    # uvicorn's start-up line carries a coloured copy of itself; it must not leak through.
    assert "Uvicorn running on" in err
    assert "\x1b[" not in err
    assert "\\u001b[" not in err
