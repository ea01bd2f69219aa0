"""The inspector's API under attack: who may read and act on which grant, what its answers
and event streams may contain, and that it is not there unless asked for."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from tests.auth.stack import Stack
from tests.inspector.conftest import inspected
from tests.oauth_client import Browser, RawClient, raw_tool_call
from tests.provider_fixture import RunningProvider

pytestmark = pytest.mark.anyio
API = "/inspector/api/"


@dataclass
class User:
    name: str
    raw: RawClient
    access: str
    refresh: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def sign_in(stack: Stack, http: httpx.AsyncClient, name: str) -> User:
    """A client of its own for ``name``, signed in through consent and the provider."""
    await stack.provider.set_auto_login(name)
    try:
        raw = RawClient(stack.base, http, browser=Browser())
        assert (await raw.register()).status_code == 201
        code, verifier = await raw.code()
        tokens = (await raw.exchange(code, verifier)).json()
    finally:
        await stack.provider.set_auto_login("alice")
    return User(name, raw, tokens["access_token"], tokens["refresh_token"])


async def grant_id(stack: Stack, user: User) -> str:
    assert stack.served.oauth is not None
    info = await stack.served.oauth.server.load_access_token(user.access)
    assert info is not None
    assert info.claims is not None
    return str(info.claims["grant"])


@contextlib.asynccontextmanager
async def events(
    http: httpx.AsyncClient, stack: Stack, user: User
) -> AsyncIterator[tuple[httpx.Response, list[bytes]]]:
    """The user's event stream, its bytes collected as they come."""
    chunks: list[bytes] = []
    async with http.stream("GET", stack.base + API + "events", headers=user.bearer) as response:
        if response.status_code != 200:
            await response.aread()
            yield response, chunks
            return
        async with anyio.create_task_group() as tg:

            async def read() -> None:
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)

            tg.start_soon(read)
            yield response, chunks
            tg.cancel_scope.cancel()


async def until(chunks: list[bytes], text: str, *, timeout: float = 10.0) -> None:
    """Wait (bounded) until ``text`` has arrived in ``chunks``."""
    with anyio.fail_after(timeout):
        while text.encode() not in b"".join(chunks):
            await anyio.sleep(0.01)


async def test_not_served_without_the_flag(provider: RunningProvider, tmp_path: Path) -> None:
    async with (
        inspected(provider, tmp_path / "s.db", inspector=False) as stack,
        httpx.AsyncClient() as http,
    ):
        for path in (
            "/inspector",
            "/inspector/callback",
            "/inspector/static/app.js",
            API + "grant",
            API + "events",
        ):
            assert (await http.get(stack.base + path)).status_code == 404, path
        for path in ("expire", "revoke", "sign-in-problem"):
            assert (await http.post(stack.base + API + path)).status_code == 404, path
    assert stack.served.inspector is None


