"""Upstream refreshes are single-flight across processes sharing a Redis store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest

from builder.provider.client import UpstreamTokens
from builder.provider.grants import GrantManager
from builder.state import open_store
from builder.state.crypto import Cipher, generate_key
from builder.state.redis import RedisStore
from tests.state.redis_server import RedisServer

pytestmark = pytest.mark.anyio


class Provider:
    """The provider's token endpoint as the grant managers see it: refreshes counted, each
    held until the test lets it go, each rotating the refresh token."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = anyio.Event()

    async def refresh(self, refresh_token: str) -> UpstreamTokens:
        self.calls += 1
        await self.release.wait()
        n = self.calls
        return UpstreamTokens(f"access-{n}", f"refresh-{n}", time.time() + 3600, None)


@pytest.fixture
async def stores(redis_service: RedisServer) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    url = redis_service.url(prefix=f"lock{time.monotonic_ns()}")
    first, second = open_store(url), open_store(url)
    assert isinstance(first, RedisStore)
    assert isinstance(second, RedisStore)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_two_processes_refresh_an_expired_grant_once(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    key, provider = generate_key(), Provider()
    # Two processes: their own grant manager (and in-process lock) each, one Redis.
    managers = [GrantManager(store, Cipher(key), provider) for store in stores]  # type: ignore[arg-type]
    expired = UpstreamTokens("old-access", "old-refresh", time.time() - 1, None)
    await managers[0].create("g1", "client", expired, ["read"])
    tokens: list[str] = []

    async def call(manager: GrantManager) -> None:
        tokens.append((await manager.access_token("g1")).token)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            for manager in managers:
                tg.start_soon(call, manager)
        with anyio.fail_after(10):
            while provider.calls == 0:
                await anyio.sleep(0.01)
        provider.release.set()
    assert provider.calls == 1
    assert tokens == ["access-1"] * 20


async def test_a_lapsed_lock_blocks_a_refresh_no_longer_than_its_ttl(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    first, second = stores
    provider = Provider()
    provider.release.set()
    manager = GrantManager(second, Cipher(generate_key()), provider)  # type: ignore[arg-type]
    expired = UpstreamTokens("old-access", "old-refresh", time.time() - 1, None)
    await manager.create("g2", "client", expired, ["read"])
    crashed = first.refresh_lock("g2", ttl=0.5)
    await crashed.__aenter__()  # taken by a process that then died: never released
    started = time.monotonic()
    with anyio.fail_after(10):
        current = await manager.access_token("g2")
    assert current.token == "access-1"
    assert 0.3 < time.monotonic() - started < 5
