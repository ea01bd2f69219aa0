"""The official MCP SDK client with its OAuth provider, driven headlessly.

The redirect handler plays the browser: it follows redirects with httpx from our
/authorize, through our consent page (submitted like a person would, with its cookie and
CSRF field), to the provider (which signs the test user in automatically, or, for the
demo notes service, shows a sign-in form it submits) and back, and stops at the client's
own redirect URI, whose code and state the callback handler returns.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

REDIRECT_URI = "http://127.0.0.1:33418/callback"


@dataclass
class MemoryStorage(TokenStorage):
    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Browser:
    """Follows an authorization request to the client's redirect URI."""

    redirect_uri: str = REDIRECT_URI
    approve: bool = True
    visited: list[str] = field(default_factory=list)
    result: dict[str, str] = field(default_factory=dict)
    consent_pages: int = 0
    sign_in_pages: int = 0  # the demo notes service's sign-in form (builder/demo)
    # Kept across sign-ins, as a real browser keeps its cookies.
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)

    async def run(self, url: str) -> dict[str, str]:
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=15, cookies=self.cookies
        ) as http:
            try:
                return await self._follow(http, url)
            finally:
                self.cookies = httpx.Cookies(http.cookies)

    async def _follow(self, http: httpx.AsyncClient, url: str) -> dict[str, str]:
        if True:
            for _ in range(20):
                self.visited.append(url)
                if url.startswith(self.redirect_uri):
                    query = parse_qs(urlsplit(url).query)
                    self.result = {k: v[0] for k, v in query.items()}
                    return self.result
                response = await http.get(url)
                if response.status_code in (301, 302, 303, 307, 308):
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code == 200 and 'action="/consent"' in response.text:
                    self.consent_pages += 1
                    form = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', response.text))
                    form["decision"] = "approve" if self.approve else "deny"
                    answer = await http.post(urljoin(url, "/consent"), data=form)
                    assert answer.status_code in (302, 303), answer.text
                    url = urljoin(url, answer.headers["location"])
                    continue
                if response.status_code == 200 and "data-demo-sign-in" in response.text:
                    self.sign_in_pages += 1
                    inputs = re.findall(
                        r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', response.text
                    )
                    form = {k: html.unescape(v) for k, v in inputs}
                    form["decision"] = "approve" if self.approve else "deny"
                    answer = await http.post(urljoin(url, "/oauth/authorize"), data=form)
                    assert answer.status_code in (302, 303), answer.text
                    url = urljoin(url, answer.headers["location"])
                    continue
                raise AssertionError(
                    f"unexpected {response.status_code} at {url}: {response.text[:300]}"
                )
        raise AssertionError("too many redirects")


@dataclass
class OAuthUser:
    """One MCP client identity with its token storage and browser."""

    scope: str | None = None
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    browser: Browser = field(default_factory=Browser)
    client_metadata_url: str | None = None  # identify by a metadata document, not DCR

    def provider(self, server_url: str) -> OAuthClientProvider:
        async def redirect_handler(url: str) -> None:
            await self.browser.run(url)

        async def callback_handler() -> AuthorizationCodeResult:
            result = self.browser.result
            if "error" in result:
                raise RuntimeError(f"authorization failed: {result['error']}")
            return AuthorizationCodeResult(
                code=result["code"], state=result.get("state"), iss=result.get("iss")
            )

        metadata = OAuthClientMetadata(
            client_name="mcpbuild test client",
            redirect_uris=[self.browser.redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope=self.scope,
        )
        return OAuthClientProvider(
            server_url,
            metadata,
            self.storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
            client_metadata_url=self.client_metadata_url,
        )

    @contextlib.asynccontextmanager
    async def client(
        self, mcp_url: str, *, mode: Any = "legacy", event_hooks: dict[str, Any] | None = None
    ) -> AsyncIterator[Client]:
        async with (
            httpx2.AsyncClient(
                auth=self.provider(mcp_url), timeout=30, event_hooks=event_hooks
            ) as http,
            Client(streamable_http_client(mcp_url, http_client=http), mode=mode) as client,
        ):
            yield client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class RawClient:
    """A hand-driven OAuth client of mcpbuild, for the cases the SDK client would not make:
    reused codes, wrong verifiers, reused refresh tokens, odd redirect URIs."""

    base: str
    http: httpx.AsyncClient
    browser: Browser = field(default_factory=Browser)
    client_id: str = ""

    async def register(self, redirect_uris: list[str] | None = None) -> httpx.Response:
        response = await self.http.post(
            self.base + "/register",
            json={
                "client_name": "raw test client",
                "redirect_uris": redirect_uris or [self.browser.redirect_uri],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            },
        )
        if response.status_code == 201:
            self.client_id = response.json()["client_id"]
        return response

    def authorize_url(self, challenge: str, scope: str, **extra: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.browser.redirect_uri,
            "scope": scope,
            "state": "st-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": self.base + "/mcp",
            **extra,
        }
        return f"{self.base}/authorize?{urlencode(params)}"

    async def code(self, scope: str = "notes.read notes.write") -> tuple[str, str]:
        """A fresh authorization code and its PKCE verifier."""
        verifier, challenge = pkce()
        result = await self.browser.run(self.authorize_url(challenge, scope))
        assert result.get("state") == "st-1", result
        return result["code"], verifier

    async def token(self, **form: str) -> httpx.Response:
        return await self.http.post(
            self.base + "/token", data={"client_id": self.client_id, **form}
        )

    async def exchange(self, code: str, verifier: str) -> httpx.Response:
        return await self.token(
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
            redirect_uri=self.browser.redirect_uri,
            resource=self.base + "/mcp",
        )


async def raw_tool_call(
    http: httpx.AsyncClient,
    mcp_url: str,
    token: str,
    name: str,
    call_id: int = 1,
    arguments: dict[str, Any] | None = None,
) -> httpx.Response:
    """One stateless 2026-07-28 ``tools/call`` with a bearer token, by hand (the SDK client
    serialises requests while its OAuth lock is held)."""
    return await http.post(
        mcp_url,
        headers={
            "Authorization": f"Bearer {token}",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": name,
            "Accept": "application/json, text/event-stream",
        },
        json={
            "jsonrpc": "2.0",
            "id": call_id,
            "method": "tools/call",
            "params": {
                "name": name,
                "arguments": arguments or {},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        },
    )
