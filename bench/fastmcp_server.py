"""Case (c) of ``bench/serve_overhead.py``: the same tool hand-written with FastMCP 4.1.6.

Written the way a FastMCP user would: one module-level shared ``httpx.AsyncClient``, a
``@mcp.tool`` that GETs the upstream and returns the selected fields, and
``mcp.run(transport="http", ...)`` with FastMCP's default streamable HTTP settings
(stateful sessions, SSE responses, uvicorn defaults). It runs in the FastMCP venv that
``serve_overhead.py`` creates from ``bench/requirements-fastmcp.txt``::

    BENCH_UPSTREAM=http://127.0.0.1:9000/api \\
        bench/.venv-fastmcp/bin/python bench/fastmcp_server.py --port 8001
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import httpx
from fastmcp import FastMCP

mcp = FastMCP("bench")
client = httpx.AsyncClient(base_url=os.environ["BENCH_UPSTREAM"])


@mcp.tool
async def list_items() -> list[dict[str, Any]]:
    """List the items."""
    response = await client.get("/items")
    response.raise_for_status()
    return [{"id": item["id"], "name": item["name"]} for item in response.json()["items"]]


def main() -> None:
    """Serve over streamable HTTP on 127.0.0.1 with FastMCP's defaults."""
    parser = argparse.ArgumentParser(description="The FastMCP server of serve_overhead.py.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    mcp.run(transport="http", host="127.0.0.1", port=args.port, show_banner=False)


if __name__ == "__main__":
    main()
