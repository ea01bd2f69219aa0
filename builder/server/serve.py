"""``mcpbuild serve``: a validated connector as a running MCP server."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import logging
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio
import httpx
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from builder.auth.cimd import ClientMetadataFetcher
from builder.auth.limits import AuthLimits
from builder.auth.server import Lifetimes
from builder.auth.setup import OAuth, redirect_uri_for
from builder.connector.checks import is_loopback_host
from builder.connector.models import Connector
from builder.connector.resolved import resolve_connector
from builder.errors import ConfigError
from builder.inspector import Inspector, SignInProblems
from builder.provider.grants import REFRESH_LOCK_TTL, GrantCredentials
from builder.provider.login import LocalGrant, state_store_url
from builder.routes import MCP_PATH, METRICS_PATH, READY_PATH
from builder.server.gc_tuning import tune_for_serving
from builder.server.handlers import CallerFor, Generation, LiveTools, build_server
from builder.server.http import MAX_BODY_BYTES, build_app, transport_security
from builder.server.live import ListChanges
from builder.server.operations import Check, Metrics, Readiness, reachable
from builder.server.sessions import DEFAULT_SESSION_LIMITS, SessionLimits
from builder.server.snippets import client_snippets
from builder.state import dev_key_folder, open_store
from builder.state.crypto import Cipher, load_or_create_dev_key
from builder.state.store import Store
from builder.tools.call import Caller, ToolRunner
from builder.tools.redact import Redactor
from builder.tools.tracing import Tracing
from builder.tools.transport import AiohttpUpstream, UpstreamClient
from builder.views import ViewCatalog

if TYPE_CHECKING:
    from builder.server.workers import WorkerStart

__all__ = ["ServeOptions", "Served", "open_connector", "run_http", "run_stdio"]

logger = logging.getLogger("mcpbuild.serve")


@dataclass(frozen=True)
class ServeOptions:
    """How a connector is served; each option also has an ``MCPBUILD_*`` variable."""

    host: str = "127.0.0.1"
    port: int = 8000
    transport: Literal["http", "stdio"] = "http"
    read_only: bool = False
    allow_hosts: Sequence[str] = field(default_factory=tuple)
    max_body_bytes: int = MAX_BODY_BYTES
    public_url: str | None = None
    store: str | None = None
    dev: bool = False
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    """Client tokens' lifetimes and the windows in which a repeated use is forgiven."""
    auth_limits: AuthLimits = field(default_factory=AuthLimits)
    dev_ca: str | None = None
    """With ``dev`` on loopback: a CA file to verify local metadata documents' TLS with."""
    sessions: SessionLimits = DEFAULT_SESSION_LIMITS
    refresh_lock_ttl: float = REFRESH_LOCK_TTL
    """Seconds a process may hold a grant's cross-process refresh lock: how long a crashed
    refresher blocks that grant's refreshes elsewhere."""
    metrics: bool = False
    """Serve Prometheus metrics at ``/metrics`` (off: tool names and counts are not public)."""
    folder: Path | None = None
    """The connector's folder, where its view templates are."""
    inspector: bool = False
    """Serve the inspector page at ``/inspector`` (``dev`` turns it on; never by default)."""
    reloadable: bool = False
    """The spec may be swapped while serving (``dev``): the server declares ``listChanged``
    and tells clients of each change (:mod:`builder.server.live`)."""
    workers: int = 1
    """Processes accepting on the port (:mod:`builder.server.workers`); over one needs a
    shared store."""
    shutdown_timeout: int = 20
    """On SIGTERM: seconds the calls in flight have to finish before they are cancelled."""
    stateless: bool = False
    """Serve 2025-11-25 clients without protocol sessions, so any process can answer any of
    their requests (replicas without a sticky load balancer); implied by ``workers`` > 1."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers: expected 1 or more, got {self.workers}")
        if self.workers > 1 and self.transport == "stdio":
            raise ConfigError("--workers: stdio has one client on one pipe; serve it with one")
        if self.workers > 1 and self.reloadable:
            raise ConfigError("--workers: `dev` reloads its spec in one process; use `serve`")
        if (self.stateless or self.workers > 1) and (self.reloadable or self.inspector):
            raise ConfigError(
                "--stateless (and --workers over 1): `dev` and the inspector tell their "
                "clients of changes on a 2025-11-25 session; serve them with sessions"
            )
        if self.shutdown_timeout < 0:
            raise ConfigError(
                f"--shutdown-timeout: expected 0 or more, got {self.shutdown_timeout}"
            )

    @property
    def origin(self) -> str:
        """What clients and the provider see: ``--public-url``, else the bound address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return f"http://{_url_host(host)}:{self.port}"


