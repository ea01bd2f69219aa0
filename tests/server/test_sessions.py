"""Bounded protocol sessions, over real HTTP: one user's flood never reaches another user."""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest
from mcp import Client
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import ListToolsResult
from starlette.types import ASGIApp, Receive, Scope, Send

from builder.errors import ConfigError
from builder.server.http import build_app, transport_security
from builder.server.sessions import BoundedSessionManager, SessionLimits, principal_of
from tests.jsonrpc import INITIALIZE, PING, STREAMABLE_ACCEPT, open_session
from tests.server.conftest import Stack
from tests.servers import running

pytestmark = pytest.mark.anyio

HEADERS = {**STREAMABLE_ACCEPT, "Content-Type": "application/json"}


def client_from(address: str) -> httpx.AsyncClient:
    """An HTTP client whose requests come from ``address`` (any 127/8 address works)."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address))


async def initialize(
    http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> str:
    return await open_session(http, url, {**HEADERS, **(headers or {})})


async def ping(
    http: httpx.AsyncClient, url: str, session_id: str, headers: dict[str, str] | None = None
) -> int:
    response = await http.post(
        url,
        json=PING,
        headers={
            **HEADERS,
            **(headers or {}),
            "Mcp-Session-Id": session_id,
            "MCP-Protocol-Version": "2025-11-25",
        },
    )
    return response.status_code


async def no_tools(ctx: object, params: object) -> ListToolsResult:
    return ListToolsResult(tools=[])


@contextlib.asynccontextmanager
async def serving(
    limits: SessionLimits, wrap_mcp: Callable[[ASGIApp], ASGIApp] | None = None
) -> AsyncIterator[tuple[str, BoundedSessionManager]]:
    app = build_app(
        Server("sessions-test", on_list_tools=no_tools),
        security=transport_security("127.0.0.1"),
        sessions=limits,
        wrap_mcp=wrap_mcp,
    )
    manager = app.state.sessions
    assert isinstance(manager, BoundedSessionManager)
    async with running(app) as base:
        yield f"{base}/mcp", manager


async def test_one_address_flood_keeps_its_sessions_bounded(stack: Stack) -> None:
    """With the served connector's defaults: 8 sessions per address."""
    async with client_from("127.0.0.2") as other, client_from("127.0.0.1") as flooder:
        theirs = await initialize(other, stack.url)
        flood = [await initialize(flooder, stack.url) for _ in range(50)]
        alive = [sid for sid in flood if await ping(flooder, stack.url, sid) == 200]
        assert alive == flood[-8:]
        assert await ping(flooder, stack.url, flood[0]) == 404
        assert await ping(other, stack.url, theirs) == 200


async def test_a_user_whose_sessions_are_all_busy_is_refused_429() -> None:
    async with (
        serving(SessionLimits(per_user=2)) as (url, manager),
        client_from("127.0.0.1") as http,
    ):
        busy, idle = [await initialize(http, url) for _ in range(2)]
        async with http.stream("GET", url, headers=sse_headers(busy)) as held:
            assert held.status_code == 200  # an open GET stream is a request in flight
            async with http.stream("GET", url, headers=sse_headers(idle)) as stream:
                assert stream.status_code == 200
                refused = await http.post(url, json=INITIALIZE, headers=HEADERS)
            assert refused.status_code == 429
            assert refused.headers["retry-after"]
            message = refused.json()["error"]["message"]
            assert "all 2 of this client's sessions have a request in flight" in message
            assert manager.sessions_of(("address", None, "127.0.0.1")) == 2
            # Once the server has seen the second stream end, that session makes room.
            with anyio.fail_after(10):
                while (
                    opened := await http.post(url, json=INITIALIZE, headers=HEADERS)
                ).status_code == 429:
                    await anyio.sleep(0.02)
            assert opened.status_code == 200
            newest = opened.headers["mcp-session-id"]
            assert [await ping(http, url, sid) for sid in (busy, idle, newest)] == [200, 404, 200]


def sse_headers(session_id: str) -> dict[str, str]:
    return {
        "Accept": "text/event-stream",
        "Mcp-Session-Id": session_id,
        "MCP-Protocol-Version": "2025-11-25",
    }


async def test_the_server_wide_limit_answers_503() -> None:
    limits = SessionLimits(per_user=2, max_sessions=3)
    async with (
        serving(limits) as (url, manager),
        client_from("127.0.0.1") as one,
        client_from("127.0.0.2") as two,
    ):
        await initialize(one, url)
        await initialize(one, url)
        kept = await initialize(two, url)
        refused = await two.post(url, json=INITIALIZE, headers=HEADERS)
        assert refused.status_code == 503
        assert refused.json()["error"]["message"] == (
            "Too many open sessions on this server (3); retry later."
        )
        assert refused.headers["retry-after"]
        assert manager.open_sessions == 3
        assert await ping(two, url, kept) == 200


async def test_an_idle_session_is_closed() -> None:
    async with (
        serving(SessionLimits(idle_timeout=0.3)) as (url, manager),
        httpx.AsyncClient() as http,
    ):
        sid = await initialize(http, url)
        assert manager.open_sessions == 1
        with anyio.fail_after(10):
            while manager.open_sessions:
                await anyio.sleep(0.02)
        assert await ping(http, url, sid) == 404


