"""A revocation on one replica takes effect on both at once: nothing about a token or a
grant is cached in a process (builder/state/redis.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.scale.cluster import Cluster, tool_ok

pytestmark = pytest.mark.anyio


async def _revoke(cluster: Cluster, http: httpx.AsyncClient, client_id: str, token: str) -> None:
    response = await http.post(
        cluster.public_url + "/revoke", data={"client_id": client_id, "token": token}
    )
    assert response.status_code == 200, response.text


async def test_a_revoked_grant_is_refused_by_both_replicas(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client, tokens = await cluster.sign_in(http)
        for replica in ("a", "b"):
            assert tool_ok(await cluster.call(http, tokens["access_token"], replica))

        # Revoking the refresh token ends the grant (RFC 7009 2.1), on a.
        with cluster.proxy.pinned({"/revoke": "a"}):
            await _revoke(cluster, http, client.client_id, tokens["refresh_token"])

        refused = {r: await cluster.call(http, tokens["access_token"], r) for r in ("a", "b")}
        refreshed = {}
        for replica in ("a", "b"):
            with cluster.proxy.pinned({"/token": replica}):
                refreshed[replica] = await client.token(
                    grant_type="refresh_token", refresh_token=tokens["refresh_token"]
                )
    assert {r: response.status_code for r, response in refused.items()} == {"a": 401, "b": 401}
    for response in refused.values():
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert {r: response.status_code for r, response in refreshed.items()} == {"a": 400, "b": 400}
    assert {response.json()["error"] for response in refreshed.values()} == {"invalid_grant"}


async def test_a_revoked_access_token_is_refused_by_the_other_replica(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client, tokens = await cluster.sign_in(http)
        assert tool_ok(await cluster.call(http, tokens["access_token"], "a"))
        with cluster.proxy.pinned({"/revoke": "b"}):
            await _revoke(cluster, http, client.client_id, tokens["access_token"])
        refused = {r: await cluster.call(http, tokens["access_token"], r) for r in ("a", "b")}
        # The grant itself lives on: the refresh token still gets a new access token.
        with cluster.proxy.pinned({"/token": "a"}):
            refreshed = await client.token(
                grant_type="refresh_token", refresh_token=tokens["refresh_token"]
            )
        assert refreshed.status_code == 200, refreshed.text
        again = await cluster.call(http, refreshed.json()["access_token"], "b")
    assert {r: response.status_code for r, response in refused.items()} == {"a": 401, "b": 401}
    assert tool_ok(again), again.text
