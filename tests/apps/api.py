"""A small real tracker API for the views' browser tests, on 127.0.0.1.

``GET /items?page=N`` pages through records (``per_page``, three by default; ``has_more``
in the body, the next page in a ``Link`` header too), ``GET /items/{number}`` is one
record (its ``avatar_url`` on another origin), ``GET /avatar.png`` is a real PNG. With
``?set=hostile`` the same endpoints answer records whose text is markup and whose links are
``javascript:`` and ``data:`` URLs: what a view must show as text and never run. Every
request is recorded.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["AVATARS", "HOSTILE", "ITEMS", "PER_PAGE", "PNG", "SCRIPT", "ApiState", "api_app"]

PER_PAGE = 3
AVATARS = "https://avatars.example.com"
"""Where avatars are: the browser tests answer it themselves (nothing leaves the machine)."""

ITEMS: list[dict[str, Any]] = [
    {
        "number": n,
        "title": title,
        "state": state,
        "updated_at": f"2026-03-0{n}T09:30:00Z",
        "url": f"https://tracker.example.com/items/{n}",
        "author": author,
        "labels": labels,
        "avatar_url": f"{AVATARS}/u/{n}.png",
    }
    for n, title, state, author, labels in [
        (1, "Login redirect loops on Safari", "open", "ana", ["bug"]),
        (2, "Export calendar as ICS", "closed", "ben", ["feature"]),
        (3, "Dark mode for the settings page", "open", "chloé", ["ui", "feature"]),
        (4, "Rate limit the search endpoint", "open", "dev", ["backend"]),
        (5, "Typo in the welcome e-mail", "closed", "eve", []),
    ]
]
"""Five records: two pages of three."""

SCRIPT = "<script>window.pwned=1;alert('pwned')</script>"
_RUN = "window.pwned=1;alert(1)"
_HOSTILE_TEXT = [
    SCRIPT,
    f'<img src=x onerror="{_RUN}">',
    f'"><svg onload="{_RUN}">',
    f'<iframe srcdoc="<script>parent.{_RUN}</script>"></iframe>',
]
_HOSTILE_URLS = [
    f"javascript:{_RUN}",
    f" JaVaScRiPt:{_RUN}",
    f"java\tscript:{_RUN}",
    f"data:text/html,<script>{_RUN}</script>",
]
HOSTILE: list[dict[str, Any]] = [
    {
        "number": n,
        "title": _HOSTILE_TEXT[n - 1],
        "state": _HOSTILE_TEXT[n % 4],
        "updated_at": _HOSTILE_TEXT[(n + 1) % 4],
        "url": _HOSTILE_URLS[n - 1],
        "author": _HOSTILE_TEXT[(n + 2) % 4],
        "labels": _HOSTILE_TEXT,
        "avatar_url": _HOSTILE_URLS[n - 1]
        if n < 4
        else f'{AVATARS}/u/4.png?q="><svg/onload=alert(1)>',
    }
    for n in range(1, 5)
]
"""Four records of markup and script URLs in every field; each title is a different attack."""


def _png(width: int, height: int) -> bytes:
    """A valid RGB PNG: blue and white diagonal stripes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    blue, white = bytes((37, 99, 235)), bytes((255, 255, 255))
    rows = b"".join(
        b"\x00" + b"".join(blue if (x + y) // 16 % 2 else white for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


PNG = _png(240, 160)
"""A 240x160 image."""


@dataclass
class ApiState:
    """Every request's path and query (``/items?page=2``), in order."""

    received: list[str] = field(default_factory=list)


def api_app(state: ApiState) -> Starlette:
    """The tracker API, recording into ``state``."""

    def record(request: Request) -> list[dict[str, Any]]:
        query = request.url.query
        state.received.append(request.url.path + (f"?{query}" if query else ""))
        return HOSTILE if request.query_params.get("set") == "hostile" else ITEMS

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def items(request: Request) -> Response:
        records = record(request)
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("per_page", str(PER_PAGE)))
        chunk = records[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(records)
        headers = {}
        if more:
            query = {k: v for k, v in request.query_params.items() if k != "page"}
            nxt = f"{request.base_url}items?{urlencode({**query, 'page': page + 1})}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return JSONResponse({"items": chunk, "has_more": more}, headers=headers)

    async def item(request: Request) -> Response:
        records = record(request)
        number = int(request.path_params["number"])
        found = next((r for r in records if r["number"] == number), None)
        if found is None:
            return JSONResponse({"message": f"no item {number}"}, status_code=404)
        return JSONResponse(found)

    async def avatar(request: Request) -> Response:
        record(request)
        return Response(PNG, media_type="image/png")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/items", items),
            Route("/items/{number:int}", item),
            Route("/avatar.png", avatar),
        ]
    )
