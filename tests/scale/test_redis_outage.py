"""Redis going away and coming back, seen end to end through both replicas: with
persistence (append-only file) a restart loses no grant, and ``/readyz`` says 503 while
Redis is down and 200 once it is back, while ``/healthz`` (the process) stays 200."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import anyio
import anyio.to_thread
import httpx
import pytest

from tests.scale.cluster import Cluster, tool_ok

pytestmark = pytest.mark.anyio


async def _poll(
    http: httpx.AsyncClient, url: str, until: Callable[[httpx.Response], bool]
) -> httpx.Response:
    """Ask ``url`` until its answer satisfies ``until`` (bounded by the caller)."""
    while True:
        with contextlib.suppress(httpx.TransportError):
            response = await http.get(url)
            if until(response):
                return response
        await anyio.sleep(0.05)  # a poll interval, not a wait for something to happen


async def test_restarting_redis_loses_no_grant(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client, tokens = await cluster.sign_in(http)
        created = await cluster.call(
            http, tokens["access_token"], tool="create_note", arguments={"title": "Kept"}
        )
        assert tool_ok(created), created.text

        # SIGTERM: redis-server writes what it holds to its append-only file and stops;
        # started again on the same port and folder, it reads it back.
        await anyio.to_thread.run_sync(cluster.redis.restart)

        after = {r: await cluster.call(http, tokens["access_token"], r) for r in ("a", "b")}
        # The client's refresh token survived too, and rotates on the other replica.
        with cluster.proxy.pinned({"/token": "b"}):
            refreshed = await client.token(
                grant_type="refresh_token", refresh_token=tokens["refresh_token"]
            )
        assert refreshed.status_code == 200, refreshed.text
        again = await cluster.call(http, refreshed.json()["access_token"], "a")
    for replica, response in after.items():
        assert tool_ok(response), (replica, response.text)
        assert "Kept" in response.json()["result"]["content"][0]["text"]
    assert tool_ok(again), again.text


async def test_readyz_fails_while_redis_is_down_and_recovers(cluster: Cluster) -> None:
    replicas = list(cluster.replicas.values())
    async with httpx.AsyncClient(timeout=10) as http:
        for replica in replicas:
            assert (await http.get(replica.base + "/readyz")).status_code == 200

        await anyio.to_thread.run_sync(cluster.redis.stop)
        down = {}
        with anyio.fail_after(15):
            for replica in replicas:
                down[replica.name] = await _poll(
                    http, replica.base + "/readyz", lambda r: r.status_code != 200
                )
        alive = [(await http.get(r.base + "/healthz")).status_code for r in replicas]

        await anyio.to_thread.run_sync(cluster.redis.start)
        with anyio.fail_after(15):
            up = [
                await _poll(http, r.base + "/readyz", lambda r: r.status_code == 200)
                for r in replicas
            ]
    for response in down.values():
        assert response.status_code == 503
        body = response.json()
        assert body["ready"] is False
        assert body["checks"]["store"] != "ok"
        assert body["checks"]["provider"] == "ok"
    assert alive == [200, 200]
    assert [r.json() for r in up] == [
        {"ready": True, "checks": {"store": "ok", "provider": "ok"}}
    ] * 2
