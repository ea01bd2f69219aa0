"""`mcpbuild demo` as a real process: the official MCP SDK client authorizes through mcpbuild
(consent page) and the demo notes service (sign-in form), then calls every tool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio
import pytest
from anyio.abc import Process

from builder.demo.run import DemoError, DemoOptions, demo_spec_path, run_demo
from tests.oauth_client import OAuthUser
from tests.servers import bound_socket, free_port, wait_for_http

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningDemo:
    process: Process
    stdout: str
    port: int
    notes_port: int

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@asynccontextmanager
async def demo(state: Path, port: int, notes_port: int) -> AsyncIterator[RunningDemo]:
    """``python -m builder.cli demo`` until its banner is out; stopped with Ctrl-C (SIGINT)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPBUILD_")}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "builder.cli", "demo", "--port", str(port)]
    command += ["--notes-port", str(notes_port), "--state-dir", str(state)]
    log_path = state.parent / f"stderr-{len(list(state.parent.glob('stderr-*')))}.txt"
    with log_path.open("w+b") as stderr:
        process = await anyio.open_process(command, env=env, cwd=state.parent, stderr=stderr)
        assert process.stdout is not None
        seen = b""
        try:
            with anyio.fail_after(30):
                async for chunk in process.stdout:
                    seen += chunk
                    if b"Press Ctrl-C to stop." in seen:
                        break
            assert b"Press Ctrl-C" in seen, _log(stderr)
            await wait_for_http(f"http://127.0.0.1:{port}/healthz")
            await wait_for_http(f"http://127.0.0.1:{notes_port}/healthz")
            yield RunningDemo(process, seen.decode(), port, notes_port)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            with anyio.fail_after(15):
                await process.wait()
            await process.aclose()
        log = _log(stderr)
        assert process.returncode == 0, log
        assert "Traceback" not in log, log
        assert "mcpbuild demo: stopped" in log


def _log(stderr: BinaryIO) -> str:
    stderr.seek(0)
    return stderr.read().decode(errors="replace")


def text(result: object) -> str:
    content = result.content  # type: ignore[attr-defined]
    assert not result.is_error, content  # type: ignore[attr-defined]
    return str(content[0].text)


async def test_demo_end_to_end_with_the_sdk_client(tmp_path: Path) -> None:
    port, notes_port = free_port(), free_port()
    user = OAuthUser()
    async with demo(tmp_path / "state", port, notes_port) as running:
        lines = running.stdout.splitlines()
        assert any(
            "MCP server URL" in line and line.strip().endswith(running.mcp_url) for line in lines
        ), running.stdout
        assert "npx @modelcontextprotocol/inspector" in running.stdout
        assert f"http://127.0.0.1:{notes_port}" in running.stdout
        async with user.client(running.mcp_url) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            new = {"title": "From the test", "body": "hi"}
            created = json.loads(text(await client.call_tool("create_note", new)))
            listed = json.loads(text(await client.call_tool("list_notes", {})))
            got = json.loads(text(await client.call_tool("get_note", {"note_id": created["id"]})))
            deleted = text(await client.call_tool("delete_note", {"note_id": created["id"]}))
            after = json.loads(text(await client.call_tool("list_notes", {"q": "test"})))
    assert names == {"list_notes", "get_note", "create_note", "delete_note"}
    assert set(created) == {"id", "title", "created_at"}
    assert listed[0] == {"id": created["id"], "title": "From the test", "updated_at": ANY_TIME}
    assert len(listed) == 4  # three seeded notes, then ours on top
    assert got["body"] == "hi"
    assert "204" in deleted
    assert after == []
    assert user.browser.consent_pages == 1
    assert user.browser.sign_in_pages == 1
    state = tmp_path / "state"
    assert {"mcpbuild.db", "secret.key", "notes-client.json"} <= {p.name for p in state.iterdir()}


async def test_a_restart_ends_old_grants_cleanly_and_the_client_signs_in_again(
    tmp_path: Path,
) -> None:
    """Notes tokens live in memory: after a restart mcpbuild's stored grant is refused with
    invalid_grant (the client credentials are kept in the state folder), the grant ends, and
    the SDK client goes through the sign-in again by itself."""
    port, notes_port = free_port(), free_port()
    user = OAuthUser()
    async with (
        demo(tmp_path / "state", port, notes_port) as first,
        user.client(first.mcp_url) as client,
    ):
        assert "Welcome" in text(await client.call_tool("list_notes", {}))
    async with demo(tmp_path / "state", port, notes_port) as second:
        async with user.client(second.mcp_url) as client:
            stale = await client.call_tool("list_notes", {})
            assert stale.is_error
            assert "sign in again" in str(stale.content[0].text)  # type: ignore[union-attr]
        async with user.client(second.mcp_url) as client:
            assert "Welcome" in text(await client.call_tool("list_notes", {}))
    assert user.browser.consent_pages == 2
    assert user.browser.sign_in_pages == 2


async def test_demo_refuses_a_host_beyond_loopback_and_a_busy_port(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="this machine only"):
        run_demo(DemoOptions(host="0.0.0.0", state_dir=tmp_path))
    busy = bound_socket()
    try:
        port = busy.getsockname()[1]
        busy.listen()
        with pytest.raises(DemoError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            run_demo(DemoOptions(port=port, notes_port=free_port(), state_dir=tmp_path))
    finally:
        busy.close()


def test_cli_reports_start_up_problems_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "builder.cli", "demo", "--host", "192.0.2.1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "mcpbuild demo: --host: the demo listens on this machine only" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_packaged_demo_spec_is_a_copy_of_the_connector() -> None:
    shipped = ROOT / "connectors" / "demo" / "connector.yaml"
    copy = ROOT / "builder" / "data" / "demo.yaml"
    assert demo_spec_path() == shipped
    assert copy.read_bytes() == shipped.read_bytes()


class _AnyTime:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == 20 and other.endswith("Z")


ANY_TIME = _AnyTime()