async def test_page_headers(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        page = await http.get(stack.base + "/inspector")
        script = await http.get(stack.base + "/inspector/static/app.js")
        missing = await http.get(stack.base + "/inspector/static/../../serve.py")
    assert page.status_code == 200
    assert '<script type="module" src="/inspector/static/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "http" not in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


async def test_bearer_required(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        user = await sign_in(stack, http, "alice")
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": f"Basic {user.access}"},
            # The refresh token is not an access token.
            {"Authorization": f"Bearer {user.refresh}"},
        ):
            for method, path in (
                ("GET", "grant"),
                ("GET", "events"),
                ("POST", "expire"),
                ("POST", "revoke"),
            ):
                answer = await http.request(method, stack.base + API + path, headers=headers)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.headers["www-authenticate"].startswith("Bearer")
        # None of that touched the grant.
        ok = await http.get(stack.base + API + "grant", headers=user.bearer)
        assert ok.status_code == 200
        assert ok.json()["grant"]["active"] is True
        # A page of another origin cannot use it even with the token (and gets no CORS).
        other = await http.post(
            stack.base + API + "expire", headers={**user.bearer, "Origin": "https://evil.example"}
        )
        assert other.status_code == 403
        assert "access-control-allow-origin" not in other.headers


async def test_oversized_bodies_refused(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        user = await sign_in(stack, http, "alice")
        big = b"x" * 5000
        for path in ("expire", "revoke", "sign-in-problem"):
            answer = await http.post(stack.base + API + path, headers=user.bearer, content=big)
            assert answer.status_code == 413, path

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 1000

        answer = await http.post(
            stack.base + API + "expire", headers=user.bearer, content=chunked()
        )
        assert answer.status_code == 413
        info = await http.get(stack.base + API + "grant", headers=user.bearer)
        assert info.json()["grant"]["active"] is True


async def test_users_see_and_act_on_their_own_grant_only(stack: Stack) -> None:
    assert stack.served.oauth is not None
    store = stack.served.oauth.server.store
    captured: list[bytes] = []
    async with httpx.AsyncClient(timeout=15) as http:
        alice = await sign_in(stack, http, "alice")
        bob = await sign_in(stack, http, "bob")
        alice_grant, bob_grant = await grant_id(stack, alice), await grant_id(stack, bob)
        assert alice_grant != bob_grant
        stack.notes.add("alice", "alice's secret plan")

        # Alice works: a read, a write, a forced expiry and its refresh.
        assert (await raw_tool_call(http, stack.mcp_url, alice.access, "list_notes")).is_success
        expire = await http.post(stack.base + API + "expire", headers=alice.bearer)
        captured.append(expire.content)
        assert expire.json() == {"expired": True}
        called = await raw_tool_call(http, stack.mcp_url, alice.access, "list_notes", 2)
        assert "alice's secret plan" in called.text
        alice_info = await http.get(stack.base + API + "grant", headers=alice.bearer)
        captured.append(alice_info.content)
        assert alice_info.json()["grant"]["refreshes"] == 1

        # Bob's bearer answers about Bob's grant, whatever Alice did.
        assert (await raw_tool_call(http, stack.mcp_url, bob.access, "list_notes", 3)).is_success
        bob_info = await http.get(stack.base + API + "grant", headers=bob.bearer)
        captured.append(bob_info.content)
        assert bob_info.json()["grant"]["id"] == bob_grant[:8]
        assert bob_info.json()["grant"]["refreshes"] == 0
        assert bob_info.json()["token"]["client_id"] == bob.raw.client_id

        # Bob's events: his own call, none of Alice's (her refresh, her expiry).
        async with events(http, stack, bob) as (response, chunks):
            assert response.status_code == 200
            await until(chunks, "/api/notes")
        bob_events = b"".join(chunks)
        captured.append(bob_events)
        assert b"refresh_token" not in bob_events
        assert b"marked expired" not in bob_events
        assert bob_events.count(b'"kind": "upstream"') == 1

        # Alice's events: her two calls and the token endpoint exchange.
        async with events(http, stack, alice) as (response, chunks):
            await until(chunks, "refresh_token")
            await until(chunks, "marked expired")
            # Live: an event after the stream opened arrives too.
            await raw_tool_call(http, stack.mcp_url, alice.access, "list_notes", 4)
            with anyio.fail_after(10):
                while b"".join(chunks).count(b'"kind": "upstream"') < 3:
                    await anyio.sleep(0.01)
        alice_events = b"".join(chunks)
        captured.append(alice_events)
        lines = [
            json.loads(line[6:])
            for line in alice_events.decode().splitlines()
            if line.startswith("data: {")
        ]
        token_events = [e for e in lines if e["kind"] == "token"]
        assert len(token_events) == 1
        assert token_events[0]["url"] == stack.provider.token_endpoint
        assert token_events[0]["status"] == 200

        # Bob can neither expire nor revoke Alice's grant: his buttons act on his own.
        before = await store.get_grant(alice_grant)
        assert (await http.post(stack.base + API + "expire", headers=bob.bearer)).is_success
        revoked = await http.post(stack.base + API + "revoke", headers=bob.bearer)
        captured.append(revoked.content)
        after = await store.get_grant(alice_grant)
        assert before is not None
        assert after is not None
        assert after.active
        assert after.version == before.version
        bob_after = await store.get_grant(bob_grant)
        assert bob_after is not None
        assert not bob_after.active
        assert (await http.get(stack.base + API + "grant", headers=bob.bearer)).status_code == 401
        assert (await http.get(stack.base + API + "grant", headers=alice.bearer)).is_success

        # What must never appear: either layer's tokens, the client secret, the key.
        grant = await store.get_grant(alice_grant)
        assert grant is not None
        assert grant.refresh_token is not None
        cipher = stack.served.oauth.grants.cipher
        secrets = [
            alice.access,
            alice.refresh,
            bob.access,
            bob.refresh,
            cipher.decrypt(grant.access_token, context=alice_grant),
            cipher.decrypt(grant.refresh_token, context=alice_grant),
            *stack.notes.bearer_tokens(),
            stack.provider.client_secret,
            stack.env["MCPBUILD_SECRET_KEY"],
            alice_grant,
            bob_grant,
        ]
        everything = b"".join(captured)
        assert len(everything) > 500
        for secret in secrets:
            assert secret.encode() not in everything


async def test_events_stream_ends_with_the_grant(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        user = await sign_in(stack, http, "alice")
        async with events(http, stack, user) as (_, chunks):
            await until(chunks, ": connected")
            assert (await http.post(stack.base + API + "revoke", headers=user.bearer)).is_success
            await until(chunks, "event: end")
        assert b"The grant was revoked" in b"".join(chunks)
