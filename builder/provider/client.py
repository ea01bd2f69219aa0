"""The OAuth 2.0 client toward the provider (Authorization Code with PKCE), on Authlib."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from builder.connector.resolved import ResolvedProvider
from builder.errors import ProviderError

# ProviderError is defined in builder.errors, with the rest of the tree; re-exported here.
__all__ = ["ProviderError", "UpstreamOAuth", "UpstreamTokens"]


@dataclass(frozen=True)
class UpstreamTokens:
    """What the provider's token endpoint returned."""

    access_token: str
    refresh_token: str | None
    expires_at: float | None
    scopes: list[str] | None


class UpstreamOAuth:
    """mcpbuild as a confidential client of the provider, with one redirect URI."""

    def __init__(
        self,
        provider: ResolvedProvider,
        redirect_uri: str,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider.spec
        self.redirect_uri = redirect_uri
        self.client_id = provider.client_id
        self.client_secret = provider.client_secret
        self.authorization_url = provider.authorization_url
        self.token_url = provider.token_url
        self._timeout = timeout
        self._transport = transport

    def _client(self) -> AsyncOAuth2Client:
        kwargs: dict[str, Any] = {"timeout": self._timeout, "trust_env": False}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.provider.token_endpoint_auth_method,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256" if self.provider.pkce else None,
            **kwargs,
        )

    def authorization_request(self, scopes: list[str]) -> tuple[str, str, str | None]:
        """The URL to send the user to, its ``state`` and the PKCE verifier."""
        state = secrets.token_urlsafe(32)
        verifier = generate_token(64) if self.provider.pkce else None
        client = self._client()
        url, _ = client.create_authorization_url(
            self.authorization_url,
            state=state,
            code_verifier=verifier,
            scope=self.provider.scope_separator.join(scopes),
            **self.provider.authorize_params,
        )
        return url, state, verifier

    async def exchange_code(self, code: str, verifier: str | None) -> UpstreamTokens:
        """Trade the callback's code for tokens."""
        kwargs: dict[str, Any] = {"code": code, "redirect_uri": self.redirect_uri}
        if verifier:
            kwargs["code_verifier"] = verifier
        return await self._token_request("authorization_code", kwargs)

    async def refresh(self, refresh_token: str) -> UpstreamTokens:
        """A fresh access token; the returned refresh token replaces the old one when given."""
        tokens = await self._token_request("refresh_token", {"refresh_token": refresh_token})
        if tokens.refresh_token is None:
            return UpstreamTokens(
                tokens.access_token, refresh_token, tokens.expires_at, tokens.scopes
            )
        return tokens

    async def _token_request(self, grant: str, kwargs: dict[str, Any]) -> UpstreamTokens:
        async with self._client() as client:
            try:
                if grant == "refresh_token":
                    token = await client.refresh_token(self.token_url, **kwargs)
                else:
                    token = await client.fetch_token(self.token_url, grant_type=grant, **kwargs)
            except OAuthError as exc:
                raise ProviderError(
                    exc.error or "server_error", description=exc.description or ""
                ) from None
            except httpx.TimeoutException:
                raise ProviderError(
                    "temporarily_unavailable", description="the provider timed out"
                ) from None
            except httpx.HTTPError:
                raise ProviderError(
                    "temporarily_unavailable", description="the provider is unreachable"
                ) from None
            except ValueError:
                raise ProviderError(
                    "server_error", description="the provider's answer was not a token"
                ) from None
        access = token.get("access_token")
        if not access:
            raise ProviderError(
                "server_error", description="the provider's answer has no access_token"
            )
        expires_at = token.get("expires_at")
        if expires_at is None and token.get("expires_in"):
            expires_at = time.time() + float(token["expires_in"])
        scope = token.get("scope")
        scopes = (
            [s for s in scope.replace(",", " ").split() if s] if isinstance(scope, str) else None
        )
        return UpstreamTokens(
            access, token.get("refresh_token"), float(expires_at) if expires_at else None, scopes
        )
