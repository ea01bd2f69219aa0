"""``mcpbuild demo``: the demo notes service and ``mcpbuild serve`` of
``connectors/demo/connector.yaml`` in one process: two uvicorn servers in one event loop,
on loopback only, until Ctrl-C.

The spec's ``${VAR}``s are handed to :func:`~builder.server.serve.open_connector` as a
mapping (``os.environ`` is left alone); mcpbuild's store and its ``--dev`` encryption key
live in the state folder, with the notes service's client credentials (so a grant from an
earlier run ends cleanly, with ``invalid_grant``, instead of failing on an unknown client).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
import uvicorn

import builder
from builder.auth.setup import redirect_uri_for
from builder.connector.checks import is_loopback_host
from builder.connector.load import load_connector
from builder.connector.models import Connector
from builder.demo.service import DemoConfig, NotesService
from builder.errors import ConfigError, DemoError, SpecError
from builder.server.serve import Served, ServeOptions, open_connector

# DemoError is defined in builder.errors, with the rest of the tree; re-exported here.
__all__ = ["DemoError", "DemoOptions", "demo_spec_path", "run_demo"]

logger = logging.getLogger("mcpbuild.demo")

NOTES_HOST = "127.0.0.1"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class DemoOptions:
    """The ``mcpbuild demo`` options."""

    host: str = "127.0.0.1"
    port: int = 8000
    notes_port: int = 9470
    state_dir: Path = field(default_factory=lambda: Path(".mcpbuild") / "demo")
    access_token_ttl: int = 3600


def demo_spec_path() -> Path:
    """``connectors/demo/connector.yaml`` of a source checkout, else the copy shipped in
    ``builder/data``."""
    package = Path(builder.__file__).resolve().parent
    checkout = package.parent / "connectors" / "demo" / "connector.yaml"
    return checkout if checkout.is_file() else package / "data" / "demo.yaml"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: two servers share one loop and one Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class _Demo:
    connector: Connector
    served: Served
    serve_options: ServeOptions
    service: NotesService
    sockets: list[socket.socket]
    state_dir: Path

    @property
    def mcp_url(self) -> str:
        return self.serve_options.origin + "/mcp"

    @property
    def notes_url(self) -> str:
        return f"http://{NOTES_HOST}:{self.sockets[1].getsockname()[1]}"


def run_demo(options: DemoOptions, out: TextIO | None = None) -> None:
    """Run the demo until SIGINT/SIGTERM; raises :class:`DemoError` on a start-up problem."""
    demo = _prepare(options)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # two servers' start-up chatter
    try:
        anyio.run(_serve, demo, out or sys.stdout)
    finally:
        for sock in demo.sockets:
            sock.close()


def _prepare(options: DemoOptions) -> _Demo:
    if not is_loopback_host(options.host):
        raise DemoError(f"--host: the demo listens on this machine only, got {options.host!r}")
    spec = demo_spec_path()
    try:
        connector = load_connector(str(spec))
    except SpecError as exc:
        raise DemoError("\n".join(i.render() for i in exc.issues)) from None
    try:
        options.state_dir.mkdir(parents=True, exist_ok=True)
        client_id, client_secret = _client_credentials(options.state_dir / "notes-client.json")
    except OSError as exc:
        raise DemoError(f"--state-dir {options.state_dir}: {exc.strerror or exc}") from None
    sockets = [_bind(options.host, options.port, "--port")]
    try:
        sockets.append(_bind(NOTES_HOST, options.notes_port, "--notes-port"))
        origin = f"http://{_url_host(options.host)}:{sockets[0].getsockname()[1]}"
        notes_url = f"http://{NOTES_HOST}:{sockets[1].getsockname()[1]}"
        service = NotesService(
            DemoConfig(
                redirect_uri=redirect_uri_for(origin),
                client_id=client_id,
                client_secret=client_secret,
                access_token_ttl=options.access_token_ttl,
            )
        )
        serve_options = ServeOptions(
            host=options.host,
            port=sockets[0].getsockname()[1],
            public_url=origin,
            store=f"sqlite:///{options.state_dir / 'mcpbuild.db'}",
            dev=True,
        )
        environ = {
            "MCPBUILD_DEMO_URL": notes_url,
            "DEMO_CLIENT_ID": client_id,
            "DEMO_CLIENT_SECRET": client_secret,
        }
        served = open_connector(connector, serve_options, environ)
    except (ConfigError, DemoError) as exc:
        for sock in sockets:
            sock.close()
        raise DemoError(str(exc)) from None
    return _Demo(connector, served, serve_options, service, sockets, options.state_dir)


def _client_credentials(path: Path) -> tuple[str, str]:
    """mcpbuild's client id and secret at the notes service: generated once, kept (0600)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        saved = json.loads(path.read_text(encoding="utf-8"))
        return str(saved["client_id"]), str(saved["client_secret"])
    client_id, client_secret = "mcpbuild-demo-" + secrets.token_hex(4), secrets.token_urlsafe(32)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"client_id": client_id, "client_secret": client_secret}, fh)
    return client_id, client_secret


