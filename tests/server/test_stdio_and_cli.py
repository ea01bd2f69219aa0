"""`mcpbuild serve` as a real process: stdio with the SDK client, and HTTP from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from builder.connector import load_connector
from builder.server.serve import ServeOptions, exposure_warning
from tests.servers import free_port, running, wait_for_http
from tests.upstream import Upstream, upstream_app

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "assets" / "upstream.yaml"
API_KEY = "test-api-key-7f3a9c"


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    state = Upstream()
    async with running(upstream_app(state)) as url:
        yield state, url


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_stdio_serves_tools(upstream: tuple[Upstream, str], mode: str) -> None:
    state, url = upstream
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "builder.cli", "serve", str(SPEC), "--transport", "stdio"],
        env={"UPSTREAM_URL": url, "TEST_API_KEY": API_KEY, "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )
    async with Client(params, mode=mode) as client:
        tools = await client.list_tools()
        result = await client.call_tool("list_items", {"n": 1})
    assert len(tools.tools) == 17
    assert json.loads(result.content[0].text) == [{"id": "0", "title": "item 0"}]  # type: ignore[union-attr]
    assert state.paths() == ["/api/items"]


async def test_cli_serves_http_and_logs_to_stderr(upstream: tuple[Upstream, str]) -> None:
    _, url = upstream
    port = free_port()
    env = {**os.environ, "UPSTREAM_URL": url, "TEST_API_KEY": API_KEY}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "builder.cli",
            "serve",
            str(SPEC),
            "--port",
            str(port),
            "--log-format",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_for_http(f"http://127.0.0.1:{port}/healthz")
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as client:
            result = await client.call_tool("echo_path", {"value": "x"})
        assert not result.is_error
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    calls = [line for line in lines if line["msg"] == "tool call"]
    assert calls[0]["tool"] == "echo_path"
    assert calls[0]["upstream_status"] == 200
    assert any(line["msg"] == "serving" and line["url"].endswith(f":{port}/mcp") for line in lines)
    assert API_KEY not in err + out


def test_missing_variable_is_named_and_exits_1() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("UPSTREAM_URL", "TEST_API_KEY")}
    proc = subprocess.run(
        [sys.executable, "-m", "builder.cli", "serve", str(SPEC), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1
    assert "environment variable UPSTREAM_URL is not set (needed by api.base_url)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_provider_beyond_loopback_is_warned_loudly() -> None:
    connector = load_connector(str(SPEC))
    assert exposure_warning(connector, ServeOptions(host="127.0.0.1")) is None
    warning = exposure_warning(connector, ServeOptions(host="0.0.0.0", port=9000))
    assert warning is not None
    assert "ANYONE who can reach this address can call its 17 tools" in warning
    assert exposure_warning(connector, ServeOptions(host="0.0.0.0", transport="stdio")) is None
