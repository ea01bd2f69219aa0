"""What the aiohttp upstream client puts on the wire about a body, seen by a real server on
127.0.0.1: no Content-Type without content, Content-Length: 0 where the method expects
content, and a body's own headers as given."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from builder.tools.request import OutgoingRequest
from builder.tools.transport import AiohttpUpstream
from tests.servers import running

pytestmark = pytest.mark.anyio

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class Seen:
    """The raw headers (lower-case names, every occurrence) and body of each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[list[tuple[str, str]], bytes]] = []

    def headers(self, name: str) -> list[str]:
        raw, _ = self.requests[-1]
        return [value for key, value in raw if key == name]

    @property
    def body(self) -> bytes:
        return self.requests[-1][1]


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()

    async def record(request: Request) -> Response:
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        seen.requests.append((raw, await request.body()))
        return Response(status_code=204)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/healthz", healthz), Route("/record", record, methods=METHODS)])
    async with running(app) as url:
        yield url, seen


async def send(url: str, method: str, body: bytes | None, **headers: str) -> None:
    client = AiohttpUpstream()
    try:
        response = await client.send(
            OutgoingRequest(method, url + "/record", [], dict(headers), body),
            timeout=10,
            read_limit=1000,
        )
    finally:
        await client.aclose()
    assert response.status == 204


@pytest.mark.parametrize("body", [None, b""], ids=["none", "empty"])
@pytest.mark.parametrize("method", METHODS)
async def test_no_content_type_without_a_body(
    server: tuple[str, Seen], method: str, body: bytes | None
) -> None:
    url, seen = server
    await send(url, method, body)
    assert seen.headers("content-type") == []
    assert seen.headers("transfer-encoding") == []
    assert seen.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_content_length_zero_where_the_method_expects_content(
    server: tuple[str, Seen], method: str
) -> None:
    url, seen = server
    await send(url, method, None)
    assert seen.headers("content-length") == ["0"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_no_content_length_where_no_content_is_expected(
    server: tuple[str, Seen], method: str
) -> None:
    url, seen = server
    await send(url, method, None)
    assert seen.headers("content-length") == []


async def test_delete_without_a_body_announces_no_content(server: tuple[str, Seen]) -> None:
    url, seen = server
    await send(url, "DELETE", None)
    assert seen.headers("content-type") == []
    assert seen.headers("content-length") in ([], ["0"])


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_a_static_content_type_is_dropped_without_a_body(
    server: tuple[str, Seen], method: str
) -> None:
    url, seen = server
    await send(url, method, None, **{"Content-Type": "application/json", "X-Keep": "1"})
    assert seen.headers("content-type") == []
    assert seen.headers("x-keep") == ["1"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_a_body_goes_out_with_its_own_type_and_length(
    server: tuple[str, Seen], method: str
) -> None:
    url, seen = server
    await send(url, method, b'{"a":1}', **{"Content-Type": "application/json"})
    assert seen.headers("content-type") == ["application/json"]
    assert seen.headers("content-length") == ["7"]
    assert seen.body == b'{"a":1}'
