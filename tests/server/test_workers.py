"""``serve --workers N`` and graceful shutdown, as real processes: one port, several
worker processes, metrics summed over them, in-flight calls finished on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from typer.testing import CliRunner

from builder.cli import app
from builder.state.crypto import generate_key
from builder.state.redis import RedisStore
from builder.state.store import Grant
from tests.auth.stack import SPEC as PROVIDER_SPEC
from tests.prometheus import samples
from tests.server.conftest import API_KEY, ASSETS
from tests.servers import free_port, running, wait_for_http
from tests.state.redis_server import RedisServer, redis_service
from tests.upstream import Upstream, upstream_app

__all__ = ["redis_service"]  # the fixture, imported for this module

pytestmark = pytest.mark.anyio
SPEC = ASSETS / "upstream.yaml"
PROVIDER_ENV = {
    "PROVIDER_AUTHORIZE_URL": "http://127.0.0.1:9/authorize",
    "PROVIDER_TOKEN_URL": "http://127.0.0.1:9/token",
    "NOTES_CLIENT_ID": "client",
    "NOTES_CLIENT_SECRET": "client-secret-value",
    "NOTES_URL": "http://127.0.0.1:9",
}


@dataclass
class Serving:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def serve(
    tmp_path: Path, spec: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Serving]:
    """``mcpbuild serve SPEC ARGS`` on a free port, its stderr in a file; stopped after."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MCPBUILD_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "builder.cli", "serve", str(spec), "--port", str(port), *args],
            env={**base_env, **(env or {})},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    serving = Serving(process, f"http://127.0.0.1:{port}", log)
    try:
        # Generous: each worker imports everything afresh, slow on a busy 2-core machine.
        await wait_for_http(f"{serving.base}/healthz", timeout=90)
        yield serving
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_pids(text: str) -> set[int]:
    """The processes that logged a tool call (workers tag their lines ``pid=``)."""
    return {int(m) for m in re.findall(r"mcpbuild\.tools tool call .*?\bpid=(\d+)", text)}


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


async def call_tool(url: str, name: str, arguments: dict[str, object]) -> str:
    """One tool call from a client of its own (its own connections), stateless."""
    async with Client(url, mode="2026-07-28") as client:
        # Listed first: after a call the client lists the tools it has not seen (for their
        # output schemas), a request a server shutting down would refuse.
        await client.list_tools()
        result = await client.call_tool(name, arguments)
    assert not result.is_error, result
    return result.content[0].text  # type: ignore[union-attr]


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, dict[str, str]]]:
    state = Upstream()
    async with running(upstream_app(state)) as url:
        yield state, {"UPSTREAM_URL": url, "TEST_API_KEY": API_KEY}


async def test_two_workers_share_a_port_and_metrics_sum_their_calls(
    tmp_path: Path, upstream: tuple[Upstream, dict[str, str]], redis_service: RedisServer
) -> None:
    _, env = upstream
    store = redis_service.url(prefix="workers-calls")
    args = ("--workers", "2", "--store", store, "--metrics")
    async with serve(tmp_path, SPEC, *args, env=env) as server:
        made = 0
        # Connections are spread by the kernel among the workers accepting on the socket:
        # call in rounds of 16 concurrent clients until both have answered (bounded).
        with anyio.fail_after(60):
            for _ in range(20):
                async with anyio.create_task_group() as tg:
                    for _ in range(16):
                        tg.start_soon(call_tool, f"{server.base}/mcp", "get_status", {"code": 200})
                made += 16
                if len(worker_pids(server.text())) >= 2:
                    break
        pids = worker_pids(server.text())
        assert len(pids) == 2, server.text()[-3000:]
        assert all(parent_of(pid) == server.process.pid for pid in pids)
        assert server.process.pid not in pids
        # Whichever worker answers /metrics, it counts every worker's calls.
        for _ in range(4):
            async with httpx.AsyncClient() as http:  # a new connection each time
                found = samples((await http.get(f"{server.base}/metrics")).text)
            assert found['mcpbuild_tool_calls_total{outcome="ok",tool="get_status"}'] == made
            assert found['mcpbuild_tool_call_seconds_count{tool="get_status"}'] == made
            assert found['mcpbuild_upstream_responses_total{status="200"}'] == made
    # The per-run folder of the workers' metric files is gone with the run.
    folders = re.findall(r"metrics_dir=(\S+)", server.text())
    assert len(folders) == 1
    assert not Path(folders[0]).exists()


async def test_active_grants_are_counted_in_the_shared_store(
    tmp_path: Path, redis_service: RedisServer
) -> None:
    url = redis_service.url(prefix="workers-grants")
    store = RedisStore.connect(url)
    try:
        for grant_id in ("g1", "g2", "g3"):
            await store.save_grant(Grant(grant_id, "client", [], "sealed", None, None))
        await store.end_grant("g2")
    finally:
        await store.close()
    env = {**PROVIDER_ENV, "MCPBUILD_SECRET_KEY": generate_key()}
    args = ("--workers", "2", "--store", url, "--metrics")
    async with serve(tmp_path, PROVIDER_SPEC, *args, env=env) as server:
        for _ in range(4):
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"{server.base}/metrics")).text
            assert samples(text)["mcpbuild_active_grants"] == 2
            assert "# TYPE mcpbuild_active_grants gauge" in text


