"""Swapping the served spec in a running server (builder/server/live.py)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from builder.connector.load import load_connector_text
from builder.errors import ConfigError
from builder.server.live import reload
from builder.server.serve import ServeOptions, open_connector
from tests.servers import running

pytestmark = pytest.mark.anyio
GENERATIONS = ["legacy", "2026-07-28"]

SPEC = """\
mcpbuild: 1
name: live-test
api:
  base_url: ${UPSTREAM_URL}
tools:
  - name: held
    description: Answers when the test lets it.
    request: {method: GET, path: /held}
    response: {select: "SELECTED"}
"""


def held_upstream() -> tuple[Starlette, anyio.Event, anyio.Event]:
    """An API whose /held answers ``{"old": ..., "new": ...}`` once released."""
    arrived, release = anyio.Event(), anyio.Event()

    async def held(request: Request) -> Response:
        arrived.set()
        await release.wait()
        return JSONResponse({"old": "from the old spec", "new": "from the new spec"})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/held", held), Route("/healthz", healthz)])
    return app, arrived, release


@pytest.mark.parametrize("mode", GENERATIONS)
async def test_a_call_in_flight_finishes_on_the_spec_it_started_with(mode: str) -> None:
    app, arrived, release = held_upstream()
    options = ServeOptions(reloadable=True)
    async with running(app) as upstream:
        env = {"UPSTREAM_URL": upstream}
        served = open_connector(load_connector_text(SPEC.replace("SELECTED", "old")), options, env)
        async with (
            running(served.http_app(options)) as base,
            Client(f"{base}/mcp", mode=mode) as client,
        ):
            results: list[Any] = []

            async def call() -> None:
                results.append(await client.call_tool("held", {}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                with anyio.fail_after(10):
                    await arrived.wait()
                new = load_connector_text(
                    SPEC.replace("SELECTED", "new").replace("Answers when", "Answers once")
                )
                change = await reload(served, new, options, env)
                release.set()
            after = await client.call_tool("held", {})
            listed = (await client.list_tools()).tools
    assert results[0].content[0].text == '"from the old spec"'
    assert after.content[0].text == '"from the new spec"'  # type: ignore[union-attr]
    assert [t.description for t in listed] == ["Answers once the test lets it."]
    assert (change.tools, change.added, change.removed, change.changed) == (1, (), (), ("held",))
    assert change.summary("connector.yaml") == "reloaded connector.yaml: 1 tool (+0 -0 ~1)"


async def test_a_reload_that_cannot_resolve_keeps_the_running_spec() -> None:
    options = ServeOptions(reloadable=True)
    env = {"UPSTREAM_URL": "http://127.0.0.1:9"}
    served = open_connector(load_connector_text(SPEC.replace("SELECTED", "old")), options, env)
    assert served.live is not None
    before = served.live.current
    broken = load_connector_text(SPEC.replace("${UPSTREAM_URL}", "${MISSING_URL}"))
    with pytest.raises(ConfigError, match="MISSING_URL"):
        await reload(served, broken, options, env)
    assert served.live.current is before
    await served.client.aclose()


async def test_serve_declares_no_list_changes_and_cannot_reload() -> None:
    options = ServeOptions()
    served = open_connector(
        load_connector_text(SPEC), options, {"UPSTREAM_URL": "http://127.0.0.1:9"}
    )
    capabilities = served.server.create_initialization_options().capabilities
    assert capabilities.tools is not None
    assert not capabilities.tools.list_changed
    assert served.server.get_request_handler("subscriptions/listen") is None
    with pytest.raises(RuntimeError, match="reloadable"):
        await reload(served, load_connector_text(SPEC), options, {})
    await served.client.aclose()
