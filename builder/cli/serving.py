"""``mcpbuild serve``, ``dev``, ``login``, ``call``, ``keygen`` and ``demo``: running a
connector."""

from __future__ import annotations

import inspect
import os
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    pass

from builder.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    _ArgOption,
    _arguments_or_exit,
    _call_once,
    _JsonArgsOption,
    _load_or_exit,
    app,
)
from builder.routes import DEFAULT_LOGIN_PORT


class Transport(StrEnum):
    http = "http"
    stdio = "stdio"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def serve(
    file: Annotated[Path, typer.Argument(help="The connector spec to serve.")],
    host: Annotated[
        str, typer.Option(envvar="MCPBUILD_HOST", help="Address to listen on (http).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="MCPBUILD_PORT", help="Port (http).")] = 8000,
    transport: Annotated[
        Transport, typer.Option(envvar="MCPBUILD_TRANSPORT", help="http (streamable) or stdio.")
    ] = Transport.http,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only", envvar="MCPBUILD_READ_ONLY", help="Hide and refuse non-read-only tools."
        ),
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host", help="Another Host header to accept (behind a proxy); repeatable."
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="MCPBUILD_PUBLIC_URL",
            help="The origin clients and the provider see (default: http://HOST:PORT).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            envvar="MCPBUILD_STORE",
            help="Where grants live: sqlite:///PATH (default .mcpbuild/NAME.db), or "
            "redis://HOST:PORT/DB (rediss:// for TLS, ?prefix=NAME) shared by replicas.",
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev", envvar="MCPBUILD_DEV", help="Generate an encryption key file if none is set."
        ),
    ] = False,
    token_ttl: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_TOKEN_TTL", min=5, help="Seconds a client access token lives."
        ),
    ] = 900,
    refresh_idle: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_REFRESH_IDLE",
            min=60,
            help="Seconds a client refresh token lives unused (each refresh gives a new one).",
        ),
    ] = 30 * 24 * 3600,
    refresh_lifetime: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_REFRESH_LIFETIME",
            min=60,
            help="Seconds after sign-in past which no refresh token lives, however used.",
        ),
    ] = 365 * 24 * 3600,
    refresh_reuse_interval: Annotated[
        float,
        typer.Option(
            envvar="MCPBUILD_REFRESH_REUSE_INTERVAL",
            min=0,
            help="Seconds in which a rotated refresh token sent again by its client gets the "
            "same answer; later reuse is taken as theft and ends the grant.",
        ),
    ] = 30.0,
    dev_ca: Annotated[
        str | None,
        typer.Option(
            envvar="MCPBUILD_DEV_CA",
            help="With --dev on loopback: a CA file for client metadata documents served "
            "from this machine (https).",
        ),
    ] = None,
    sessions_per_user: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_SESSIONS_PER_USER",
            help="Open protocol sessions per user (per address without sign-in); one more "
            "closes that user's least recently used idle one.",
        ),
    ] = 8,
    max_sessions: Annotated[
        int,
        typer.Option(envvar="MCPBUILD_MAX_SESSIONS", help="Open protocol sessions in all."),
    ] = 1000,
    session_idle_timeout: Annotated[
        float,
        typer.Option(
            envvar="MCPBUILD_SESSION_IDLE_TIMEOUT",
            help="Seconds an idle protocol session stays open.",
        ),
    ] = 300.0,
    refresh_lock_ttl: Annotated[
        float,
        typer.Option(
            envvar="MCPBUILD_REFRESH_LOCK_TTL",
            min=1.0,
            help="Seconds one process may hold a grant's upstream refresh lock (shared "
            "stores): a crashed replica blocks that grant's refreshes at most this long. "
            "Keep it above the provider's token request timeout (15 s).",
        ),
    ] = 45.0,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics",
            envvar="MCPBUILD_METRICS",
            help="Serve Prometheus metrics at /metrics (tool calls, latency, upstream "
            "statuses, refreshes, registrations).",
        ),
    ] = False,
    inspector: Annotated[
        bool,
        typer.Option(
            "--inspector",
            envvar="MCPBUILD_INSPECTOR",
            help="Serve the inspector page at /inspector: sign in, call tools, watch both "
            "token layers and the upstream calls (for development; off by default).",
        ),
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option(envvar="MCPBUILD_LOG_FORMAT", help="Log lines as text or JSON.")
    ] = LogFormat.text,
    log_level: Annotated[
        str, typer.Option(envvar="MCPBUILD_LOG_LEVEL", help="debug, info, warning or error.")
    ] = "info",
    workers: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_WORKERS",
            min=1,
            help="Processes serving on the one port (http; about one per core). Over 1 needs "
            "--store redis://...",
        ),
    ] = 1,
    stateless: Annotated[
        bool,
        typer.Option(
            "--stateless",
            envvar="MCPBUILD_STATELESS",
            help="Serve 2025-11-25 clients without protocol sessions, so that any replica or "
            "worker answers any request (implied by --workers over 1).",
        ),
    ] = False,
    shutdown_timeout: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_SHUTDOWN_TIMEOUT",
            min=0,
            help="On SIGTERM: seconds the tool calls in flight have to finish before they "
            "are cancelled and the process exits.",
        ),
    ] = 20,
) -> None:
    """Serve a connector as an MCP server (streamable HTTP at /mcp, or stdio)."""
    _serve(SimpleNamespace(**locals()), development=False)


