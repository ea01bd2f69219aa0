"""The holes a security review found, each replayed from outside against the real stack:
the callback bound to the approving browser, the scope gate decided on what the SDK
dispatches, sessions bound to the user, and /authorize errors that are no open redirect."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from builder.connector import load_connector
from builder.server.http import build_app, transport_security
from builder.server.serve import ServeOptions, open_connector
from builder.state.crypto import generate_key
from tests.auth.stack import SPEC, Stack, mcpbuild, notes_api, spec_env
from tests.jsonrpc import open_session
from tests.oauth_client import Browser, RawClient, pkce, raw_tool_call
from tests.provider_fixture import RunningProvider
from tests.servers import running

pytestmark = pytest.mark.anyio

ATTACKER_REDIRECT = "https://attacker.example/cb"
LEGACY = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


async def read_token(stack: Stack, http: httpx.AsyncClient, browser: Browser) -> dict[str, str]:
    """A user's token with only ``notes.read``, from a client of their own."""
    raw = RawClient(stack.base, http, browser=browser)
    assert (await raw.register()).status_code == 201
    code, verifier = await raw.code(scope="notes.read")
    tokens: dict[str, str] = (await raw.exchange(code, verifier)).json()
    assert tokens["scope"] == "notes.read"
    return tokens


# 1. The provider's callback belongs to the browser that approved consent.


async def test_provider_url_sent_to_a_victim_binds_nothing(
    stack: Stack, provider: RunningProvider
) -> None:
    async with httpx.AsyncClient(timeout=15) as attacker:
        registered = await attacker.post(
            stack.base + "/register",
            json={
                "client_name": "totally legit",
                "redirect_uris": [ATTACKER_REDIRECT],
                "token_endpoint_auth_method": "none",
            },
        )
        assert registered.status_code == 201
        client_id = registered.json()["client_id"]
        _, challenge = pkce()
        authorize = await attacker.get(
            stack.base + "/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": ATTACKER_REDIRECT,
                "scope": "notes.read notes.write",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        consent_url = urljoin(stack.base, authorize.headers["location"])
        page = await attacker.get(consent_url)
        form = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text))
        approved = await attacker.post(
            stack.base + "/consent", data={**form, "decision": "approve"}
        )
        assert approved.status_code == 303
        provider_url = approved.headers["location"]  # the attacker stops here
    await provider.reset_stats()
    async with httpx.AsyncClient(timeout=15) as victim:  # a browser with no mcpbuild cookie
        url = provider_url
        for _ in range(10):
            response = await victim.get(url)
            if response.status_code not in (302, 303):
                break
            url = urljoin(url, response.headers["location"])
            assert not url.startswith(ATTACKER_REDIRECT)
    assert url.startswith(stack.base + "/oauth/callback")
    assert response.status_code == 403
    assert "did not come back to the browser that approved" in response.text
    stats = await provider.stats()
    assert stats["token_requests"].get("authorization_code", 0) == 0  # no code exchanged
    # The pending sign-in is over: the attacker cannot finish it either.
    async with httpx.AsyncClient(timeout=15) as again:
        assert (await again.get(url)).status_code == 400


async def test_callback_with_a_wrong_binding_cookie_is_refused(stack: Stack) -> None:
    browser = Browser()
    async with httpx.AsyncClient(timeout=15) as http:
        raw = RawClient(stack.base, http, browser=browser)
        assert (await raw.register()).status_code == 201
        _, challenge = pkce()
        jar = httpx.Cookies()
        async with httpx.AsyncClient(timeout=15, cookies=jar) as own:
            authorize = await own.get(raw.authorize_url(challenge, "notes.read"))
            page = await own.get(urljoin(stack.base, authorize.headers["location"]))
            form = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text))
            approved = await own.post(stack.base + "/consent", data={**form, "decision": "approve"})
            cookie = next(c for c in own.cookies.jar if c.name.startswith("mcpbuild_signin_"))
            own.cookies.set(cookie.name, "x" * len(cookie.value or ""), domain=cookie.domain)
            url = approved.headers["location"]
            while True:
                response = await own.get(url)
                if response.status_code not in (302, 303):
                    break
                url = urljoin(url, response.headers["location"])
    assert response.status_code == 403


# 2. The per-tool scope gate decides on the message the SDK dispatches.


async def _session(http: httpx.AsyncClient, stack: Stack, token: str) -> str:
    return await open_session(http, stack.mcp_url, {**LEGACY, "Authorization": f"Bearer {token}"})


def _create_note(name: str = "create_note") -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": name, "arguments": {"title": "pwned"}},
    }


