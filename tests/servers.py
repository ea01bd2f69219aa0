"""Real servers on 127.0.0.1 for tests: started on a free port, awaited until ready."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import uvicorn


def bound_socket(port: int = 0) -> socket.socket:
    """A socket bound on 127.0.0.1 (a free port unless given), so the URL is known first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
