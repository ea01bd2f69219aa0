"""What the authorization server must refuse, driven by hand against the real stack."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth.stack import Stack
from tests.oauth_client import RawClient, pkce, raw_tool_call

pytestmark = pytest.mark.anyio


@pytest.fixture
async def raw(stack: Stack) -> AsyncIterator[RawClient]:
    async with httpx.AsyncClient(timeout=15) as http:
        client = RawClient(stack.base, http)
        assert (await client.register()).status_code == 201
        yield client


def refused_with(response: httpx.Response) -> str:
    """The error of an /authorize refusal for a client never used before: a page whose
    link back carries the error and our ``iss`` (no automatic redirect)."""
    assert response.status_code == 400
    assert "location" not in response.headers
    link = re.search(r'href="([^"]+)"', response.text)
    assert link is not None, response.text
    query = parse_qs(urlsplit(html.unescape(link.group(1))).query)
    assert "iss" in query
    return query["error"][0]


async def tool_call(stack: Stack, http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await raw_tool_call(http, stack.mcp_url, token, "list_notes")


async def test_wrong_pkce_verifier_is_refused(raw: RawClient) -> None:
    code, _ = await raw.code()
    wrong, _ = pkce()
    response = await raw.exchange(code, wrong)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "incorrect code_verifier",
    }


@pytest.mark.parametrize(
    "uri",
    ["http://evil.example.com/callback", "myapp://callback", "https://ok.example.com/cb#frag"],
)
async def test_non_https_redirect_uris_cannot_register(stack: Stack, uri: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await RawClient(stack.base, http).register([uri])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


async def test_unregistered_redirect_uri_is_refused_without_redirect(raw: RawClient) -> None:
    _, challenge = pkce()
    url = raw.authorize_url(challenge, "notes.read", redirect_uri="http://127.0.0.1:1/other")
    response = await raw.http.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not registered" in response.text


async def test_authorize_without_pkce_is_refused(raw: RawClient) -> None:
    url = raw.authorize_url("x", "notes.read").replace("code_challenge=x&", "")
    response = await raw.http.get(url)
    assert refused_with(response) == "invalid_request"


async def test_plain_pkce_is_refused(raw: RawClient) -> None:
    _, challenge = pkce()
    url = raw.authorize_url(challenge, "notes.read", code_challenge_method="plain")
    response = await raw.http.get(url)
    assert refused_with(response) == "invalid_request"


async def test_forged_state_on_the_callback_is_refused(stack: Stack, raw: RawClient) -> None:
    before = (await stack.provider.stats())["token_requests"]["authorization_code"]
    response = await raw.http.get(stack.base + "/oauth/callback?code=stolen&state=forged")
    assert response.status_code == 400
    assert "does not match any request" in response.text
    after = (await stack.provider.stats())["token_requests"]["authorization_code"]
    assert after == before


async def test_callback_state_is_single_use(stack: Stack, raw: RawClient) -> None:
    _, challenge = pkce()
    raw.browser.visited.clear()
    await raw.browser.run(raw.authorize_url(challenge, "notes.read"))
    callback = next(u for u in raw.browser.visited if "/oauth/callback?" in u)
    replay = await raw.http.get(callback)
    assert replay.status_code == 400


async def test_consent_without_its_cookie_is_refused(stack: Stack, raw: RawClient) -> None:
    _, challenge = pkce()
    first = await raw.http.get(raw.authorize_url(challenge, "notes.read"))
    consent_url = first.headers["location"]
    page = await raw.http.get(consent_url)
    assert page.headers["x-frame-options"] == "DENY"
    form = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text))
    async with httpx.AsyncClient() as attacker:  # no cookie: a cross-site form post
        answer = await attacker.post(stack.base + "/consent", data={**form, "decision": "approve"})
    assert answer.status_code == 403


async def test_denied_consent_returns_access_denied(raw: RawClient) -> None:
    raw.browser.approve = False
    _, challenge = pkce()
    result = await raw.browser.run(raw.authorize_url(challenge, "notes.read"))
    assert result["error"] == "access_denied"
    assert result["state"] == "st-1"


async def test_unknown_resource_is_refused(raw: RawClient) -> None:
    _, challenge = pkce()
    url = raw.authorize_url(challenge, "notes.read", resource="https://other.example.com/mcp")
    response = await raw.http.get(url)
    assert refused_with(response) == "invalid_target"


async def test_revoke_ends_the_grant(stack: Stack, raw: RawClient) -> None:
    code, verifier = await raw.code()
    tokens = (await raw.exchange(code, verifier)).json()
    revoked = await raw.http.post(
        stack.base + "/revoke",
        data={"token": tokens["refresh_token"], "client_id": raw.client_id, "client_secret": ""},
    )
    assert revoked.status_code == 200
    assert (await tool_call(stack, raw.http, tokens["access_token"])).status_code == 401


async def test_a_public_client_revokes_with_its_client_id_alone(
    stack: Stack, raw: RawClient
) -> None:
    """RFC 7009 2.1: no client_secret field at all (the SDK alone would answer 400)."""
    code, verifier = await raw.code()
    tokens = (await raw.exchange(code, verifier)).json()
    other = RawClient(stack.base, raw.http)
    assert (await other.register()).status_code == 201
    # Another client cannot revoke it: the token stays usable.
    await raw.http.post(
        stack.base + "/revoke", data={"token": tokens["access_token"], "client_id": other.client_id}
    )
    assert (await tool_call(stack, raw.http, tokens["access_token"])).status_code == 200
    revoked = await raw.http.post(
        stack.base + "/revoke", data={"token": tokens["access_token"], "client_id": raw.client_id}
    )
    assert revoked.status_code == 200, revoked.text
    assert (await tool_call(stack, raw.http, tokens["access_token"])).status_code == 401
