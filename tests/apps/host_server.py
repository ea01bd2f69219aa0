"""The test host's backend: serves the host page and its bundle, and forwards ``/mcp`` to
``mcpbuild serve``, as a web host's own server does.

The browser then talks to ``/mcp`` on the page's own origin; the forwarded request carries
the served connector's own ``Host`` and ``Origin`` (its DNS-rebinding checks pass), every
other header as sent (``Mcp-Session-Id``, ``Mcp-Protocol-Version``, ``Accept``...), and the
answer comes back as it is produced (JSON, or an SSE stream held open).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = ["host_app"]

# Hop-by-hop headers (RFC 9110 7.6.1), and what the proxy sets itself.
_REQUEST_DROP = {"host", "connection", "keep-alive", "te", "trailer", "upgrade", "content-length"}
_RESPONSE_DROP = {"connection", "keep-alive", "transfer-encoding", "trailer", "upgrade"}


def host_app(mcp_url: str, page: Path, bundle: Path) -> Any:
    """ASGI app: ``/`` is ``page``, ``/host.js`` is ``bundle``, ``/mcp`` goes to ``mcp_url``."""
    target = httpx.URL(mcp_url)
    origin = f"{target.scheme}://{target.netloc.decode()}"
    client = httpx.AsyncClient(timeout=httpx.Timeout(30, read=None))

    async def index(_: Request) -> Response:
        return FileResponse(page, media_type="text/html")

    async def script(_: Request) -> Response:
        return FileResponse(bundle, media_type="text/javascript")

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    site = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/", index),
            Route("/host.js", script),
            Route("/healthz", healthz),
        ],
    )

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in _REQUEST_DROP
        ]
        headers = [(k, origin if k.lower() == "origin" else v) for k, v in headers]
        headers.append(("host", target.netloc.decode()))
        query = scope.get("query_string", b"").decode("latin-1")
        request = client.build_request(
            scope["method"], target.copy_with(query=query or None), headers=headers, content=body
        )
        upstream = await client.send(request, stream=True)
        try:
            async with anyio.create_task_group() as tg:

                async def relay() -> None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": upstream.status_code,
                            "headers": [
                                (k, v)
                                for k, v in upstream.headers.raw
                                if k.decode("latin-1").lower() not in _RESPONSE_DROP
                            ],
                        }
                    )
                    async for chunk in upstream.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b""})
                    tg.cancel_scope.cancel()

                async def hang_up() -> None:
                    # The browser going away ends the upstream stream too (an SSE GET).
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(relay)
                tg.start_soon(hang_up)
        finally:
            await upstream.aclose()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/mcp":
            await forward(scope, receive, send)
        else:
            await site(scope, receive, send)

    return app
