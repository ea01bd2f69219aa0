"""MCP messages written by hand, for tests that speak raw HTTP to /mcp."""

from __future__ import annotations

import httpx

STREAMABLE_ACCEPT = {"Accept": "application/json, text/event-stream"}

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}


async def open_session(
    http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> str:
    """A 2025-11-25 session opened with ``initialize``; its ``Mcp-Session-Id``."""
    response = await http.post(
        url, json=INITIALIZE, headers={**STREAMABLE_ACCEPT, **(headers or {})}
    )
    assert response.status_code == 200, response.text
    return str(response.headers["mcp-session-id"])
