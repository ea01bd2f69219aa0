"""Tool calls written by hand (both protocol generations), for tests that set the HTTP
headers and the ``_meta`` of a call themselves."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from builder.server.logs import JsonFormatter
from tests.jsonrpc import STREAMABLE_ACCEPT, open_session

GENERATIONS = ["2025-11-25", "2026-07-28"]


async def call_tool(
    http: httpx.AsyncClient,
    url: str,
    name: str,
    arguments: dict[str, Any],
    *,
    generation: str = "2026-07-28",
    headers: dict[str, str | bytes] | None = None,
    meta: dict[str, Any] | None = None,
) -> httpx.Response:
    """One ``tools/call``: stateless for 2026-07-28, in a new session for 2025-11-25."""
    sent: dict[str, str | bytes] = {**STREAMABLE_ACCEPT, **(headers or {})}
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if generation == "2026-07-28":
        sent |= {"MCP-Protocol-Version": generation, "Mcp-Method": "tools/call", "Mcp-Name": name}
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": generation,
            "io.modelcontextprotocol/clientCapabilities": {},
            **(meta or {}),
        }
    else:
        sent["Mcp-Session-Id"] = await open_session(http, url)
        sent["MCP-Protocol-Version"] = generation
        if meta:
            params["_meta"] = meta
    message = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    response = await http.post(url, json=message, headers=sent)
    assert response.status_code == 200, response.text
    return response


@contextmanager
def json_log_lines() -> Iterator[list[dict[str, Any]]]:
    """mcpbuild's log lines as ``--log-format json`` prints them, each formatted when it is
    logged (as a stream handler does), not later."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mcpbuild")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