def dev(**options: Any) -> None:
    """Serve a connector for development, and swap in its spec on every save.

    Loopback, a generated key (--dev), grants in <folder>/.mcpbuild/state.db and the
    /inspector page; it watches the spec and its view templates, re-validates on save and
    serves the new spec without a restart (grants and sessions are kept; connected clients
    get notifications/tools/list_changed). An invalid save keeps the last good spec.
    Takes every `serve` option.
    """
    _serve(SimpleNamespace(**options), development=True)


def _dev_signature() -> inspect.Signature:
    """``serve``'s options, written once: ``dev`` takes the same, with its own defaults."""
    signature = inspect.signature(serve, eval_str=True)
    store = signature.parameters["store"].replace(
        annotation=Annotated[
            str | None,
            typer.Option(
                envvar="MCPBUILD_STORE",
                help="Where grants live (default: sqlite in .mcpbuild/state.db next to the "
                "spec, git-ignored), or any `serve --store` URL.",
            ),
        ]
    )
    return signature.replace(
        parameters=[store if p.name == "store" else p for p in signature.parameters.values()]
    )


dev.__signature__ = _dev_signature()  # type: ignore[attr-defined]
app.command()(dev)


def _serve(a: SimpleNamespace, *, development: bool) -> None:
    """``serve`` and ``dev``: ``a`` holds ``serve``'s parameters by name."""
    from builder.auth.server import Lifetimes
    from builder.errors import ConfigError
    from builder.server.logs import configure_logging
    from builder.server.serve import ServeOptions, open_connector, run_http, run_stdio
    from builder.server.sessions import SessionLimits

    file: Path = a.file
    if a.log_level.lower() not in ("debug", "info", "warning", "error"):
        typer.echo(
            f"--log-level: expected debug, info, warning or error, got {a.log_level!r}", err=True
        )
        raise typer.Exit(EXIT_USAGE)
    if development and a.transport is Transport.stdio:
        typer.echo(
            "--transport stdio: `dev` serves over http (the inspector and reloads need it); "
            "use `serve --transport stdio`",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    store = a.store
    if development and store is None:
        from builder.server.dev import dev_store_url

        store = dev_store_url(file.resolve().parent)
    try:
        options = ServeOptions(
            host=a.host,
            port=a.port,
            transport=a.transport.value,
            read_only=a.read_only,
            allow_hosts=tuple(a.allow_host or ()),
            public_url=a.public_url,
            store=store,
            dev=a.dev or development,
            lifetimes=Lifetimes(
                access_token=a.token_ttl,
                refresh_idle=a.refresh_idle,
                refresh_absolute=a.refresh_lifetime,
                refresh_reuse=a.refresh_reuse_interval,
            ),
            dev_ca=a.dev_ca,
            sessions=SessionLimits(a.sessions_per_user, a.max_sessions, a.session_idle_timeout),
            refresh_lock_ttl=a.refresh_lock_ttl,
            metrics=a.metrics,
            folder=file.resolve().parent,
            inspector=a.inspector or development,
            reloadable=development,
            workers=a.workers,
            stateless=a.stateless,
            shutdown_timeout=a.shutdown_timeout,
        )
    except ConfigError as exc:
        typer.echo(f"{exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    # After the options are known good: a usage error leaves the process's logging alone.
    configure_logging(a.log_level, a.log_format.value)
    connector = _load_or_exit(file)
    try:
        served = open_connector(connector, options)
    except ConfigError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if a.transport is Transport.stdio:
        import anyio

        try:
            anyio.run(run_stdio, served)
        except ConfigError as exc:
            typer.echo(f"{file}: {exc}", err=True)
            raise typer.Exit(EXIT_INVALID) from None
    else:
        if development:
            from builder.server.dev import SpecWatcher

            served.background.append(SpecWatcher(file, served, options, connector=connector).run)
        from builder.server.workers import WorkerStart

        start = WorkerStart(file.resolve(), a.log_level, a.log_format.value)
        run_http(served, options, start if options.workers > 1 else None)


@app.command()
def login(
    file: Annotated[Path, typer.Argument(help="The connector spec to sign in to.")],
    port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="Loopback port of the redirect URI http://127.0.0.1:PORT/oauth/callback "
            "(register it with the provider; 0: any free port, for tests).",
        ),
    ] = DEFAULT_LOGIN_PORT,
    store: Annotated[
        str | None, typer.Option(envvar="MCPBUILD_STORE", help="sqlite:///PATH for the grant.")
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL to open.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 300.0,
) -> None:
    """Sign in to the connector's provider in a browser and store the grant locally, for
    `serve --transport stdio` and `call`."""
    import anyio

    from builder.errors import ConfigError
    from builder.provider.login import default_opener, state_store_url
    from builder.provider.login import login as run_login

    connector = _load_or_exit(file)
    try:
        scopes = anyio.run(
            lambda: run_login(
                connector,
                os.environ,
                store_url=state_store_url(connector, store),
                port=port,
                open_browser=None if no_browser else default_opener,
                timeout=timeout,
            )
        )
    except ConfigError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"signed in to {connector.title or connector.name} (scopes: {' '.join(scopes)})")


