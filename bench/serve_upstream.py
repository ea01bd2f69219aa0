"""The local upstream API of ``bench/serve_overhead.py``: a raw asyncio HTTP/1.1 server.

``GET /api/items`` answers a small fixed JSON body (three items) with keep-alive; any other
path answers 404. Request parsing is the minimum a benchmark client needs (a head, an
optional ``Content-Length`` body), so the upstream costs a few microseconds a request and
is never the bottleneck. It binds 127.0.0.1 on a free port and prints ``PORT <n>`` on
stdout once it is listening::

    .venv/bin/python bench/serve_upstream.py
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

__all__ = ["ITEMS", "PATH", "selected_items"]

PATH = "/api/items"
ITEMS: dict[str, Any] = {
    "items": [
        {"id": 1, "name": "alpha", "price": 1.5, "tags": ["a", "first"]},
        {"id": 2, "name": "beta", "price": 2.25, "tags": ["b"]},
        {"id": 3, "name": "gamma", "price": 3.0, "tags": []},
    ],
    "next": None,
}


def selected_items() -> list[dict[str, Any]]:
    """What the tool returns: ``items[].{id: id, name: name}``, the same in every server."""
    return [{"id": item["id"], "name": item["name"]} for item in ITEMS["items"]]


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


_OK = _response("200 OK", json.dumps(ITEMS, separators=(",", ":")).encode())
_NOT_FOUND = _response("404 Not Found", b'{"error":"not found"}')
_GET_ITEMS = f"GET {PATH} ".encode()


class _Upstream(asyncio.Protocol):
    """One keep-alive connection; answers every complete request in the buffer."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end])
            length = 0
            marker = head.lower().find(b"\r\ncontent-length:")
            if marker >= 0:
                stop = head.find(b"\r\n", marker + 2)
                length = int(head[marker + 17 : stop if stop >= 0 else len(head)])
            if len(buffer) < end + 4 + length:
                break
            del buffer[: end + 4 + length]
            out.append(_OK if head.startswith(_GET_ITEMS) else _NOT_FOUND)
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


async def _main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Upstream, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        sys.exit(0)