async def test_mcp_method_header_on_a_2025_request_does_not_skip_the_check(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        token = (await read_token(stack, http, Browser()))["access_token"]
        session = await _session(http, stack, token)
        before = stack.notes.requests
        response = await http.post(
            stack.mcp_url,
            headers={
                **LEGACY,
                "Authorization": f"Bearer {token}",
                "Mcp-Session-Id": session,
                "Mcp-Method": "ping",
            },
            json=_create_note(),
        )
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert stack.notes.requests == before


async def test_json_escaped_method_does_not_skip_the_check(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        token = (await read_token(stack, http, Browser()))["access_token"]
        session = await _session(http, stack, token)
        before = stack.notes.requests
        body = (
            b'{"jsonrpc":"2.0","id":3,"method":"tools\\/call",'
            b'"params":{"name":"create_\\u006eote","arguments":{"title":"pwned"}}}'
        )
        response = await http.post(
            stack.mcp_url,
            headers={
                **LEGACY,
                "Authorization": f"Bearer {token}",
                "Mcp-Session-Id": session,
                "Content-Type": "application/json",
            },
            content=body,
        )
    assert response.status_code == 403
    assert stack.notes.requests == before


async def test_rfc2047_encoded_mcp_name_does_not_skip_the_check(stack: Stack) -> None:
    encoded = "=?base64?" + base64.b64encode(b"create_note").decode() + "?="
    async with httpx.AsyncClient(timeout=15) as http:
        token = (await read_token(stack, http, Browser()))["access_token"]
        before = stack.notes.requests
        body = _create_note()
        body["params"]["_meta"] = {  # type: ignore[index]
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        for name_header in (encoded, "list_notes"):
            response = await http.post(
                stack.mcp_url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": "2026-07-28",
                    "Mcp-Method": "tools/call",
                    "Mcp-Name": name_header,
                },
                json=body,
            )
            # Decided on the body: 403 whatever the header says (a mismatch is refused).
            assert response.status_code in (400, 403), response.text
    assert stack.notes.requests == before


async def test_without_the_gate_the_handler_still_refuses(
    stack: Stack, provider: RunningProvider, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The second check: even an /mcp with no gate in front never calls the upstream for
    a tool whose scopes the caller has not been granted."""
    options = ServeOptions(store=f"sqlite:///{tmp_path_factory.mktemp('nogate') / 's.db'}")
    env = {
        **spec_env(provider, stack.env["NOTES_URL"]),
        "MCPBUILD_SECRET_KEY": stack.env["MCPBUILD_SECRET_KEY"],
    }
    served = open_connector(load_connector(str(SPEC)), options, env)
    app = build_app(served.server, security=transport_security("127.0.0.1"))
    before = stack.notes.requests
    async with running(app) as url, httpx.AsyncClient(timeout=15) as http:
        response = await http.post(
            url + "/mcp",
            headers={
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tools/call",
                "Mcp-Name": "create_note",
            },
            json={
                **_create_note(),
                "params": {
                    "name": "create_note",
                    "arguments": {"title": "x"},
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {},
                    },
                },
            },
        )
    await served.client.aclose()
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["isError"] is True
    assert "needs scope notes.write" in result["content"][0]["text"]
    assert stack.notes.requests == before


# 6. A session belongs to the user who opened it, not only to the client.


async def test_second_user_of_the_same_client_cannot_use_anothers_session(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        alice = RawClient(stack.base, http, browser=Browser())
        assert (await alice.register()).status_code == 201
        bob = RawClient(stack.base, http, browser=Browser(), client_id=alice.client_id)
        tokens = []
        for user in (alice, bob):
            code, verifier = await user.code(scope="notes.read")
            tokens.append((await user.exchange(code, verifier)).json()["access_token"])
        session = await _session(http, stack, tokens[0])
        ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
        own = await http.post(
            stack.mcp_url,
            headers={**LEGACY, "Authorization": f"Bearer {tokens[0]}", "Mcp-Session-Id": session},
            json=ping,
        )
        other = await http.post(
            stack.mcp_url,
            headers={**LEGACY, "Authorization": f"Bearer {tokens[1]}", "Mcp-Session-Id": session},
            json=ping,
        )
    assert own.status_code == 200
    assert other.status_code == 404


# 4. /authorize errors: `iss` on every one, and no automatic redirect to a new client.


async def test_authorize_error_for_an_unused_client_is_a_page_not_a_redirect(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        raw = RawClient(stack.base, http)
        assert (await raw.register([ATTACKER_REDIRECT])).status_code == 201
        raw.browser.redirect_uri = ATTACKER_REDIRECT
        _, challenge = pkce()
        response = await http.get(raw.authorize_url(challenge, "no.such.scope"))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "attacker.example" in response.text
    link = re.search(r'href="([^"]+)"', response.text)
    assert link is not None
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["error"] == ["invalid_scope"]
    assert query["iss"] == [stack.base + "/"] or query["iss"] == [stack.base]


async def test_authorize_error_for_a_used_client_redirects_with_iss(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        raw = RawClient(stack.base, http)
        assert (await raw.register()).status_code == 201
        await raw.code(scope="notes.read")  # the client has been used once
        _, challenge = pkce()
        response = await http.get(raw.authorize_url(challenge, "no.such.scope"))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_scope"]
    assert query["state"] == ["st-1"]
    assert "iss" in query


async def test_step_up_beyond_the_registered_scope_is_allowed(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        raw = RawClient(stack.base, http)
        registered = await http.post(
            stack.base + "/register",
            json={
                "client_name": "narrow",
                "redirect_uris": [raw.browser.redirect_uri],
                "token_endpoint_auth_method": "none",
                "scope": "notes.read",
            },
        )
        raw.client_id = registered.json()["client_id"]
        code, verifier = await raw.code(scope="notes.read notes.write")
        tokens = (await raw.exchange(code, verifier)).json()
    assert tokens["scope"] == "notes.read notes.write"


# A grant the key cannot open (the key changed) ends cleanly.


async def test_changed_key_ends_the_grant_and_sends_the_client_back(
    provider: RunningProvider, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = tmp_path_factory.mktemp("rekey") / "s.db"
    async with notes_api(provider) as notes, httpx.AsyncClient(timeout=15) as http:
        async with mcpbuild(provider, notes, store, key=generate_key()) as first:
            token = (await read_token(first, http, Browser()))["access_token"]
            port = int(first.base.rsplit(":", 1)[1])
        async with mcpbuild(provider, notes, store, key=generate_key(), port=port) as second:
            response = await raw_tool_call(http, second.mcp_url, token, "list_notes")
            # The tool call is answered with the 401 challenge itself (clients act on a
            # 401; a tool error is read only by the model), and so is everything after.
            assert response.status_code == 401, response.text
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
            assert "sign in again" in response.json()["error_description"]
            again = await raw_tool_call(http, second.mcp_url, token, "list_notes")
            assert again.status_code == 401