@dataclass
class Served:
    """A connector ready to serve: the tool runner, the MCP server, and the upstream client."""

    runner: ToolRunner
    server: Server[Any]
    client: UpstreamClient
    oauth: OAuth | None = None
    local: LocalGrant | None = None
    metrics: Metrics | None = None
    live: LiveTools | None = None
    """With ``reloadable``: the generation being served, which a reload swaps."""
    changes: ListChanges | None = None
    """With ``reloadable``: who to tell when the lists change."""
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    """Tasks run while the HTTP app runs (``dev``'s file watcher), cancelled at shutdown."""
    inspector: Inspector | None = None
    """With ``ServeOptions.inspector``: the page at /inspector and what it observes."""

    def readiness(self) -> Readiness:
        """``/readyz``: the store answers, and the provider's token endpoint is reachable."""
        checks: dict[str, Check] = {}
        if self.oauth is not None:
            store = self.oauth.server.store

            async def store_answers() -> None:
                await store.get_client("mcpbuild-readiness-probe")

            checks["store"] = store_answers
            checks["provider"] = reachable(self.oauth.upstream.token_url)
        return Readiness(checks)

    def http_app(self, options: ServeOptions) -> Starlette:
        """The streamable HTTP app; closing it (lifespan shutdown) closes the upstream client."""
        oauth = self.oauth
        extra_hosts = list(options.allow_hosts)
        if options.public_url:
            extra_hosts.append(urlsplit(options.public_url).netloc)

        inspector = self.inspector

        def gate(endpoint: ASGIApp) -> ASGIApp:
            assert oauth is not None
            gated = oauth.gate(endpoint, max_body_bytes=options.max_body_bytes)
            return inspector.tap(gated) if inspector is not None else gated

        app = build_app(
            self.server,
            security=transport_security(options.host, extra_hosts),
            max_body_bytes=options.max_body_bytes,
            extra_routes=[
                *(oauth.routes(options.auth_limits) if oauth else ()),
                *self._routes(),
                *(inspector.routes() if inspector is not None else ()),
            ],
            sessions=options.sessions,
            stateless=options.stateless or options.workers > 1,
            wrap_mcp=gate if oauth else None,
        )
        inner = app.router.lifespan_context
        changes = self.changes
        if changes is not None:
            changes.is_open = app.state.sessions.is_open

        @contextlib.asynccontextmanager
        async def lifespan(app_: Starlette) -> AsyncIterator[Any]:
            async with inner(app_) as state, anyio.create_task_group() as tg:
                if oauth is not None:
                    tg.start_soon(_cleanup_forever, oauth.server.store)
                for task in self.background:
                    tg.start_soon(task)
                try:
                    yield state
                finally:
                    tg.cancel_scope.cancel()
                    if changes is not None:
                        changes.close()
                    if inspector is not None:
                        inspector.close()
                    # Shielded: inside the cancelled task group, these awaits would be
                    # cancelled too, and the store (a Redis connection) never closed.
                    with anyio.CancelScope(shield=True):
                        await self.client.aclose()
                        if oauth is not None:
                            await oauth.server.store.close()

        app.router.lifespan_context = lifespan
        return app

    def _routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route(READY_PATH, self.readiness().endpoint, methods=["GET"])]
        if self.metrics is not None:
            routes.append(Route(METRICS_PATH, self.metrics.endpoint, methods=["GET"]))
        return routes


