"""A small real HTTP API for tests: records what arrives, and injects faults on request."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


@dataclass
class Seen:
    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Upstream:
    """The API's state: every request received, and counters for flaky endpoints."""

    seen: list[Seen] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)

    def paths(self) -> list[str]:
        return [s.raw_path for s in self.seen if s.raw_path != "/healthz"]

    @property
    def last(self) -> Seen:
        return [s for s in self.seen if s.raw_path != "/healthz"][-1]


def upstream_app(state: Upstream) -> Any:
    async def record(request: Request) -> None:
        state.seen.append(
            Seen(
                request.method,
                request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
                request.url.query,
                dict(request.headers),
                await request.body(),
            )
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def echo(request: Request) -> Response:
        await record(request)
        seen = state.seen[-1]
        body = seen.body.decode() if seen.body else None
        return JSONResponse(
            {
                "method": seen.method,
                "raw_path": seen.raw_path,
                "query": seen.query,
                "headers": seen.headers,
                "body": body,
            }
        )

    async def items(request: Request) -> Response:
        await record(request)
        n = int(request.query_params.get("n", "3"))
        return JSONResponse(
            {"items": [{"id": str(i), "title": f"item {i}", "secret_field": "x"} for i in range(n)]}
        )

    async def status(request: Request) -> Response:
        await record(request)
        code = int(request.path_params["code"])
        return JSONResponse({"message": f"status {code} as asked"}, status_code=code)

    async def flaky(request: Request) -> Response:
        """Fails with the given status the first ``n`` times it is called for a key."""
        await record(request)
        key = request.path_params["key"]
        state.counters[key] += 1
        fails = int(request.query_params.get("fails", "1"))
        if state.counters[key] <= fails:
            code = int(request.query_params.get("status", "503"))
            headers = {}
            if "retry_after" in request.query_params:
                headers["Retry-After"] = request.query_params["retry_after"]
            return JSONResponse({"error": "try again"}, status_code=code, headers=headers)
        return JSONResponse({"ok": True, "calls": state.counters[key]})

    async def slow(request: Request) -> Response:
        await record(request)
        await asyncio.sleep(float(request.query_params.get("seconds", "5")))
        return JSONResponse({"slow": True})

    async def redirect(request: Request) -> Response:
        await record(request)
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def big(request: Request) -> Response:
        await record(request)
        n = int(request.query_params.get("n", "1000"))
        return JSONResponse({"data": "x" * n})

    async def binary(request: Request) -> Response:
        await record(request)
        return Response(b"\x89PNG\r\n\x1a\n" + bytes(100), media_type="image/png")

    async def text(request: Request) -> Response:
        await record(request)
        return PlainTextResponse("plain words")

    routes = [
        Route("/healthz", healthz),
        Route("/api/items", items),
        Route("/api/status/{code:int}", status, methods=["GET", "POST", "DELETE", "PUT"]),
        Route("/api/flaky/{key}", flaky, methods=["GET", "POST"]),
        Route("/api/slow", slow),
        Route("/api/redirect", redirect),
        Route("/api/big", big),
        Route("/api/binary", binary),
        Route("/api/text", text),
        Route("/api/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
        Route("/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    app = Starlette(routes=routes)

    async def with_drop(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/drop":
            state.seen.append(Seen("GET", "/api/drop", "", {}, b""))
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"1000")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"partial', "more_body": True})
            raise RuntimeError("connection dropped on purpose")
        await app(scope, receive, send)

    return with_drop
