"""Upstream refreshes across replicas: single-flight over both processes, and a crashed
refresher blocks its grant no longer than the refresh lock's timeout."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
import redis.asyncio as aioredis

from tests.scale.cluster import LOCK_TTL, PREFIX, Cluster, tool_ok

pytestmark = pytest.mark.anyio


def _refreshes(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "mcpbuild_upstream_refreshes_total" and ("result", "ok") in labels
    )


async def test_fifty_concurrent_calls_on_both_replicas_refresh_an_expired_token_once(
    cluster: Cluster,
) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        _, tokens = await cluster.sign_in(http)
        token = tokens["access_token"]
        assert tool_ok(await cluster.call(http, token))
        old_upstream = cluster.notes.bearer_tokens()[-1]
        await cluster.expire_upstream_token(token)
        before = {name: _refreshes(await r.metrics()) for name, r in cluster.replicas.items()}
        await cluster.provider.reset_stats()
        cluster.proxy.hops.clear()
        seen = len(cluster.notes.seen)
        responses: list[httpx.Response] = []

        async def call(i: int) -> None:
            responses.append(await cluster.call(http, token, call_id=i))

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(call, i)

    assert [tool_ok(r) for r in responses] == [True] * 50, [r.text for r in responses]
    served = cluster.proxy.served("/mcp")
    assert (served.count("a"), served.count("b")) == (25, 25)
    stats = await cluster.provider.stats()
    assert stats["token_requests"].get("refresh_token", 0) == 1, stats
    # Every call, on either replica, reached the API with the one refreshed token.
    upstream = {s.authorization for s in cluster.notes.seen[seen:]}
    assert len(upstream) == 1
    assert upstream != {f"Bearer {old_upstream}"}
    after = {name: _refreshes(await r.metrics()) for name, r in cluster.replicas.items()}
    assert sum(after.values()) - sum(before.values()) == 1, (before, after)


async def test_a_replica_killed_mid_refresh_leaves_the_grant_usable_on_the_other(
    cluster: Cluster,
) -> None:
    a, b = cluster.replicas["a"], cluster.replicas["b"]
    async with httpx.AsyncClient(timeout=60) as http:
        _, tokens = await cluster.sign_in(http)
        token = tokens["access_token"]
        assert tool_ok(await cluster.call(http, token, "b"))
        grant_id = await cluster.expire_upstream_token(token)
        await cluster.provider.reset_stats()

        # a starts the refresh: it holds the grant's lock in Redis, and its request to the
        # provider's token endpoint hangs at the gate, unanswered.
        cluster.gate.holding = True
        on_a: list[httpx.Response] = []

        async def call_a() -> None:
            on_a.append(await cluster.call(http, token, "a"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call_a)
            with anyio.fail_after(15):
                await cluster.gate.arrived.wait()
            raw = aioredis.Redis.from_url(cluster.redis.url())
            try:
                lock_left = await raw.pttl(f"{PREFIX}:refresh-lock:{grant_id}") / 1000
            finally:
                await raw.aclose()
            a.kill()
            killed_at = time.monotonic()
        cluster.gate.holding = False
        assert on_a[0].status_code == 502  # the proxy lost a mid-answer
        assert cluster.gate.held == 1

        # b waits for the dead holder's lock to lapse, then refreshes itself, once. (a is
        # started again meanwhile, for the next tests: it takes no request here.)
        on_b: list[tuple[httpx.Response, float]] = []

        async def call_b() -> None:
            on_b.append((await cluster.call(http, token, "b"), time.monotonic()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call_b)
            tg.start_soon(a.start)
        response, waited = on_b[0][0], on_b[0][1] - killed_at

    assert tool_ok(response), response.text
    assert cluster.proxy.served("/mcp") == ["b", "a", "b"]
    # a held the lock (its time to live running) when it died; b got through once that
    # lapsed, not before (it did not ignore the lock) and not much later.
    assert 0 < lock_left <= LOCK_TTL
    assert lock_left - 0.1 <= waited < lock_left + 5, (lock_left, waited)
    refreshed = [
        line
        for line in b.log()
        if line.get("msg") == "upstream token refreshed" and line.get("grant") == grant_id[:8]
    ]
    assert len(refreshed) == 1
    stats = await cluster.provider.stats()
    # a's refresh never reached the provider; b's did, and only it.
    assert stats["token_requests"].get("refresh_token", 0) == 1, stats