def open_connector(
    connector: Connector,
    options: ServeOptions,
    environ: Mapping[str, str] | None = None,
    client: UpstreamClient | None = None,
    *,
    provider_transport: httpx.AsyncBaseTransport | None = None,
) -> Served:
    """Resolve the spec once (:func:`resolve_connector`) and build everything a server
    needs from that one object.

    A connector with a provider, served over HTTP, gets the OAuth parts: the store
    (``--store``), the encryption key (``MCPBUILD_SECRET_KEY``, or a generated file with
    ``--dev``) and the authorization server at ``--public-url``.
    """
    env = os.environ if environ is None else environ
    resolved = resolve_connector(connector, env, read_only=options.read_only)
    oauth: OAuth | None = None
    local: LocalGrant | None = None
    caller_for: CallerFor | None = None
    inspector = (
        Inspector(Redactor(resolved.secrets))
        if options.inspector and options.transport == "http"
        else None
    )
    if resolved.provider is not None and options.transport == "stdio":
        # One person on their own machine: the grant `mcpbuild login` stored.
        local = LocalGrant(
            resolved, env, state_store_url(connector, options.store), "http://127.0.0.1/"
        )
        local_caller = Caller(GrantCredentials(local.grants, local.grant_id))
        caller_for = lambda ctx: local_caller  # noqa: E731
    elif resolved.provider is not None:
        store_url = state_store_url(connector, options.store)
        if options.workers > 1 and store_url.startswith("sqlite:"):
            # Its token and grant caches and its refresh lock are one process's.
            raise ConfigError(
                f"--workers {options.workers}: the SQLite store is for one process; "
                "use --store redis://HOST:PORT/DB to serve from several"
            )
        store = open_store(store_url)
        cipher = Cipher(_secret_key(env, options, store_url))
        oauth = OAuth.create(
            resolved,
            public_url=options.origin,
            store=store,
            cipher=cipher,
            lifetimes=options.lifetimes,
            upstream_transport=inspector.provider_transport(provider_transport)
            if inspector is not None
            else provider_transport,
            metadata_fetcher=_metadata_fetcher(options),
            refresh_lock_ttl=options.refresh_lock_ttl,
        )
        caller_for = oauth.caller_for
        # Sign-ins that fail at the callback are explained in the log (and the inspector).
        problems = SignInProblems(redirect_uri_for(options.origin))
        oauth.consent.on_problem = problems
        if inspector is not None:
            inspector.attach(oauth, problems)
    upstream = client or AiohttpUpstream()
    if inspector is not None:
        upstream = inspector.upstream(upstream)
    metrics = Metrics() if options.metrics else None
    if metrics is not None and oauth is not None:
        metrics.active_grants.count = oauth.server.store.count_active_grants
    tracing = Tracing.from_env(env)  # OTEL_* variables; None (no cost) unless they ask
    runner = ToolRunner(
        resolved,
        upstream,
        on_call=metrics.tool_call if metrics else None,
        tracing=tracing,
        handle_key=_handle_key(env),
    )
    if metrics is not None and oauth is not None:
        oauth.grants.on_refresh = metrics.refresh
        oauth.server.on_register = metrics.registration
    views = ViewCatalog(resolved, options.folder)
    if not options.reloadable:
        server = build_server(runner, caller_for=caller_for, views=views, tracing=tracing)
        served = Served(runner, server, upstream, oauth, local, metrics)
        served.inspector = inspector
        return served
    live = LiveTools(Generation.of(runner, views))
    server = build_server(live, caller_for=caller_for, tracing=tracing)
    changes = ListChanges(max_sessions=options.sessions.max_sessions)
    changes.install(server)
    served = Served(runner, server, upstream, oauth, local, metrics, live, changes)
    served.inspector = inspector
    return served


def _metadata_fetcher(options: ServeOptions) -> ClientMetadataFetcher:
    """Client ID metadata documents come from public https hosts only, except with
    ``--dev`` on a loopback address, where documents served from this machine are
    accepted too (for a client developed locally), verified with ``--dev-ca`` if given."""
    local = options.dev and is_loopback_host(options.host)
    if options.dev_ca is not None and not local:
        raise ConfigError("--dev-ca: only with --dev on a loopback --host")
    if not local:
        return ClientMetadataFetcher()
    verify: ssl.SSLContext | bool = True
    if options.dev_ca is not None:
        try:
            verify = ssl.create_default_context(cafile=options.dev_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"--dev-ca: expected a PEM CA file, could not load {options.dev_ca} "
                f"({type(exc).__name__})"
            ) from None
    return ClientMetadataFetcher(allow_loopback=True, verify=verify)


