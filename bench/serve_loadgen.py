"""The load generator of ``bench/serve_overhead.py``: one raw-HTTP client for every case.

Plain asyncio protocols (no MCP SDK, no HTTP library): each concurrent worker owns one
keep-alive HTTP/1.1 connection and writes prebuilt request bytes; responses are parsed
just enough (status, headers, ``Content-Length`` or chunked body). An MCP worker opens its
own session first (``initialize`` at protocol 2025-11-25, then
``notifications/initialized``), then POSTs ``tools/call`` with the ``Mcp-Session-Id``
and reads either a JSON or an SSE answer; a connection that the server closed while idle
(uvicorn does after 5 s) is reopened and the session goes on; a session the server does not
know (a 404: the reopened connection reached another worker of ``serve --workers``) is
opened again, as the spec has clients do, and counted. Every answer is checked:
HTTP 200, a JSON-RPC result, ``isError`` false, and the same text as the first call's. Its
Python work is a few tens of microseconds a call; ``serve_overhead.py`` prints how busy its
core is.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "CallError",
    "Connection",
    "LoadResult",
    "McpSession",
    "Response",
    "open_connection",
    "percentile",
    "run_load",
]

PROTOCOL_VERSION = "2025-11-25"
_ACCEPT = "application/json, text/event-stream"


class CallError(Exception):
    """A call that did not return the expected, non-error result."""


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response: status, lower-cased headers, and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._status = 0
        self._headers: dict[str, str] = {}
        self._length = -1  # body length; -1 while the head is unread, -2 when chunked
        self._chunks = bytearray()
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            response = self._parse()
        except (ValueError, IndexError) as exc:
            waiter.set_exception(CallError(f"unparseable HTTP response: {exc}"))
            return
        if response is not None:
            waiter.set_result(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(CallError("the server closed the connection"))

    # the client
    async def request(self, raw: bytes) -> Response:
        """Send one complete request and wait for its whole response."""
        if self.closed or self._transport is None:
            raise CallError("the connection is closed")
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._transport.write(raw)
        return await waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _parse(self) -> Response | None:
        buffer = self._buffer
        if self._length == -1:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            lines = buffer[:end].decode("latin-1").split("\r\n")
            del buffer[: end + 4]
            self._status = int(lines[0].split(" ", 2)[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._headers = headers
            if "content-length" in headers:
                self._length = int(headers["content-length"])
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                self._length = -2
                self._chunks = bytearray()
            elif self._status in (204, 304) or self._status < 200:
                self._length = 0
            else:
                raise ValueError("a response without a length (read-until-close unsupported)")
        if self._length >= 0:
            if len(buffer) < self._length:
                return None
            body = bytes(buffer[: self._length])
            del buffer[: self._length]
            return self._done(body)
        while True:  # chunked
            eol = buffer.find(b"\r\n")
            if eol < 0:
                return None
            size = int(bytes(buffer[:eol]).split(b";", 1)[0], 16)
            if size == 0:
                end = buffer.find(b"\r\n\r\n", eol)  # the last chunk, trailers, blank line
                if end < 0:
                    return None
                del buffer[: end + 4]
                return self._done(bytes(self._chunks))
            if len(buffer) < eol + 2 + size + 2:
                return None
            self._chunks += buffer[eol + 2 : eol + 2 + size]
            del buffer[: eol + 2 + size + 2]

    def _done(self, body: bytes) -> Response:
        response = Response(self._status, self._headers, body)
        self._length = -1
        self._waiter = None
        return response


async def open_connection(port: int) -> Connection:
    """A new connection to ``127.0.0.1:port``."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Connection, "127.0.0.1", port)
    return protocol


def _post(
    port: int, path: str, body: bytes, session: str | None, token: str | None = None
) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Accept: {_ACCEPT}\r\n"
        f"Mcp-Protocol-Version: {PROTOCOL_VERSION}\r\n"
    )
    if session is not None:
        head += f"Mcp-Session-Id: {session}\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body


def _message(response: Response) -> dict[str, Any]:
    """The JSON-RPC response in a JSON or an SSE body."""
    if response.status != 200:
        raise CallError(f"HTTP {response.status}: {response.body[:200]!r}")
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        message: dict[str, Any] = json.loads(response.body)
        return message
    if ctype.startswith("text/event-stream"):
        for line in response.body.decode().splitlines():
            if line.startswith("data:"):
                candidate: dict[str, Any] = json.loads(line[5:])
                if "result" in candidate or "error" in candidate:
                    return candidate
        raise CallError("an SSE response without a JSON-RPC result")
    raise CallError(f"unexpected content type {ctype!r}")


