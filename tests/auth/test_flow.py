"""The OAuth flow end to end with real parts: the official MCP SDK client with its OAuth
provider, mcpbuild, oidc-provider as the upstream authorization server, and a notes API
that introspects the tokens it is shown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from tests.auth.stack import Stack, mcpbuild, notes_api
from tests.oauth_client import OAuthUser, RawClient, raw_tool_call
from tests.provider_fixture import RunningProvider

pytestmark = pytest.mark.anyio
GENERATIONS = ["legacy", "2026-07-28"]


@pytest.fixture
async def stack(provider: RunningProvider, tmp_path: Path) -> AsyncIterator[Stack]:
    await provider.set_access_token_ttl(30)
    await provider.reset_stats()
    async with notes_api(provider) as notes, mcpbuild(provider, notes, tmp_path / "s.db") as s:
        yield s


async def wait_until_expired(provider: RunningProvider, token: str) -> None:
    with anyio.fail_after(15):
        while (await provider.introspect(token)).get("active"):
            await anyio.sleep(0.2)


async def signed_in_with_short_upstream_token(stack: Stack) -> str:
    """Sign in (2 s upstream tokens), make one call; the client's MCP access token."""
    await stack.provider.set_access_token_ttl(2)
    user = OAuthUser()
    async with user.client(stack.mcp_url) as client:
        assert not (await client.call_tool("list_notes", {})).is_error
    assert user.storage.tokens is not None
    return user.storage.tokens.access_token