@app.command()
def call(
    file: Annotated[Path, typer.Argument(help="The connector spec.")],
    tool: Annotated[str, typer.Argument(help="The tool to call.")],
    arg: _ArgOption = None,
    json_args: _JsonArgsOption = None,
    store: Annotated[
        str | None, typer.Option(envvar="MCPBUILD_STORE", help="sqlite:///PATH of the grant.")
    ] = None,
) -> None:
    """Call one tool from the shell (as the signed-in user, for a connector with a provider)
    and print its result; exit 1 when the tool reports an error."""
    import anyio

    from builder.errors import ConfigError

    connector = _load_or_exit(file)
    arguments = _arguments_or_exit(file, connector, tool, arg, json_args)
    try:
        text, is_error = anyio.run(_call_once, connector, tool, arguments, store)
    except ConfigError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(text)
    if is_error:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def keygen() -> None:
    """Print a new MCPBUILD_SECRET_KEY (32 random bytes, URL-safe base64)."""
    from builder.state.crypto import generate_key

    typer.echo(generate_key())


@app.command()
def demo(
    host: Annotated[
        str, typer.Option(help="Address mcpbuild listens on (loopback only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="mcpbuild's port.")] = 8000,
    notes_port: Annotated[
        int, typer.Option(min=0, max=65535, help="The demo notes service's port.")
    ] = 9470,
    state_dir: Annotated[
        Path, typer.Option(help="Where mcpbuild's store and its generated key live.")
    ] = Path(".mcpbuild") / "demo",
) -> None:
    """Run the embedded default: a local notes service with its own OAuth server, and
    connectors/demo/connector.yaml served against it. No accounts, no internet; Ctrl-C stops it."""
    from builder.demo.run import DemoError, DemoOptions, run_demo
    from builder.server.logs import configure_logging

    configure_logging("info", "text")
    options = DemoOptions(host=host, port=port, notes_port=notes_port, state_dir=state_dir)
    try:
        run_demo(options)
    except DemoError as exc:
        typer.echo(f"mcpbuild demo: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except KeyboardInterrupt:  # Ctrl-C before the servers took over the signal
        raise typer.Exit(0) from None