def test_workers_with_the_sqlite_store_are_refused(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MCPBUILD_")},
        **PROVIDER_ENV,
        "MCPBUILD_SECRET_KEY": generate_key(),
    }
    result = subprocess.run(
        [sys.executable, "-m", "builder.cli", "serve", str(PROVIDER_SPEC), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--workers 2: the SQLite store is for one process" in lines[0]
    assert "use --store redis://" in lines[0]


@pytest.mark.parametrize(
    ("command", "extra", "message"),
    [
        ("serve", ["--transport", "stdio"], "--workers: stdio has one client"),
        ("dev", ["--store", "sqlite:///:memory:"], "--workers: `dev` reloads its spec"),
    ],
)
def test_workers_with_stdio_or_dev_is_a_usage_error(
    command: str, extra: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, [command, str(SPEC), "--workers", "2", *extra])
    assert result.exit_code == 2
    assert message in result.output


async def exited(process: subprocess.Popen[bytes], within: float) -> bool:
    """Whether the process ended as a stopped server does, within ``within`` seconds:
    status 0, or (one process) killed by the SIGTERM that uvicorn raises again once it has
    shut down, so that whoever sent it sees it obeyed."""
    with anyio.fail_after(within):
        while process.poll() is None:
            await anyio.sleep(0.02)
    return process.returncode in (0, -signal.SIGTERM)


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_sigterm_lets_the_call_in_flight_finish(
    tmp_path: Path,
    upstream: tuple[Upstream, dict[str, str]],
    redis_service: RedisServer,
    workers: str,
) -> None:
    state, env = upstream
    store = redis_service.url(prefix=f"workers-stop{workers}")
    args = ("--workers", workers, "--store", store, "--shutdown-timeout", "10")
    async with serve(tmp_path, SPEC, *args, env=env) as server:
        results: list[str] = []

        async def slow_call() -> None:
            results.append(await call_tool(f"{server.base}/mcp", "slow", {"seconds": 1.5}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            with anyio.fail_after(10):  # the call has reached the API: it is in flight
                while "/api/slow" not in [s.raw_path for s in state.seen]:
                    await anyio.sleep(0.01)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
        # The call got its answer, and the server was gone soon after: well inside the
        # bound, because nothing else was in flight.
        assert results == ['{"slow":true}']
        assert await exited(server.process, within=10)
        assert time.monotonic() - signalled < 10
        with pytest.raises(httpx.TransportError):
            async with httpx.AsyncClient() as http:
                await http.get(f"{server.base}/healthz")


async def test_a_call_longer_than_the_bound_is_cut_at_the_bound(
    tmp_path: Path, upstream: tuple[Upstream, dict[str, str]]
) -> None:
    state, env = upstream
    async with serve(tmp_path, SPEC, "--shutdown-timeout", "0", env=env) as server:
        failures: list[BaseException] = []

        async def slow_call() -> None:
            try:
                await call_tool(f"{server.base}/mcp", "slow", {"seconds": 1.9})
            except Exception as exc:  # the connection is cut: the client says so
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            with anyio.fail_after(10):
                while "/api/slow" not in [s.raw_path for s in state.seen]:
                    await anyio.sleep(0.01)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert await exited(server.process, within=10)
            # Gone before the upstream answered (1.9 s): it did not wait for the call.
            assert time.monotonic() - signalled < 1.9
        assert failures


async def legacy_calls(url: str, calls: int) -> int:
    """A 2025-11-25 client (several connections of its own) making ``calls`` tool calls."""
    async with Client(url, mode="legacy") as client:
        for _ in range(calls):
            result = await client.call_tool("get_status", {"code": 200})
            assert not result.is_error, result
    return calls


async def test_2025_11_25_clients_are_served_by_any_worker(
    tmp_path: Path, upstream: tuple[Upstream, dict[str, str]], redis_service: RedisServer
) -> None:
    """With sessions, a request on a connection the kernel gave another worker would meet a
    session that worker never saw (404); several workers serve these clients statelessly."""
    _, env = upstream
    args = ("--workers", "2", "--store", redis_service.url(prefix="workers-legacy"))
    async with serve(tmp_path, SPEC, *args, env=env) as server:
        done: list[int] = []

        async def one() -> None:
            done.append(await legacy_calls(f"{server.base}/mcp", 3))

        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                for _ in range(16):
                    tg.start_soon(one)
        assert sum(done) == 48
        assert len(worker_pids(server.text())) == 2, server.text()[-3000:]