def _handle_key(env: Mapping[str, str]) -> bytes | None:
    """The key that signs next-page handles: from ``MCPBUILD_SECRET_KEY`` when set, so a
    handle one process or replica gave is honoured by every other; else one per process."""
    secret = env.get("MCPBUILD_SECRET_KEY")
    if not secret:
        return None
    return hmac.new(secret.encode(), b"mcpbuild next-page handles", hashlib.sha256).digest()


def _secret_key(env: Mapping[str, str], options: ServeOptions, store_url: str) -> str:
    key = env.get("MCPBUILD_SECRET_KEY")
    if key:
        return key
    if not options.dev:
        raise ConfigError(
            "MCPBUILD_SECRET_KEY is not set: it encrypts the users' upstream tokens. "
            "Create one with `mcpbuild keygen` and export it, or pass --dev for local testing"
        )
    folder = dev_key_folder(store_url)
    key, created = load_or_create_dev_key(folder / "secret.key")
    if created:
        print(
            f"--dev: generated an encryption key in {folder / 'secret.key'} (mode 0600); "
            "set MCPBUILD_SECRET_KEY in production",
            file=sys.stderr,
        )
    return key


async def _cleanup_forever(store: Store, every: float = 600.0) -> None:
    """Delete expired codes, tokens and pending sign-ins now and then."""
    while True:
        removed = await store.cleanup(time.time())
        if removed:
            logger.info("expired state removed", extra={"rows": removed})
        await anyio.sleep(every)


def exposure_warning(connector: Connector, options: ServeOptions) -> str | None:
    """The loud warning for a connector without sign-in reachable beyond this machine."""
    if connector.provider is not None or options.transport != "http":
        return None
    if is_loopback_host(options.host):
        return None
    return (
        f"WARNING: connector '{connector.name}' has no provider (no sign-in) and is listening on "
        f"{options.host}:{options.port}: ANYONE who can reach this address can call its "
        f"{len(connector.tools)} tools. Bind to 127.0.0.1 or add a provider."
    )


def run_http(
    served: Served, options: ServeOptions, worker_start: WorkerStart | None = None
) -> None:
    """Serve over streamable HTTP until SIGTERM/SIGINT; with ``options.workers`` over one,
    in that many processes, each starting from ``worker_start``."""
    connector = served.runner.connector
    warning = exposure_warning(connector.spec, options)
    if warning:
        print(warning, file=sys.stderr)
        logger.warning(warning)
    settings: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "access_log": False,
        "server_header": False,
        "log_config": None,
        "lifespan": "on",
        "timeout_graceful_shutdown": options.shutdown_timeout,
    }
    logger.info(
        "serving",
        extra={
            "connector": connector.name,
            "tools": len(served.runner.tools),
            "url": f"{options.origin}{MCP_PATH}",
        },
    )
    print(f"mcpbuild: serving '{connector.name}' at {options.origin}{MCP_PATH}", file=sys.stderr)
    if served.oauth is not None:
        print(
            "mcpbuild: register this redirect URI with the provider: "
            f"{redirect_uri_for(options.origin)}",
            file=sys.stderr,
        )
        if not options.origin.startswith("https://") and not is_loopback_host(
            urlsplit(options.origin).hostname or ""
        ):
            print(
                "WARNING: --public-url is not https: tokens and codes would cross the network "
                "in clear text",
                file=sys.stderr,
            )
    print(client_snippets(connector.name, f"{options.origin}{MCP_PATH}"), file=sys.stderr)
    if options.workers > 1:
        from builder.server.workers import run_workers

        if worker_start is None:
            raise ValueError("run_http: --workers over one needs worker_start (the spec file)")
        run_workers(options, worker_start, settings)
        return
    app = served.http_app(options)
    tune_for_serving()  # after loading, before the first request
    uvicorn.Server(uvicorn.Config(app, **settings)).run()


async def run_stdio(served: Served) -> None:
    """Serve over stdin/stdout; stdout carries nothing but the protocol."""
    if served.local is not None:
        await served.local.credentials()  # not signed in: say so now, not at the first call
    try:
        async with stdio_server() as (read_stream, write_stream):
            await served.server.run(
                read_stream, write_stream, served.server.create_initialization_options()
            )
    finally:
        with anyio.CancelScope(shield=True):
            await served.client.aclose()
            if served.local is not None:
                await served.local.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
