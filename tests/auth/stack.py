"""The whole OAuth stack on 127.0.0.1: oidc-provider, the notes API, and mcpbuild serve."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from builder.auth.limits import AuthLimits
from builder.connector import load_connector
from builder.server.serve import Served, ServeOptions, open_connector
from builder.state.crypto import generate_key
from tests.notes_api import NotesState, notes_app
from tests.provider_fixture import RunningProvider
from tests.servers import bound_socket, running

SPEC = Path(__file__).resolve().parents[1] / "assets" / "notes.yaml"


@dataclass
class Stack:
    provider: RunningProvider
    notes: NotesState
    served: Served
    options: ServeOptions
    env: dict[str, str]
    base: str

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"


def spec_env(provider: RunningProvider, notes_url: str) -> dict[str, str]:
    """The variables tests/assets/notes.yaml references."""
    return {
        "PROVIDER_AUTHORIZE_URL": provider.authorization_endpoint,
        "PROVIDER_TOKEN_URL": provider.token_endpoint,
        "NOTES_CLIENT_ID": provider.client_id,
        "NOTES_CLIENT_SECRET": provider.client_secret,
        "NOTES_URL": notes_url,
    }


@contextlib.asynccontextmanager
async def notes_api(provider: RunningProvider) -> AsyncIterator[tuple[NotesState, str]]:
    app, state = notes_app(
        provider.introspection_endpoint, provider.client_id, provider.client_secret
    )
    async with running(app) as url:
        yield state, url


@contextlib.asynccontextmanager
async def mcpbuild(
    provider: RunningProvider,
    notes: tuple[NotesState, str],
    store: Path,
    *,
    read_only: bool = False,
    port: int = 0,
    key: str | None = None,
    dev_ca: str | None = None,
) -> AsyncIterator[Stack]:
    """``mcpbuild serve`` of tests/assets/notes.yaml, in this event loop."""
    sock = bound_socket(port)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    await provider.allow_redirect_uris([base + "/oauth/callback"])
    env = {**spec_env(provider, notes[1]), "MCPBUILD_SECRET_KEY": key or generate_key()}
    options = ServeOptions(
        port=sock.getsockname()[1],
        store=f"sqlite:///{store}",
        read_only=read_only,
        dev=dev_ca is not None,
        dev_ca=dev_ca,
        # Every test client registers from 127.0.0.1: the production burst would be spent.
        auth_limits=AuthLimits(register_burst=1000),
    )
    served = open_connector(load_connector(str(SPEC)), options, env)
    async with running(served.http_app(options), sock=sock) as url:
        assert url == base
        yield Stack(provider, notes[0], served, options, env, base)
