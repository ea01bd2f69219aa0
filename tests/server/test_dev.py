"""`mcpbuild dev` as a real process: a save swaps the spec in while clients stay connected."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import mcp.types as types
import pytest
import typer
from anyio.abc import ObjectReceiveStream, Process
from mcp import Client
from mcp.client.session import IncomingMessage
from typer.testing import CliRunner

from builder.cli import app
from tests.servers import free_port, running, wait_for_http
from tests.upstream import Upstream, upstream_app

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
mcpbuild: 1
name: dev-test
title: Dev test
description: Tools that change while served.
api:
  base_url: ${UPSTREAM_URL}/api
tools:
  - name: echo_path
    description: Echo one path param.
    request: {method: GET, path: "/echo/{value}"}
    params:
      value: {type: string, in: path}
"""
SECOND_TOOL = """\
  - name: list_items
    description: List some items.
    request: {method: GET, path: /items}
    params:
      n: {type: integer, in: query, default: 2}
"""
# Line 17, column 11 of the spec: the `in` of list_items' param.
BAD_TOOL = SECOND_TOOL.replace("in: query", "in: paht")


class Output:
    """A process's stderr, line by line, awaitable."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = anyio.Event()

    async def read(self, process: Process) -> None:
        assert process.stderr is not None
        pending = b""
        async for chunk in process.stderr:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            self.lines += [line.decode() for line in complete]
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, text: str, *, after: int = 0, timeout: float = 15) -> str:
        """The first line from index ``after`` on containing ``text``."""
        with anyio.fail_after(timeout):
            while True:
                found = next((line for line in self.lines[after:] if text in line), None)
                if found is not None:
                    return found
                await self._changed.wait()


@contextlib.asynccontextmanager
async def dev_server(spec: Path, upstream_url: str) -> AsyncIterator[tuple[str, Output]]:
    """``mcpbuild dev SPEC`` on a free loopback port; yields its /mcp URL and stderr."""
    port = free_port()
    env = {**os.environ, "UPSTREAM_URL": upstream_url, "PYTHONPATH": str(ROOT)}
    env.pop("MCPBUILD_STORE", None)
    output = Output()
    command = [sys.executable, "-m", "builder.cli", "dev", str(spec), "--port", str(port)]
    process = await anyio.open_process(command, env=env, cwd=spec.parent)
    async with process, anyio.create_task_group() as tg:
        tg.start_soon(output.read, process)
        try:
            await wait_for_http(f"http://127.0.0.1:{port}/healthz")
            yield f"http://127.0.0.1:{port}/mcp", output
        finally:
            process.terminate()
            with anyio.fail_after(15):
                await process.wait()
            tg.cancel_scope.cancel()


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    async with running(upstream_app(Upstream())) as url:
        yield url


@contextlib.contextmanager
def notifications() -> Iterator[
    tuple[Callable[[IncomingMessage], Awaitable[None]], ObjectReceiveStream[str]]
]:
    """A message handler for a client, and the tools/list_changed notifications it got."""
    send, receive = anyio.create_memory_object_stream[str](100)

    async def handler(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            await send.send(message.method)

    with send, receive:
        yield handler, receive


async def names(client: Client) -> list[str]:
    return [tool.name for tool in (await client.list_tools()).tools]


async def test_a_save_reloads_the_spec_for_a_connected_client(
    tmp_path: Path, upstream: str
) -> None:
    spec = tmp_path / "connector.yaml"
    spec.write_text(HEAD)
    with notifications() as (handler, changed):
        await _reload_while_connected(spec, upstream, handler, changed)
    assert (tmp_path / ".mcpbuild" / ".gitignore").read_text().splitlines()[-1] == "*"


async def _reload_while_connected(
    spec: Path,
    upstream: str,
    handler: Callable[[IncomingMessage], Awaitable[None]],
    changed: ObjectReceiveStream[str],
) -> None:
    async with (
        dev_server(spec, upstream) as (url, output),
        Client(url, mode="legacy", message_handler=handler) as client,
    ):
        initialize = client.session.initialize_result
        assert initialize is not None
        assert initialize.capabilities.tools is not None
        assert initialize.capabilities.tools.list_changed is True
        assert await names(client) == ["echo_path"]

        spec.write_text(HEAD + SECOND_TOOL)
        with anyio.fail_after(15):
            assert await changed.receive() == "notifications/tools/list_changed"
        assert await names(client) == ["echo_path", "list_items"]
        items = await client.call_tool("list_items", {"n": 1})
        assert json.loads(items.content[0].text)["items"][0]["title"] == "item 0"  # type: ignore[union-attr]
        await output.wait_for("reloaded connector.yaml: 2 tools (+1 -0 ~0)")

        # An invalid save: the errors with file:line:col, and the last good spec serves on.
        mark = len(output.lines)
        spec.write_text(HEAD + BAD_TOOL)
        error = await output.wait_for(f"{spec}:17:", after=mark)
        assert error.startswith(f"{spec}:17:")
        assert "tools[1].params.n.in" in error
        await output.wait_for("still serving the last good spec", after=mark)
        assert await names(client) == ["echo_path", "list_items"]
        echoed = await client.call_tool("echo_path", {"value": "still-here"})
        assert not echoed.is_error

        # Fixed: the new spec serves (one tool changed, one removed).
        spec.write_text(HEAD.replace("Echo one path param.", "Echo a path param."))
        with anyio.fail_after(15):
            assert await changed.receive() == "notifications/tools/list_changed"
        listed = (await client.list_tools()).tools
        assert [(t.name, t.description) for t in listed] == [("echo_path", "Echo a path param.")]
        await output.wait_for("reloaded connector.yaml: 1 tool (+0 -1 ~1)", after=mark)


async def test_a_2026_client_hears_of_a_reload_on_its_listen_stream(
    tmp_path: Path, upstream: str
) -> None:
    spec = tmp_path / "connector.yaml"
    spec.write_text(HEAD)
    async with (
        dev_server(spec, upstream) as (url, _),
        Client(url, mode="2026-07-28") as client,
        client.listen(tools_list_changed=True) as subscription,
    ):
        assert await names(client) == ["echo_path"]
        spec.write_text(HEAD + SECOND_TOOL)
        with anyio.fail_after(15):
            event = await subscription.__aiter__().__anext__()
        assert type(event).__name__ == "ToolsListChanged"
        assert await names(client) == ["echo_path", "list_items"]


def test_dev_takes_every_serve_option() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)

    def options(command: str) -> list[str | None]:
        return [param.name for param in group.commands[command].params]

    assert options("dev") == options("serve")
    assert "--port" in CliRunner().invoke(app, ["dev", "--help"]).output


def test_dev_refuses_stdio(tmp_path: Path) -> None:
    spec = tmp_path / "connector.yaml"
    spec.write_text(HEAD)
    result = CliRunner().invoke(app, ["dev", str(spec), "--transport", "stdio"])
    assert result.exit_code == 2
    assert "`dev` serves over http" in result.output
