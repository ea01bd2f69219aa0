from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.provider_fixture import RunningProvider, running_provider


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope, so that one oidc-provider process serves a whole test module.
    return "asyncio"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[RunningProvider]:
    async with running_provider(auto_login="alice") as running:
        yield running