@pytest.mark.parametrize("mode", GENERATIONS)
async def test_full_flow_and_tool_calls(stack: Stack, mode: str) -> None:
    user = OAuthUser()
    async with user.client(stack.mcp_url, mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        created = await client.call_tool("create_note", {"title": "Groceries"})
        listed = await client.call_tool("list_notes", {})
    assert names == {"list_notes", "create_note", "delete_note"}
    assert not created.is_error, created.content
    assert '"title":"Groceries"' in listed.content[0].text  # type: ignore[union-attr]
    assert user.browser.consent_pages == 1
    # The API saw the upstream token, never mcpbuild's own.
    assert user.storage.tokens is not None
    mcp_token = user.storage.tokens.access_token
    upstream_tokens = set(stack.notes.bearer_tokens())
    assert len(upstream_tokens) == 1
    assert mcp_token not in upstream_tokens
    assert (await stack.provider.introspect(upstream_tokens.pop()))["active"] is True
    stats = await stack.provider.stats()
    assert stats["token_requests"]["authorization_code"] == 1


async def test_mcp_without_token_is_a_401_challenge(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            stack.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
        )
        prm = await http.get(stack.base + "/.well-known/oauth-protected-resource/mcp")
        meta = await http.get(stack.base + "/.well-known/oauth-authorization-server")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{stack.base}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert prm.json()["resource"] == stack.mcp_url
    assert prm.json()["authorization_servers"] == [stack.base + "/"] or prm.json()[
        "authorization_servers"
    ] == [stack.base]
    metadata = meta.json()
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["registration_endpoint"] == stack.base + "/register"


async def test_expired_upstream_token_is_refreshed_exactly_once(stack: Stack) -> None:
    await stack.provider.set_access_token_ttl(2)
    user = OAuthUser()
    async with user.client(stack.mcp_url) as client:
        first = await client.call_tool("list_notes", {})
        assert not first.is_error
        await wait_until_expired(stack.provider, stack.notes.bearer_tokens()[-1])
        second = await client.call_tool("list_notes", {})
    assert not second.is_error, second.content
    stats = await stack.provider.stats()
    assert stats["token_requests"]["refresh_token"] == 1
    assert len(set(stack.notes.bearer_tokens())) == 2


async def test_twenty_concurrent_calls_after_expiry_cause_one_refresh(stack: Stack) -> None:
    token = await signed_in_with_short_upstream_token(stack)
    await wait_until_expired(stack.provider, stack.notes.bearer_tokens()[-1])
    statuses: list[tuple[int, bool]] = []

    async def call(i: int, http: httpx.AsyncClient) -> None:
        response = await raw_tool_call(http, stack.mcp_url, token, "list_notes", i)
        statuses.append((response.status_code, bool(response.json()["result"].get("isError"))))

    async with httpx.AsyncClient(timeout=30) as http, anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(call, i, http)
    assert statuses == [(200, False)] * 20
    stats = await stack.provider.stats()
    assert stats["token_requests"]["refresh_token"] == 1


async def test_restart_loses_no_grant(provider: RunningProvider, tmp_path: Path) -> None:
    user = OAuthUser()
    key_store = tmp_path / "s.db"
    async with notes_api(provider) as notes:
        async with mcpbuild(provider, notes, key_store) as first:
            port = first.options.port
            key = first.env["MCPBUILD_SECRET_KEY"]
            async with user.client(first.mcp_url) as client:
                assert not (await client.call_tool("create_note", {"title": "kept"})).is_error
        async with (
            mcpbuild(provider, notes, key_store, port=port, key=key) as second,
            user.client(second.mcp_url) as client,
        ):
            listed = await client.call_tool("list_notes", {})
    assert not listed.is_error, listed.content
    assert "kept" in listed.content[0].text  # type: ignore[union-attr]
    assert user.browser.consent_pages == 1  # no second sign-in


async def test_missing_scope_is_a_403_step_up_without_upstream_call(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        raw = RawClient(stack.base, http)
        registered = await raw.register()
        code, verifier = await raw.code(scope="notes.read")
        tokens = (await raw.exchange(code, verifier)).json()
        assert tokens["scope"] == "notes.read"
        before = stack.notes.requests
        response = await http.post(
            stack.mcp_url,
            headers={
                "Authorization": f"Bearer {tokens['access_token']}",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "create_note", "arguments": {"title": "x"}},
            },
        )
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="notes.read notes.write"' in challenge
    assert stack.notes.requests == before
    # The SDK client, holding that narrow token, steps up: it re-authorizes with the scopes
    # the challenge names, in the same browser (so the same user and session), and the
    # call goes through.
    user = OAuthUser(browser=raw.browser)
    user.storage.client_info = OAuthClientInformationFull.model_validate(registered.json())
    user.storage.tokens = OAuthToken.model_validate(tokens)
    async with user.client(stack.mcp_url) as client:
        assert not (await client.call_tool("list_notes", {})).is_error
        created = await client.call_tool("create_note", {"title": "after step-up"})
    assert not created.is_error, created.content
    assert user.browser.consent_pages == 2
    assert user.storage.tokens.scope == "notes.read notes.write"


async def test_read_only_mode_hides_and_refuses_writes(
    provider: RunningProvider, tmp_path: Path
) -> None:
    user = OAuthUser()
    async with (
        notes_api(provider) as notes,
        mcpbuild(provider, notes, tmp_path / "s.db", read_only=True) as stack,
        user.client(stack.mcp_url) as client,
    ):
        names = {t.name for t in (await client.list_tools()).tools}
        refused = await client.call_tool("create_note", {"title": "x"})
    assert names == {"list_notes"}
    assert refused.is_error
    assert user.storage.tokens is not None
    assert user.storage.tokens.scope == "notes.read"
    assert notes[0].counts["POST /api/notes"] == 0


async def test_revoked_upstream_grant_becomes_a_401_challenge(stack: Stack) -> None:
    token = await signed_in_with_short_upstream_token(stack)
    assert await stack.provider.revoke_user("alice") >= 1
    await wait_until_expired(stack.provider, stack.notes.bearer_tokens()[-1])
    async with httpx.AsyncClient() as http:
        ended = await raw_tool_call(http, stack.mcp_url, token, "list_notes")
        after = await raw_tool_call(http, stack.mcp_url, token, "list_notes")
    assert ended.status_code == 200
    assert "reconnect to sign in again" in ended.json()["result"]["content"][0]["text"]
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["www-authenticate"]


async def test_no_token_or_secret_in_logs(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await stack.provider.set_access_token_ttl(2)
    user = OAuthUser()
    async with user.client(stack.mcp_url) as client:
        await client.call_tool("list_notes", {})
        await wait_until_expired(stack.provider, stack.notes.bearer_tokens()[-1])
        await client.call_tool("create_note", {"title": "x"})
        await client.call_tool("delete_note", {"note_id": "does-not-exist"})
    assert user.storage.tokens is not None
    secrets = {
        user.storage.tokens.access_token,
        user.storage.tokens.refresh_token or "",
        stack.provider.client_secret,
        stack.env["MCPBUILD_SECRET_KEY"],
        *stack.notes.bearer_tokens(),
    }
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    leaked = [s[:6] for s in secrets if s and s in text]
    assert leaked == []


async def test_upstream_401_before_expiry_triggers_one_refresh(stack: Stack) -> None:
    user = OAuthUser()
    async with user.client(stack.mcp_url) as client:
        assert not (await client.call_tool("list_notes", {})).is_error
        upstream_token = stack.notes.bearer_tokens()[-1]
        stack.notes.refuse_once.add(upstream_token)  # 401 although it has not expired
        again = await client.call_tool("list_notes", {})
    assert not again.is_error, again.content
    assert (await stack.provider.stats())["token_requests"]["refresh_token"] == 1
    tokens = stack.notes.bearer_tokens()
    assert tokens[-2] == upstream_token  # refused with 401 ...
    assert tokens[-1] != upstream_token  # ... then retried once with the refreshed token
