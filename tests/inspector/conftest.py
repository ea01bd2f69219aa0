"""The inspector's tests: the OAuth stack of tests/auth (oidc-provider, the notes API,
mcpbuild serve of tests/assets/notes.yaml) served with ``inspector=True``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from builder.auth.limits import AuthLimits
from builder.connector import load_connector
from builder.server.serve import ServeOptions, open_connector
from builder.state.crypto import generate_key
from tests.auth.stack import SPEC, Stack, notes_api, spec_env
from tests.provider_fixture import RunningProvider, running_provider
from tests.servers import bound_socket, running


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[RunningProvider]:
    async with running_provider(auto_login="alice") as running_:
        # Upstream tokens that live long: the only refreshes are the ones a test forces.
        await running_.set_access_token_ttl(3600)
        yield running_


@contextlib.asynccontextmanager
async def inspected(
    provider: RunningProvider, store: Path, *, inspector: bool = True
) -> AsyncIterator[Stack]:
    """``mcpbuild serve --inspector`` of tests/assets/notes.yaml, in this event loop."""
    async with notes_api(provider) as notes:
        sock = bound_socket()
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        await provider.allow_redirect_uris([base + "/oauth/callback"])
        env = {**spec_env(provider, notes[1]), "MCPBUILD_SECRET_KEY": generate_key()}
        options = ServeOptions(
            port=sock.getsockname()[1],
            store=f"sqlite:///{store}",
            auth_limits=AuthLimits(register_burst=1000),
            inspector=inspector,
        )
        served = open_connector(load_connector(str(SPEC)), options, env)
        async with running(served.http_app(options), sock=sock) as url:
            assert url == base
            yield Stack(provider, notes[0], served, options, env, base)


@pytest.fixture
async def stack(provider: RunningProvider, tmp_path: Path) -> AsyncIterator[Stack]:
    async with inspected(provider, tmp_path / "s.db") as s:
        yield s
