"""The OAuth 2.0 client toward the provider (Authorization Code with PKCE), on Authlib.

Providers differ from RFC 6749 in ways a preset names (``builder/presets``); the ones
every provider may show are handled for all: a form-encoded token response, an ``error``
answered with HTTP 200 (GitHub, Slack's ``ok: false``), comma-separated scopes.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import httpx2
import jmespath
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from builder.connector.resolved import ResolvedProvider
from builder.errors import ProviderError
from builder.provider.values import check_grant_value

# ProviderError is defined in builder.errors, with the rest of the tree; re-exported here.
__all__ = ["ProviderError", "UpstreamOAuth", "UpstreamTokens"]

_ERROR_CODE_FIELDS = ("error", "status", "category", "errorCode")
_TOKEN_FIELDS = ("access_token", "refresh_token", "expires_in", "scope", "token_type")
# The most a token response or a grant value call may be: a provider answers in bytes.
_MAX_ANSWER = 256 * 1024


@dataclass(frozen=True)
class UpstreamTokens:
    """What the provider's token endpoint returned."""

    access_token: str
    refresh_token: str | None
    expires_at: float | None
    scopes: list[str] | None
    values: Mapping[str, str] = field(default_factory=dict)
    """The ``${grant.NAME}`` values read at sign-in (empty on refresh)."""


