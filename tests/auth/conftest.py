from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.auth.stack import Stack, mcpbuild, notes_api
from tests.provider_fixture import RunningProvider, running_provider
from tests.tls import LocalCA, local_ca


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope, so that one oidc-provider process serves a whole test module.
    return "asyncio"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[RunningProvider]:
    async with running_provider(auto_login="alice") as running:
        yield running


@pytest.fixture(scope="module")
async def stack(
    provider: RunningProvider, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One whole stack per test module (modules that need a fresh one per test override it)."""
    store = tmp_path_factory.mktemp("store") / "s.db"
    async with notes_api(provider) as notes, mcpbuild(provider, notes, store) as s:
        yield s


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    """A throwaway CA and a certificate for 127.0.0.1 (metadata documents are https)."""
    return local_ca(tmp_path_factory.mktemp("ca"))
