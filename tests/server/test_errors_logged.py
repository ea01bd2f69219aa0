"""Every 5xx logs its cause, without the exception's message (it may carry a secret)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from mcp.server.lowlevel import Server
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from builder.errors import ConfigError
from builder.server.http import build_app, transport_security
from builder.server.logs import JsonFormatter, TextFormatter
from tests.servers import running

pytestmark = pytest.mark.anyio

SECRET = "sk-live-FAKE-7c1e9b"  # a fake secret: in no log, no response
PATH_SECRET = "hunter2-in-the-path"  # the route template is logged, not the URL


async def _boom(request: Request) -> Response:
    raise RuntimeError(f"upstream said: token={SECRET}")


async def _config(request: Request) -> Response:
    raise ConfigError("MCPBUILD_SECRET_KEY is not set")


async def _late(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ValueError(SECRET)

    return StreamingResponse(body())


async def _group(request: Request) -> Response:
    raise ExceptionGroup("task group", [KeyError(SECRET)])


ROUTES = [
    Route("/boom/{name}", _boom),
    Route("/config", _config),
    Route("/late", _late),
    Route("/group", _group),
]


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mcpbuild.http"]


@pytest.fixture
async def base() -> AsyncIterator[str]:
    app = build_app(Server("errors"), security=transport_security("127.0.0.1"), extra_routes=ROUTES)
    async with running(app) as url:
        yield url


async def test_an_unhandled_exception_is_logged_without_its_message(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{base}/boom/{PATH_SECRET}")
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "error_description": "internal server error",
    }
    [record] = _records(caplog)
    assert record.levelno == logging.ERROR
    fields = record.__dict__
    assert (fields["path"], fields["method"], fields["error"]) == (
        "/boom/{name}",
        "GET",
        "RuntimeError",
    )
    assert "tests/server/test_errors_logged.py:" in fields["frames"]
    assert "detail" not in fields
    lines = [JsonFormatter().format(record), TextFormatter().format(record)]
    for text in [response.text, *lines]:
        assert SECRET not in text
        assert PATH_SECRET not in text
    assert SECRET not in caplog.text  # uvicorn and Starlette did not log it either
    assert json.loads(lines[0])["error"] == "RuntimeError"


async def test_an_mcpbuild_error_is_logged_with_its_message(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{base}/config")
    assert response.status_code == 500
    [record] = _records(caplog)
    assert record.error == "builder.errors.ConfigError"  # type: ignore[attr-defined]
    assert record.detail == "MCPBUILD_SECRET_KEY is not set"  # type: ignore[attr-defined]


async def test_an_exception_group_is_logged_by_what_it_holds(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{base}/group")
    assert response.status_code == 500
    [record] = _records(caplog)
    assert (record.error, record.group) == ("KeyError", "ExceptionGroup")  # type: ignore[attr-defined]
    assert SECRET not in caplog.text


async def test_an_exception_after_the_response_started_is_logged(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"{base}/late")
    [record] = _records(caplog)
    assert (record.path, record.error, record.response_started) == ("/late", "ValueError", True)  # type: ignore[attr-defined]
    assert SECRET not in caplog.text