class UpstreamOAuth:
    """mcpbuild as a confidential client of the provider, with one redirect URI."""

    def __init__(
        self,
        provider: ResolvedProvider,
        redirect_uri: str,
        *,
        timeout: float = 15.0,
        # Authlib's client is httpx2's; the inspector's observing transport is typed httpx's.
        transport: httpx.AsyncBaseTransport | httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider.spec
        self.redirect_uri = redirect_uri
        self.client_id = provider.client_id
        self.client_secret = provider.client_secret
        self.authorization_url = provider.authorization_url
        self.token_url = provider.token_url
        self.grant_values = provider.grant_values
        self._timeout = timeout
        self._transport = transport

    def _http_options(self) -> dict[str, Any]:
        """What every request to the provider is sent with (Authlib's and our own)."""
        options: dict[str, Any] = {"timeout": self._timeout, "trust_env": False}
        if self._transport is not None:
            options["transport"] = self._transport
        return options

    def _client(self) -> AsyncOAuth2Client:
        kwargs = self._http_options()
        method: Any = self.provider.token_endpoint_auth_method
        client = AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=method,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256" if self.provider.pkce else None,
            **kwargs,
        )
        if self.provider.token_request_format == "json":  # noqa: S105 - not a secret
            # Authlib posts forms; the client authentication step sees the finished body,
            # so the JSON body is made there, after the client's own credentials are in.
            client.register_client_auth_method((f"{method}+json", _as_json(client, method)))
            client.token_endpoint_auth_method = f"{method}+json"
        for hook in ("access_token_response", "refresh_token_response"):
            client.register_compliance_hook(hook, self._normalise)
        return client

    def authorization_request(self, scopes: list[str]) -> tuple[str, str, str | None]:
        """The URL to send the user to, its ``state`` and the PKCE verifier."""
        state = secrets.token_urlsafe(32)
        verifier = generate_token(64) if self.provider.pkce else None
        client = self._client()
        # Only the provider's scope parameter carries the scopes (Slack: user_scope).
        scope: dict[str, str | None] = {"scope": None}
        if scopes:
            scope[self.provider.scope_param] = self.provider.scope_separator.join(scopes)
        url, _ = client.create_authorization_url(
            self.authorization_url,
            state=state,
            code_verifier=verifier,
            **scope,
            **self.provider.authorize_params,
        )
        return url, state, verifier

    async def exchange_code(self, code: str, verifier: str | None) -> UpstreamTokens:
        """Trade the callback's code for tokens, and read the grant's values."""
        kwargs: dict[str, Any] = {"code": code, "redirect_uri": self.redirect_uri}
        if verifier:
            kwargs["code_verifier"] = verifier
        tokens, raw = await self._token_request("authorization_code", kwargs)
        if not self.grant_values:
            return tokens
        values = await self._read_values(tokens.access_token, raw)
        return UpstreamTokens(
            tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes, values
        )

    async def refresh(self, refresh_token: str) -> UpstreamTokens:
        """A fresh access token; the returned refresh token replaces the old one when given."""
        tokens, _ = await self._token_request("refresh_token", {"refresh_token": refresh_token})
        if tokens.refresh_token is None:
            return UpstreamTokens(
                tokens.access_token, refresh_token, tokens.expires_at, tokens.scopes
            )
        return tokens

    def _normalise(self, response: httpx2.Response) -> httpx2.Response:
        """The token response as the RFC 6749 JSON object Authlib reads: form-encoded
        answers parsed, ``ok: false`` made an ``error``, a nested token (Slack's
        ``authed_user``) lifted to the top. The whole answer is kept for grant values."""
        if len(response.content) > _MAX_ANSWER:
            return _failed("server_error", f"an answer over {_MAX_ANSWER // 1024} KiB")
        body = _parse_answer(response)
        if body is None:
            error = "temporarily_unavailable" if response.status_code >= 500 else "server_error"
            return _failed(error, f"HTTP {response.status_code} with something that is not a token")
        # A present but empty `error` (null, "") on a success is no failure.
        failed = response.status_code >= 400 or body.get("ok") is False or bool(body.get("error"))
        if failed:
            return httpx2.Response(400, json=self._error(body))
        token = {k: v for k, v in body.items() if k != "error"}  # Authlib fails on any `error`
        path = self.provider.token_response_path
        if path:
            nested = jmespath.search(path, body)
            if isinstance(nested, dict) and nested.get("access_token"):
                for name in _TOKEN_FIELDS:
                    token.pop(name, None)
                token.update({k: v for k, v in nested.items() if k in _TOKEN_FIELDS})
        token["_raw"] = body
        return httpx2.Response(200, json=token)

    def _error(self, body: Mapping[str, Any]) -> dict[str, str]:
        """The answer's error as RFC 6749 ``error`` and ``error_description``: the
        provider's own code (``error``, else HubSpot's ``status``/``category``, else
        ``errorCode``) mapped by ``provider.error_codes``."""
        code = next(
            (
                v
                for v in (body.get(k) for k in _ERROR_CODE_FIELDS)
                if isinstance(v, str) and v and v != "error"
            ),
            "server_error",
        )
        out = {"error": self.provider.error_codes.get(code, code)}
        said = body.get("error_description") or body.get("message")
        description = said[:300] if isinstance(said, str) else ""
        if out["error"] != code:  # the provider's own code stays in view
            description = f"{code}: {description}" if description else code
        if description:
            out["error_description"] = description
        return out

    async def _token_request(
        self, grant: str, kwargs: dict[str, Any]
    ) -> tuple[UpstreamTokens, dict[str, Any]]:
        kwargs = {**self.provider.token_params, **kwargs}
        # Lifetimes count from before the request, in whole seconds: providers stamp tokens
        # with a second-granular issue time, so the token may end up to a second sooner
        # than "now + expires_in" on receipt would say.
        asked = float(math.floor(time.time()))
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
            except (httpx.TimeoutException, httpx2.TimeoutException):
                raise ProviderError(
                    "temporarily_unavailable", description="the provider timed out"
                ) from None
            except (httpx.HTTPError, httpx2.HTTPError):
                raise ProviderError(
                    "temporarily_unavailable", description="the provider is unreachable"
                ) from None
            except ValueError:
                raise ProviderError(
                    "server_error", description="the provider's answer was not a token"
                ) from None
        raw = token.pop("_raw", None) or {}
        access = token.get("access_token")
        if not access or not isinstance(access, str):
            raise ProviderError(
                "server_error", description="the provider's answer has no access_token"
            )
        refresh = token.get("refresh_token")
        refresh = refresh if isinstance(refresh, str) and refresh else None
        expires_at = _expiry(token.get("expires_in"), asked)
        if expires_at is None and refresh and self.provider.default_expires_in:
            expires_at = asked + self.provider.default_expires_in
        scope = token.get("scope")
        scopes = (
            [s for s in scope.replace(",", " ").split() if s] if isinstance(scope, str) else None
        )
        return UpstreamTokens(access, refresh, expires_at, scopes), raw

    async def _read_values(self, access_token: str, raw: Mapping[str, Any]) -> dict[str, str]:
        """Every declared grant value, each checked against its rule; a value that is
        missing or does not fit fails the sign-in with what was expected."""
        answers: dict[str, Any] = {"token": raw}
        values: dict[str, str] = {}
        for name, spec in self.grant_values.items():
            source = spec.from_
            if source not in answers:
                answers[source] = await self._fetch_values(source, access_token)
            found = jmespath.search(spec.select, answers[source])
            where = "the token response" if source == "token" else source
            if isinstance(found, int | float) and not isinstance(found, bool):
                found = str(found)
            if not isinstance(found, str) or not found:
                raise ProviderError(
                    "server_error",
                    description=f"grant value '{name}': expected a string at "
                    f"'{spec.select}' in {where}, got {_kind(found)}",
                )
            problem = check_grant_value(spec, found)
            if problem:
                raise ProviderError(
                    "server_error", description=f"grant value '{name}' from {where}: {problem}"
                )
            values[name] = found
        return values

    async def _fetch_values(self, url: str, access_token: str) -> Any:
        try:
            async with httpx2.AsyncClient(**self._http_options()) as http:
                response = await http.get(
                    url,
                    headers={
                        "Authorization": f"Bearer {access_token}",
                        "Accept": "application/json",
                    },
                )
        except httpx2.HTTPError:
            raise ProviderError(
                "temporarily_unavailable", description=f"{url} is unreachable"
            ) from None
        if response.status_code != 200 or len(response.content) > _MAX_ANSWER:
            raise ProviderError(
                "server_error",
                description=f"{url} answered HTTP {response.status_code}; expected 200 with "
                "the grant's values",
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                "server_error", description=f"{url} answered something that is not JSON"
            ) from None


def _as_json(client: AsyncOAuth2Client, method: str) -> Any:
    """A client authentication method: ``method``, then the form body re-encoded as JSON."""

    def sign(auth: Any, http_method: str, uri: str, headers: Any, body: Any) -> Any:
        uri, headers, body = client.client_auth(method).prepare(http_method, uri, headers, body)
        text = body.decode() if isinstance(body, bytes) else body or ""
        headers["Content-Type"] = "application/json"
        return uri, headers, json.dumps(dict(parse_qsl(text))).encode()

    return sign


def _parse_answer(response: httpx2.Response) -> dict[str, Any] | None:
    """The token endpoint's answer as a mapping, JSON or form-encoded; None otherwise."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if "=" not in text or "<" in text:
            return None
        body = dict(parse_qsl(text))
    return body if isinstance(body, dict) else None


def _failed(error: str, what: str) -> httpx2.Response:
    """A token endpoint error for Authlib to raise, for an answer that was not one."""
    return httpx2.Response(
        400, json={"error": error, "error_description": f"the provider answered {what}"}
    )


def _expiry(expires_in: Any, asked: float) -> float | None:
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return None
    return asked + seconds if seconds > 0 else None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return "an empty string"
    return f"a {type(value).__name__}"
