"""Binary responses: images as MCP ImageContent, other files as embedded blob resources,
whole or not at all."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from mcp import Client, types
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from builder.connector import load_connector_text
from builder.connector.models import Response as ResponseSpec
from builder.server.handlers import response_uri, tool_result
from builder.tools.response import ResponseShaper
from builder.tools.transport import UpstreamResponse
from tests.serving import serving

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(300) + b"%%EOF\n"


def _answer(body: bytes, ctype: str | None, truncated: bool = False) -> UpstreamResponse:
    headers = {"content-type": ctype} if ctype else {}
    return UpstreamResponse(200, "OK", headers, body, truncated)


def test_png_becomes_image_content() -> None:
    shaped = ResponseShaper(ResponseSpec()).shape(_answer(PNG, "image/png"), "GET")
    assert not shaped.is_error
    assert shaped.blob == PNG
    assert shaped.mime_type == "image/png"
    assert shaped.text == f"[binary response: image/png, {len(PNG)} bytes]"
    result = tool_result("get_avatar", shaped)
    image, description = result.content
    assert isinstance(image, types.ImageContent)
    assert base64.b64decode(image.data) == PNG
    assert image.mime_type == "image/png"
    assert isinstance(description, types.TextContent)
    assert description.text == shaped.text
    assert not result.is_error


def test_pdf_becomes_an_embedded_blob_resource_with_a_stable_uri() -> None:
    shaped = ResponseShaper(ResponseSpec()).shape(
        _answer(PDF, "application/pdf; name=report.pdf"), "GET"
    )
    assert shaped.mime_type == "application/pdf"
    result = tool_result("download_report", shaped)
    embedded = result.content[0]
    assert isinstance(embedded, types.EmbeddedResource)
    resource = embedded.resource
    assert isinstance(resource, types.BlobResourceContents)
    assert base64.b64decode(resource.blob) == PDF
    assert resource.mime_type == "application/pdf"
    assert resource.uri == response_uri("download_report", PDF)
    assert resource.uri.startswith("mcpbuild://response/download_report/")
    assert tool_result("download_report", shaped).content[0] == embedded  # same bytes, same URI
    assert response_uri("download_report", PDF + b"x") != resource.uri


@pytest.mark.parametrize(
    ("ctype", "mime"),
    [
        ("application/octet-stream", "application/octet-stream"),
        ("application/zip", "application/zip"),
        ("audio/mpeg", "audio/mpeg"),
        (None, "application/octet-stream"),  # no type, and NUL bytes: not text
        ("text/plain", "text/plain"),  # says text, has NUL bytes: not mangled into text
    ],
)
def test_other_binary_types_are_blobs(ctype: str | None, mime: str) -> None:
    body = b"\x00\x01\x02binary\x00" * 10
    shaped = ResponseShaper(ResponseSpec()).shape(_answer(body, ctype), "GET")
    assert shaped.blob == body
    assert shaped.mime_type == mime
    assert isinstance(tool_result("t", shaped).content[0], types.EmbeddedResource)


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("text/plain; charset=latin-1", "café".encode("latin-1")),
        ("application/xml", b"<a>1</a>"),
        (None, b"plain words"),
    ],
)
def test_text_stays_text(ctype: str | None, body: bytes) -> None:
    shaped = ResponseShaper(ResponseSpec()).shape(_answer(body, ctype), "GET")
    assert shaped.blob is None
    assert shaped.text == body.decode("latin-1")
    assert tool_result("t", shaped).content == [types.TextContent(type="text", text=shaped.text)]


def test_a_file_over_the_budget_is_an_error_never_a_cut_file() -> None:
    shaper = ResponseShaper(ResponseSpec(max_bytes=256))
    shaped = shaper.shape(_answer(PNG, "image/png"), "GET")
    assert shaped.is_error
    assert shaped.blob is None
    assert shaped.text == (
        f"the response is a file (image/png, {len(PNG)} bytes), over this tool's limit of "
        "256 bytes; a file is sent whole or not at all"
    )
    tokens = ResponseShaper(ResponseSpec(max_tokens=64)).shape(
        _answer(PDF, "application/pdf"), "GET"
    )
    assert tokens.text == (
        f"the response is a file (application/pdf, {len(PDF)} bytes), over this tool's limit "
        "of 64 tokens (256 bytes); a file is sent whole or not at all"
    )


def test_a_file_cut_at_the_read_limit_is_an_error() -> None:
    shaper = ResponseShaper(ResponseSpec())
    body = bytes(shaper.read_limit)
    shaped = shaper.shape(_answer(body, "application/zip", truncated=True), "GET")
    assert shaped.is_error
    assert f"(application/zip, more than {shaper.read_limit} bytes)" in shaped.text


def test_a_file_within_max_tokens_is_sent() -> None:
    shaped = ResponseShaper(ResponseSpec(max_tokens=1000)).shape(_answer(PNG, "image/png"), "GET")
    assert shaped.blob == PNG


# --- through the MCP SDK client --------------------------------------------------------

SPEC = """\
mcpbuild: 1
name: files
api: {base_url: "${UPSTREAM_URL}/api"}
tools:
  - name: get_avatar
    description: The user's avatar, a PNG.
    request: {method: GET, path: /avatar.png}
  - name: download_report
    description: The report, a PDF.
    request: {method: GET, path: /report.pdf}
  - name: download_big_report
    description: A PDF over this tool's limit.
    request: {method: GET, path: /report.pdf}
    response: {max_bytes: 256}
"""


async def _avatar(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def _report(request: Request) -> Response:
    return Response(PDF, media_type="application/pdf")


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


@pytest.fixture
async def mcp_url() -> AsyncIterator[str]:
    upstream = Starlette(
        routes=[
            Route("/healthz", _healthz),
            Route("/api/avatar.png", _avatar),
            Route("/api/report.pdf", _report),
        ]
    )
    async with serving(load_connector_text(SPEC), upstream) as url:
        yield url


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_binary_content_through_the_sdk(mcp_url: str, mode: str) -> None:
    async with Client(mcp_url, mode=mode) as client:
        avatar = await client.call_tool("get_avatar", {})
        report = await client.call_tool("download_report", {})
        big = await client.call_tool("download_big_report", {})
    assert not avatar.is_error
    image = avatar.content[0]
    assert isinstance(image, types.ImageContent)
    assert (image.mime_type, base64.b64decode(image.data)) == ("image/png", PNG)
    assert not report.is_error
    embedded = report.content[0]
    assert isinstance(embedded, types.EmbeddedResource)
    assert isinstance(embedded.resource, types.BlobResourceContents)
    assert embedded.resource.mime_type == "application/pdf"
    assert base64.b64decode(embedded.resource.blob) == PDF
    assert embedded.resource.uri == response_uri("download_report", PDF)
    assert big.is_error
    assert [c.type for c in big.content] == ["text"]
    assert big.content[0].text == (  # type: ignore[union-attr]
        f"the response is a file (application/pdf, {len(PDF)} bytes), over this tool's "
        "limit of 256 bytes; a file is sent whole or not at all"
    )
