"""The official MCP client's whole flow split across two replicas: register on one,
authorize on the other, token on the first, tool calls alternating, refresh on the second.
Nothing a later step needs may live in one process's memory."""

from __future__ import annotations

import time

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.oauth_client import OAuthUser
from tests.scale.cluster import Cluster

pytestmark = pytest.mark.anyio


async def test_the_whole_flow_split_across_the_replicas(cluster: Cluster) -> None:
    proxy = cluster.proxy
    user = OAuthUser()
    auth = user.provider(cluster.mcp_url)
    pins = {
        "/register": "a",
        "/authorize": "b",
        "/consent": "b",
        # The consent cookie set by b, and the pending sign-in b stored, checked by a.
        "/oauth/callback": "a",
        "/token": "a",
    }
    texts: list[str] = []
    with proxy.pinned(pins):
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(
                streamable_http_client(cluster.mcp_url, http_client=http), mode="2026-07-28"
            ) as client,
        ):
            created = await client.call_tool("create_note", {"title": "Split across replicas"})
            assert not created.is_error, created.content
            for _ in range(3):
                listed = await client.call_tool("list_notes", {})
                assert not listed.is_error, listed.content
                texts.append(listed.content[0].text)  # type: ignore[union-attr]
            assert user.storage.tokens is not None
            first_token = user.storage.tokens.access_token

            # The client's own access token expires (its clock says so): the SDK refreshes
            # it at /token, which b answers, b never having seen this client's tokens issued.
            proxy.pins["/token"] = "b"
            auth.context.token_expiry_time = time.time() - 1
            after = await client.call_tool("list_notes", {})
            assert not after.is_error, after.content
            assert user.storage.tokens.access_token != first_token

    assert all("Split across replicas" in text for text in texts)
    assert user.browser.consent_pages == 1
    steps = [(h.method, h.path, h.replica, h.status, h.grant_type) for h in proxy.hops]
    # Each sign-in step on the replica it was pinned to, answered as it should be there.
    assert [s for s in steps if s[1] in pins] == [
        ("POST", "/register", "a", 201, None),
        ("GET", "/authorize", "b", 302, None),
        ("GET", "/consent", "b", 200, None),
        ("POST", "/consent", "b", 303, None),
        ("GET", "/oauth/callback", "a", 302, None),
        ("POST", "/token", "a", 200, "authorization_code"),
        ("POST", "/token", "b", 200, "refresh_token"),
    ], steps
    # The MCP requests alternate between the replicas (the first, without a token, is the
    # 401 that starts the sign-in); every later one is answered on either.
    mcp = [(h.replica, h.status) for h in proxy.hops if h.path == "/mcp"]
    assert [r for r, _ in mcp] == [("a", "b")[i % 2] for i in range(len(mcp))], mcp
    assert [s for _, s in mcp] == [401] + [200] * (len(mcp) - 1), mcp
    assert len(mcp) >= 6  # five tool calls after the sign-in
    # The call after the client's refresh went through, right after it.
    refresh = steps.index(("POST", "/token", "b", 200, "refresh_token"))
    assert steps[refresh + 1][1:4] == ("/mcp", "a", 200)


async def test_a_2025_11_25_session_behind_a_proxy_sticky_by_session_id(cluster: Cluster) -> None:
    """The documented choice for 2025-11-25 sessions (README, deploy/haproxy.cfg): the
    session lives in the replica that answered ``initialize``; a balancer sticky by
    ``Mcp-Session-Id`` keeps it there, while the sign-in still crosses replicas."""
    proxy = cluster.proxy
    proxy.sticky = True
    user = OAuthUser()
    with proxy.pinned({"/register": "b", "/authorize": "a", "/consent": "a", "/token": "b"}):
        async with user.client(cluster.mcp_url, mode="legacy") as client:
            for _ in range(3):
                listed = await client.call_tool("list_notes", {})
                assert not listed.is_error, listed.content
            # The same session on the other replica: unknown there (why stickiness).
            [(session, home)] = proxy.sessions.items()
            other = cluster.replicas["a" if home == "b" else "b"]
            assert user.storage.tokens is not None
            async with httpx.AsyncClient(timeout=10) as http:
                elsewhere = await http.post(
                    other.base + "/mcp",
                    headers={
                        "Authorization": f"Bearer {user.storage.tokens.access_token}",
                        "Mcp-Session-Id": session,
                        "MCP-Protocol-Version": "2025-11-25",
                        "Accept": "application/json, text/event-stream",
                    },
                    json={"jsonrpc": "2.0", "id": 99, "method": "tools/list"},
                )
    assert elsewhere.status_code == 404, elsewhere.text
    with_session = [h for h in proxy.hops if h.path == "/mcp" and h.session]
    assert len(proxy.sessions) == 1
    assert len(with_session) >= 4  # initialized, three calls (and the closing DELETE)
    assert {(h.session, h.replica) for h in with_session} == {(session, home)}
    assert all(h.status in (200, 202) for h in with_session), with_session
    assert [h.replica for h in proxy.hops if h.path == "/register"] == ["b"]
    assert [h.replica for h in proxy.hops if h.path == "/token"] == ["b"]
