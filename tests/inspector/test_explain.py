"""Auth failures explained in one sentence, in the log and in the inspector: a request
without its Authorization header, an upstream 401, a refresh refused with invalid_grant, a
redirect URI mismatch at the provider, and a callback without the consent cookie."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from builder.explain import upstream_invalid_grant
from tests.auth.stack import Stack
from tests.inspector.conftest import inspected
from tests.inspector.test_api import API, grant_id, sign_in
from tests.jsonrpc import INITIALIZE
from tests.oauth_client import RawClient, pkce, raw_tool_call
from tests.provider_fixture import RunningProvider

pytestmark = pytest.mark.anyio


def explained(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mcpbuild.explain"]


def shown(stack: Stack, grant: str) -> list[str]:
    """The inspector's ``explain`` lines for ``grant``."""
    assert stack.served.inspector is not None
    recent = stack.served.inspector.events.recent(grant)
    return [e.data["text"] for e in recent if e.kind == "explain"]


async def test_missing_authorization_in_a_session(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        user = await sign_in(stack, http, "alice")
        headers = {"Accept": "application/json, text/event-stream"}
        opened = await http.post(
            stack.mcp_url,
            headers={**headers, **user.bearer},
            json=INITIALIZE,
        )
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        # A first request without a token is how discovery starts: nothing to explain.
        assert (await http.post(stack.mcp_url, headers=headers, json={})).status_code == 401
        assert explained(caplog) == []
        lost = await http.post(
            stack.mcp_url,
            headers={**headers, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"},
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        )
        assert lost.status_code == 401
        grant = await grant_id(stack, user)
    [sentence] = explained(caplog)
    assert "without an Authorization header" in sentence
    assert "proxy" in sentence
    assert shown(stack, grant) == [sentence]


async def test_upstream_401(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    assert stack.served.oauth is not None
    async with httpx.AsyncClient(timeout=15) as http:
        user = await sign_in(stack, http, "alice")
        grant = await grant_id(stack, user)
        record = await stack.served.oauth.server.store.get_grant(grant)
        assert record is not None
        upstream = stack.served.oauth.grants.cipher.decrypt(record.access_token, context=grant)
        stack.notes.refuse_once.add(upstream)
        called = await raw_tool_call(http, stack.mcp_url, user.access, "list_notes")
        assert called.is_success
        assert '"isError":true' not in called.text.replace(" ", "")
    [sentence] = explained(caplog)
    assert sentence.startswith("The API at 127.0.0.1:")
    assert "answered a tool call with 401" in sentence
    assert shown(stack, grant) == [sentence]
    # The 401 made mcpbuild refresh once and try again.
    assert stack.served.inspector is not None
    assert stack.served.inspector.events.stats(grant).refreshes == 1


async def test_refresh_refused_with_invalid_grant(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        user = await sign_in(stack, http, "alice")
        grant = await grant_id(stack, user)
        assert await stack.provider.revoke_user("alice") >= 1
        assert (await http.post(stack.base + API + "expire", headers=user.bearer)).is_success
        called = await raw_tool_call(http, stack.mcp_url, user.access, "list_notes")
        assert called.status_code == 401  # the sign-in with the provider has ended
    [sentence] = explained(caplog)
    assert "refused to refresh" in sentence
    assert "invalid_grant" in sentence
    assert shown(stack, grant) == [sentence]
    assert stack.served.inspector is not None
    stats = stack.served.inspector.events.stats(grant)
    assert (stats.refreshes, stats.last_refresh_error) == (0, "invalid_grant")


async def _to_provider(stack: Stack, http: httpx.AsyncClient) -> tuple[RawClient, str]:
    """A sign-in approved on the consent page, stopped before the provider: the client and
    the ``state`` mcpbuild sent upstream."""
    raw = RawClient(stack.base, http)
    assert (await raw.register()).status_code == 201
    _, challenge = pkce()
    started = await http.get(raw.authorize_url(challenge, "notes.read"))
    consent = await http.get(urljoin(stack.base, started.headers["location"]))
    form = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', consent.text))
    approved = await http.post(stack.base + "/consent", data={**form, "decision": "approve"})
    assert approved.status_code == 303
    upstream = parse_qs(urlsplit(approved.headers["location"]).query)
    return raw, upstream["state"][0]


async def test_redirect_uri_mismatch(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        raw, state = await _to_provider(stack, http)
        answer = await http.get(
            stack.base + "/oauth/callback",
            params={"state": state, "error": "redirect_uri_mismatch"},
        )
        assert answer.status_code == 302
        assert "error=server_error" in answer.headers["location"]
        asked = {"client_id": raw.client_id, "state": "st-1"}
        problem = await http.post(stack.base + API + "sign-in-problem", json=asked)
        again = await http.post(stack.base + API + "sign-in-problem", json=asked)
        other = await http.post(
            stack.base + API + "sign-in-problem", json={**asked, "state": "guess"}
        )
    [sentence] = explained(caplog)
    assert f"{stack.base}/oauth/callback, is not registered" in sentence
    assert problem.json() == {"problem": sentence}
    assert again.json() == {"problem": None}
    assert other.json() == {"problem": None}


async def test_consent_cookie_missing(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        raw, state = await _to_provider(stack, http)
        async with httpx.AsyncClient(timeout=15) as elsewhere:  # another browser
            answer = await elsewhere.get(
                stack.base + "/oauth/callback", params={"state": state, "code": "x"}
            )
        assert answer.status_code == 403
        problem = await http.post(
            stack.base + API + "sign-in-problem",
            json={"client_id": raw.client_id, "state": "st-1"},
        )
    [sentence] = explained(caplog)
    assert "without the cookie set when consent was approved" in sentence
    assert "localhost is not 127.0.0.1" in sentence
    assert problem.json() == {"problem": sentence}


@pytest.fixture
async def plain(provider: RunningProvider, tmp_path: Path) -> AsyncIterator[Stack]:
    """The same stack served without the inspector."""
    async with inspected(provider, tmp_path / "s.db", inspector=False) as s:
        yield s


async def test_upstream_failures_are_explained_without_the_inspector(
    plain: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    assert plain.served.inspector is None
    assert plain.served.oauth is not None
    store = plain.served.oauth.server.store
    async with httpx.AsyncClient(timeout=15) as http:
        user = await sign_in(plain, http, "alice")
        grant = await grant_id(plain, user)
        record = await store.get_grant(grant)
        assert record is not None
        upstream = plain.served.oauth.grants.cipher.decrypt(record.access_token, context=grant)
        plain.notes.refuse_once.add(upstream)
        assert (await raw_tool_call(http, plain.mcp_url, user.access, "list_notes")).is_success
        [unauthorized] = explained(caplog)
        assert "answered a tool call with 401" in unauthorized
        # Revoked at the provider, then due for a refresh: the refresh is refused.
        assert await plain.provider.revoke_user("alice") >= 1
        assert await plain.served.oauth.grants.expire_now(grant)
        called = await raw_tool_call(http, plain.mcp_url, user.access, "list_notes")
        assert called.status_code == 401
    assert explained(caplog)[1:] == [upstream_invalid_grant("invalid_grant")]