async def test_delete_gives_the_place_back() -> None:
    async with serving(SessionLimits(per_user=2)) as (url, manager), httpx.AsyncClient() as http:
        first, second = [await initialize(http, url) for _ in range(2)]
        deleted = await http.delete(
            url, headers={"Mcp-Session-Id": first, "MCP-Protocol-Version": "2025-11-25"}
        )
        assert deleted.status_code == 200
        assert manager.open_sessions == 1
        await initialize(http, url)
        assert await ping(http, url, second) == 200  # not evicted: there was room


async def test_a_limit_of_one_replaces_the_session() -> None:
    async with serving(SessionLimits(per_user=1)) as (url, manager), httpx.AsyncClient() as http:
        first = await initialize(http, url)
        second = await initialize(http, url)
        third = await initialize(http, url)
        assert manager.sessions_of(("address", None, "127.0.0.1")) == 1
        assert manager.open_sessions == 1
        assert [await ping(http, url, sid) for sid in (first, second, third)] == [404, 404, 200]


class FakeGate:
    """Sign the request in as the ``X-Test-Subject`` header says (tests only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subject = dict(scope["headers"]).get(b"x-test-subject", b"").decode()
        token = AccessToken(token="t", client_id="same-client", scopes=[], subject=subject)
        scope["user"] = AuthenticatedUser(token)
        await self.app(scope, receive, send)


async def test_signed_in_users_have_their_own_budgets_at_one_address() -> None:
    limits = SessionLimits(per_user=3)
    alice = {"X-Test-Subject": "alice"}
    bob = {"X-Test-Subject": "bob"}
    async with serving(limits, FakeGate) as (url, manager), httpx.AsyncClient() as http:
        bobs = await initialize(http, url, bob)
        flood = [await initialize(http, url, alice) for _ in range(20)]
        assert manager.sessions_of(("subject", None, "alice")) == 3
        assert manager.sessions_of(("subject", None, "bob")) == 1
        assert await ping(http, url, bobs, bob) == 200
        assert await ping(http, url, flood[-1], alice) == 200
        assert await ping(http, url, flood[0], alice) == 404


async def test_the_stateless_generation_opens_no_session() -> None:
    async with serving(SessionLimits(per_user=1)) as (url, manager):
        for _ in range(3):
            async with Client(url, mode="2026-07-28") as client:
                assert (await client.list_tools()).tools == []
        assert manager.open_sessions == 0


def test_principal_of_a_request() -> None:
    token = AccessToken(
        token="t", client_id="c", scopes=[], subject="u1", claims={"iss": "https://as"}
    )
    assert principal_of({"user": AuthenticatedUser(token)}) == ("subject", "https://as", "u1")
    no_subject = AccessToken(token="t", client_id="c", scopes=[])
    assert principal_of({"user": AuthenticatedUser(no_subject)}) == ("client", None, "c")
    assert principal_of({"client": ("10.0.0.7", 5)}) == ("address", None, "10.0.0.7")
    assert principal_of({"client": ("2001:db8::1", 5)}) == ("address", None, "2001:db8::/64")
    assert principal_of({"client": ("::ffff:10.0.0.7", 5)}) == ("address", None, "10.0.0.7")
    assert principal_of({"client": None}) == ("address", None, "")


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigError, match="sessions per user: expected at least 1, got 0"):
        SessionLimits(per_user=0)
    with pytest.raises(ConfigError, match="max sessions"):
        SessionLimits(per_user=8, max_sessions=4)
    with pytest.raises(ConfigError, match="idle timeout"):
        SessionLimits(idle_timeout=0)


def test_the_sdk_internals_we_rely_on_are_those_of_mcp_2_3_0() -> None:
    """builder/server/sessions.py overrides private parts of the SDK's session manager.

    If this fails after an upgrade, re-read ``mcp/server/streamable_http_manager.py`` and
    check that every stateful request still goes through ``_handle_stateful_request``,
    that every ended session still goes through ``_discard_session`` and that
    ``_server_instances`` still maps session ids to transports; then update the pin.
    """
    assert importlib.metadata.version("mcp") == "2.3.0"
    manager = StreamableHTTPSessionManager
    params = list(inspect.signature(manager._handle_stateful_request).parameters)
    assert params == ["self", "scope", "receive", "send"]
    params = list(inspect.signature(manager._discard_session).parameters)
    assert params == ["self", "session_id", "transport"]
    routing = inspect.getsource(manager._handle_request)
    assert "await self._handle_stateful_request(scope, receive, send)" in routing
    assert "HANDSHAKE_PROTOCOL_VERSIONS" in routing  # the stateless generation goes elsewhere
    stateful = inspect.getsource(manager._handle_stateful_request)
    assert "request.headers.get(MCP_SESSION_ID_HEADER)" in stateful
    assert "await self._discard_session(request_mcp_session_id, transport)" in stateful
    opening = inspect.getsource(manager._serve_opening_request)
    assert opening.count("await self._discard_session(session_id, http_transport)") == 2
    instances = manager(Server("pin"))._server_instances
    assert instances == {}
