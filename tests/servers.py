"""Real servers on 127.0.0.1 for tests: started on a free port, awaited until ready."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn


def bound_socket(port: int = 0) -> socket.socket:
    """A socket bound on 127.0.0.1 (a free port unless given), so the URL is known first.

    A free port is taken below the kernel's ephemeral range: a test that restarts a server
    on the same port must not find it taken meanwhile as the local port of some outgoing
    connection (bind would pass with SO_REUSEADDR, and listen fail with EADDRINUSE).
    """
    if port:
        return _bind(port)
    low = _ephemeral_low()
    for _ in range(200):
        candidate = random.randrange(max(1024, low - 12000), low)
        try:
            return _bind(candidate)
        except OSError:
            continue
    raise RuntimeError("no free port below the ephemeral range after 200 tries")


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it a small answer written in two parts
    # waits ~40 ms for a delayed ACK, on every request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
        # Listening at once, so a connected socket on this port shows up here, not later.
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@contextlib.asynccontextmanager
async def running(
    app: Any,
    *,
    ready_path: str = "/healthz",
    timeout: float = 10.0,
    sock: socket.socket | None = None,
) -> AsyncIterator[str]:
    """Run ASGI ``app`` under uvicorn in this event loop; yield ``http://127.0.0.1:PORT``."""
    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2
        )
    )
    base = f"http://127.0.0.1:{port}"
    stopped = anyio.Event()

    async def serve() -> None:
        try:
            await server.serve([sock])
        finally:
            stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        try:
            with anyio.fail_after(timeout):
                async with httpx.AsyncClient() as client:
                    while True:
                        if stopped.is_set():
                            raise RuntimeError("server exited during start-up")
                        with contextlib.suppress(httpx.TransportError):
                            if (
                                server.started
                                and (await client.get(base + ready_path)).status_code == 200
                            ):
                                break
                        await anyio.sleep(0.01)
            yield base
        finally:
            server.should_exit = True
            with anyio.move_on_after(5, shield=True):
                await stopped.wait()
            if not stopped.is_set():
                server.force_exit = True
                tg.cancel_scope.cancel()
    sock.close()


async def wait_for_http(url: str, *, timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers 200 (for servers in another process)."""
    with anyio.fail_after(timeout):
        async with httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(url)).status_code == 200:
                        return
                await anyio.sleep(0.05)


def free_port() -> int:
    """A port free now, below the ephemeral range (see :func:`bound_socket`)."""
    with bound_socket() as sock:
        return int(sock.getsockname()[1])