class McpSession:
    """One MCP session on its own connection, calling one tool again and again."""

    def __init__(
        self, conn: Connection, port: int, path: str = "/mcp", token: str | None = None
    ) -> None:
        self.conn = conn
        self.port = port
        self.path = path
        self.token = token
        self.session: str | None = None
        self._next_id = 1
        self.expected_text: str | None = None
        self.reopened = 0  # sessions opened again after a 404 (unknown session)

    async def open(self) -> dict[str, Any]:
        """``initialize`` then ``notifications/initialized``; the server's initialize result."""
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "serve-overhead-bench", "version": "1"},
            },
        }
        response = await self.conn.request(
            _post(self.port, self.path, json.dumps(init).encode(), None, self.token)
        )
        message = _message(response)
        if "result" not in message:
            raise CallError(f"initialize failed: {message}")
        self.session = response.headers.get("mcp-session-id")
        if not self.session:
            raise CallError("initialize answered without an Mcp-Session-Id")
        note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
        answered = await self.conn.request(
            _post(self.port, self.path, note, self.session, self.token)
        )
        if answered.status not in (200, 202):
            raise CallError(f"notifications/initialized: HTTP {answered.status}")
        result: dict[str, Any] = message["result"]
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Call a tool; its text content, or :class:`CallError` for any kind of failure."""
        call_id = self._next_id
        self._next_id += 1
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": call_id,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments or {}},
            },
            separators=(",", ":"),
        ).encode()
        if self.conn.closed:  # the server closed the idle keep-alive; the session lives on
            self.conn = await open_connection(self.port)
        request = _post(self.port, self.path, body, self.session, self.token)
        response = await self.conn.request(request)
        if response.status == 404 and self.session:
            # The session is unknown where this connection landed (another worker of
            # ``serve --workers`` after a reconnect): a new session, as the spec has
            # clients do on a 404, and the call again; counted, not an error.
            self.reopened += 1
            await self.open()
            request = _post(self.port, self.path, body, self.session, self.token)
            response = await self.conn.request(request)
        message = _message(response)
        if message.get("id") != call_id:
            raise CallError(f"answer to id {message.get('id')!r}, expected {call_id}")
        result = message.get("result")
        if result is None:
            raise CallError(f"JSON-RPC error: {message.get('error')}")
        if result.get("isError"):
            raise CallError(f"tool error: {result.get('content')}")
        text: str = result["content"][0]["text"]
        if self.expected_text is not None and text != self.expected_text:
            raise CallError(f"a different result: {text[:200]!r}")
        return text


@dataclass
class LoadResult:
    """One case at one concurrency: counted calls, their latencies, and the errors."""

    concurrency: int
    seconds: float
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.latencies_ns)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies_ns, q) / 1e6


def percentile(values: list[int], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


async def run_load(calls: list[Callable[[], Any]], *, warmup: float, duration: float) -> LoadResult:
    """Run each worker's ``call`` in a loop: ``warmup`` seconds uncounted, then
    ``duration`` seconds counted. Only calls that start and end inside the counted window
    count; a failed call, warm-up included, counts as an error (the worker goes on while its
    connection lives)."""
    result = LoadResult(concurrency=len(calls), seconds=duration)
    clock = time.perf_counter_ns
    start = clock()
    measure_from = start + int(warmup * 1e9)
    until = measure_from + int(duration * 1e9)
    latencies = result.latencies_ns

    async def worker(call: Callable[[], Any]) -> None:
        while True:
            t0 = clock()
            if t0 >= until:
                return
            try:
                await call()
            except (CallError, ValueError, KeyError, TypeError, IndexError) as exc:
                result.errors += 1
                if len(result.first_errors) < 3:
                    result.first_errors.append(f"{type(exc).__name__}: {exc}")
                if isinstance(exc, CallError) and "closed" in str(exc):
                    return
                continue
            t1 = clock()
            if t0 >= measure_from and t1 <= until:
                latencies.append(t1 - t0)

    await asyncio.gather(*(worker(call) for call in calls))
    return result