def _bind(host: str, port: int, option: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise DemoError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another {option}"
        ) from None
    return sock


def _url_host(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        # An MCP client's open event stream must not hold up Ctrl-C for long.
        timeout_graceful_shutdown=3,
    )


async def _serve(demo: _Demo, out: TextIO) -> None:
    servers = [
        _Server(_config(demo.served.http_app(demo.serve_options))),
        _Server(_config(demo.service.app())),
    ]
    stopped: list[_Server] = []
    failed: list[str] = []

    async def serve(server: _Server, sock: socket.socket, name: str) -> None:
        try:
            await server.serve([sock])
        except SystemExit:  # uvicorn's answer to a failed start-up
            failed.append(name)
        finally:
            stopped.append(server)
            for other in servers:  # one stopping stops both
                other.should_exit = True

    async with anyio.create_task_group() as outer:
        outer.start_soon(_stop_on_signals, servers)
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve, servers[0], demo.sockets[0], "mcpbuild")
            tg.start_soon(serve, servers[1], demo.sockets[1], "the notes service")
            if await _ready(demo, servers, stopped):
                text = banner(demo.connector, demo.mcp_url, demo.notes_url, demo.state_dir)
                print(text, file=out, flush=True)
            else:
                for server in servers:
                    server.should_exit = True
        outer.cancel_scope.cancel()
    if failed:
        raise DemoError(f"{' and '.join(failed)} failed to start; see the log above")
    print("mcpbuild demo: stopped", file=sys.stderr)


async def _ready(demo: _Demo, servers: list[_Server], stopped: list[_Server]) -> bool:
    """Both servers started and answering ``/healthz``; False when one stopped first."""
    urls = [demo.serve_options.origin + "/healthz", demo.notes_url + "/healthz"]
    with anyio.move_on_after(START_TIMEOUT):
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            while not stopped:
                if all(s.started for s in servers):
                    with contextlib.suppress(httpx.TransportError):
                        answers = [await http.get(url) for url in urls]
                        if all(a.status_code == 200 for a in answers):
                            return True
                await anyio.sleep(0.02)
        return False
    logger.error("the demo did not start in time", extra={"seconds": START_TIMEOUT})
    return False


async def _stop_on_signals(servers: list[_Server]) -> None:
    """Ctrl-C (or SIGTERM) stops both servers gracefully; a second one forces it."""
    try:
        receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
    except NotImplementedError:  # pragma: no cover - no loop signal handlers (Windows)
        return
    with receiver as signals:
        async for _ in signals:
            force = all(s.should_exit for s in servers)
            for server in servers:
                server.should_exit = True
                server.force_exit = server.force_exit or force


def banner(connector: Connector, mcp_url: str, notes_url: str, state_dir: Path) -> str:
    """What ``mcpbuild demo`` prints once both servers answer."""
    tools = ", ".join(t.name for t in connector.tools)
    title = connector.title or connector.name
    return f"""
mcpbuild demo is running: '{title}' as an OAuth-protected MCP server, on this machine only.

  MCP server URL (add this in your MCP client):  {mcp_url}

  Demo notes service (its own OAuth 2.0 server and notes API):  {notes_url}

When an MCP client connects:
  1. It registers with mcpbuild and opens mcpbuild's consent page in your browser:
     approve '{title}' for it.
  2. mcpbuild sends you to the demo notes service: "Sign in to Demo notes as: demo-user".
     No password, it is a local demo; any other name gets its own notes.
  3. The client gets the tools {tools};
     they call the notes API with your token from the notes service, never the client's.

Try it with the MCP Inspector (needs Node.js):
  npx @modelcontextprotocol/inspector
  then Transport Type: Streamable HTTP, URL: {mcp_url}, and Connect.

State (mcpbuild's grants, its encryption key): {state_dir}
Press Ctrl-C to stop.
""".strip("\n")
