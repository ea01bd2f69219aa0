"""Sign-in for one person on their own machine: ``mcpbuild login`` stores a grant that
``serve --transport stdio`` and ``mcpbuild call`` then use.

The provider redirects to a loopback listener (RFC 8252 §7.3), so no public URL is
needed; the grant is stored encrypted like any other, under a fixed id per connector.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from builder.connector.models import Connector
from builder.connector.resolved import ResolvedConnector, resolve_connector
from builder.errors import ConfigError
from builder.pages import render_page
from builder.provider.client import ProviderError, UpstreamOAuth
from builder.provider.grants import GrantCredentials, GrantManager
from builder.routes import CALLBACK_PATH, DEFAULT_LOGIN_PORT, login_redirect_uri
from builder.state import dev_key_folder, open_store
from builder.state.crypto import Cipher, load_or_create_dev_key
from builder.state.store import Store

__all__ = [
    "DEFAULT_LOGIN_PORT",
    "LocalGrant",
    "local_grant_id",
    "login",
    "login_redirect_uri",
    "state_store_url",
]

logger = logging.getLogger("mcpbuild.login")
Opener = Callable[[str], Awaitable[None] | None]
Outcome = Literal["signed_in", "refused", "mismatch"]


def local_grant_id(connector: Connector) -> str:
    return f"local:{connector.name}"


def state_store_url(connector: Connector, store: str | None) -> str:
    """``--store``, else ``sqlite:///.mcpbuild/NAME.db`` (the same default as ``serve``)."""
    return store or f"sqlite:///.mcpbuild/{connector.name}.db"


def _cipher(env: Mapping[str, str], store_url: str) -> Cipher:
    key = env.get("MCPBUILD_SECRET_KEY")
    if not key:
        folder = dev_key_folder(store_url)
        key, created = load_or_create_dev_key(folder / "secret.key")
        if created:
            print(
                f"generated an encryption key in {folder / 'secret.key'} (mode 0600)",
                file=sys.stderr,
            )
    return Cipher(key)


class LocalGrant:
    """The stored local sign-in of one connector: its store, key and grant manager."""

    def __init__(
        self,
        connector: ResolvedConnector,
        env: Mapping[str, str],
        store_url: str,
        redirect_uri: str,
    ) -> None:
        if connector.provider is None:
            raise ConfigError(
                f"connector '{connector.name}' has no provider: nothing to sign in to"
            )
        self.connector = connector
        self.store: Store = open_store(store_url)
        self.upstream = UpstreamOAuth(connector.provider, redirect_uri)
        self.grants = GrantManager(self.store, _cipher(env, store_url), self.upstream)
        self.grant_id = local_grant_id(connector.spec)

    async def credentials(self) -> GrantCredentials:
        """Credentials for tool calls; a clear error when nobody has signed in."""
        grant = await self.store.get_grant(self.grant_id)
        if grant is None or not grant.active:
            raise ConfigError(
                f"not signed in to '{self.connector.name}': run `mcpbuild login "
                "<connector.yaml>` first"
            )
        return GrantCredentials(self.grants, self.grant_id)

    async def close(self) -> None:
        await self.store.close()


async def login(
    connector: Connector,
    env: Mapping[str, str],
    *,
    store_url: str,
    port: int = DEFAULT_LOGIN_PORT,
    open_browser: Opener | None = None,
    timeout: float = 300.0,
    scopes: list[str] | None = None,
) -> list[str]:
    """Run the Authorization Code flow through a loopback redirect and store the grant;
    return the scopes granted.

    The listener is on 127.0.0.1:``port`` (:data:`DEFAULT_LOGIN_PORT` unless given), so
    its redirect URI is known before and can be registered with the provider; a port in
    use is an error, never a silent other port. ``port=0`` takes any free port (tests).
    """
    resolved = resolve_connector(connector, env)
    sock = _listen(port)
    redirect_uri = login_redirect_uri(sock.getsockname()[1])
    try:
        local = LocalGrant(resolved, env, store_url, redirect_uri)
    except BaseException:
        sock.close()
        raise
    assert resolved.provider is not None
    wanted = resolved.upstream_scopes(scopes or resolved.provider.default_scopes)
    url, state, verifier = local.upstream.authorization_request(wanted)
    outcome: dict[str, str] = {}
    done = anyio.Event()

    async def callback(request: Request) -> HTMLResponse:
        params = request.query_params
        if params.get("state") != state or done.is_set():
            return _result_page("mismatch", status=400)
        outcome.update(params)
        done.set()
        if "error" in params:
            return _result_page("refused", status=400, error=params["error"])
        return _result_page("signed_in")

    app = Starlette(routes=[Route(CALLBACK_PATH, callback)])
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    note = " (--port 0: a random port no provider has registered)" if port == 0 else ""
    print(f"redirect URI (register it with the provider): {redirect_uri}{note}", file=sys.stderr)
    print(f"open this URL to sign in:\n{url}", file=sys.stderr)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            if open_browser is not None:
                maybe = open_browser(url)
                if maybe is not None:
                    await maybe
            # Not fail_after: its TimeoutError would leave the task group wrapped in an
            # ExceptionGroup, which no `except TimeoutError` catches.
            with anyio.move_on_after(timeout):
                await done.wait()
            server.should_exit = True
        if not done.is_set():
            raise ConfigError(
                f"no sign-in within {timeout:g} s; run login again, with a longer --timeout "
                "if you need more time"
            )
        if "error" in outcome:
            raise ConfigError(f"the provider refused the sign-in: {outcome['error']}")
        try:
            tokens = await local.upstream.exchange_code(outcome.get("code", ""), verifier)
        except ProviderError as exc:
            raise ConfigError(f"the provider refused the code: {exc}") from None
        await local.store.end_grant(local.grant_id)
        grant = await local.grants.create(local.grant_id, "local", tokens, wanted)
        return grant.scopes
    finally:
        sock.close()
        await local.close()


def _listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port``; a clear error when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Reuse a port in TIME_WAIT (login run again at once); a listening one still refuses.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"port {port} on 127.0.0.1 is in use ({exc.strerror or exc}), and the redirect "
            f"URI {login_redirect_uri(port)} needs it: stop what listens there, or pass "
            "--port N and register http://127.0.0.1:N/oauth/callback with the provider"
        ) from None
    return sock


def _result_page(outcome: Outcome, *, status: int = 200, error: str = "") -> HTMLResponse:
    """The page the loopback callback shows in the browser (``error``: the provider's code)."""
    return render_page(
        "login_result.html", status=status, title="mcpbuild login", outcome=outcome, error=error
    )


def default_opener(url: str) -> None:
    """Open ``url`` in the user's browser when there is one."""
    if os.environ.get("DISPLAY") or sys.platform in ("darwin", "win32"):
        import webbrowser

        webbrowser.open(url)
