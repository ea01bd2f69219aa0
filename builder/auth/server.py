"""mcpbuild as the OAuth 2.1 authorization server its MCP clients talk to.

Implements the SDK's ``OAuthAuthorizationServerProvider`` and adds what the SDK leaves
to us: single-use codes whose reuse revokes what they issued, refresh-token rotation
whose reuse ends the whole grant, hashed tokens, redirect URI rules, and binding every
token to the grant that holds the user's upstream tokens.

Strict against theft, forgiving to real clients: a code posted twice by its own client
with its verifier within ``code_replay`` seconds, or a rotated refresh token sent again by
its client within ``refresh_reuse`` seconds (a lost response, two processes sharing one
token file), gets the answer the first use got, not new tokens and not a revoked grant.
The answer is kept sealed under a key derived from the code or token itself, so the store
alone cannot open it. Outside those windows, a second use ends the grant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Receive, Scope, Send

from builder.auth.cimd import ClientMetadataFetcher, is_metadata_client_id
from builder.auth.redirects import check_redirect_uri
from builder.errors import ConfigError
from builder.state.crypto import new_token, open_answer, seal_answer, token_hash
from builder.state.store import CodeRecord, Pending, Store, TokenRecord

__all__ = ["AuthorizationServer", "BeginSignIn", "CodeAttempts", "Lifetimes"]

BeginSignIn = Callable[[str, AuthorizationParams, list[str]], Awaitable[str]]
"""``(client_id, params, scopes) -> URL``: start a sign-in for a validated request."""

logger = logging.getLogger("mcpbuild.auth")


@dataclass
class _CodeAttempt:
    grant_id: str | None = None
    exchanged: bool = False


_code_attempt: ContextVar[_CodeAttempt | None] = ContextVar("code_attempt", default=None)


class CodeAttempts:
    """Around /token: a code the SDK loaded but then refused to exchange ends its grant.

    The SDK checks the client, the redirect URI and the PKCE verifier after loading the
    code and before asking us to exchange it, so a refusal never reaches this server;
    this notices it. It is what lets a code posted twice by its own client (same client,
    same verifier) get the same answer, while any other second use is still punished.
    """

    def __init__(self, app: ASGIApp, server: AuthorizationServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        attempt = _CodeAttempt()
        reset = _code_attempt.set(attempt)
        try:
            await self.app(scope, receive, send)
        finally:
            _code_attempt.reset(reset)
        if attempt.grant_id is not None and not attempt.exchanged:
            await self.server.refuse_code(attempt.grant_id)


_SIGN_IN_AGAIN = "this sign-in has ended; authorize again"
_ACCESS: Literal["access", "refresh"] = "access"
_REFRESH: Literal["access", "refresh"] = "refresh"


@dataclass(frozen=True)
class Lifetimes:
    """How long what we issue lives, and how long a repeated use is forgiven, in seconds."""

    access_token: int = 900
    """A client's access token: independent of the provider's token, which is refreshed
    behind it."""
    refresh_idle: int = 30 * 24 * 3600
    """A refresh token not used for this long expires (each use gives a new one)."""
    refresh_absolute: int = 365 * 24 * 3600
    """No refresh token lives past this long after the user signed in."""
    refresh_reuse: float = 30.0
    """A rotated refresh token presented again by its client within this long gets the
    same answer; after it, reuse is taken as theft and ends the grant."""
    code_replay: float = 2.0
    """An authorization code posted again by its client, with its verifier, within this
    long gets the same answer; any other second use ends the grant."""
    code: int = 300
    pending: int = 600

    def __post_init__(self) -> None:
        if self.refresh_absolute < self.refresh_idle:
            raise ConfigError(
                "refresh token lifetimes: expected the absolute one (--refresh-lifetime) to be "
                f"at least the idle one (--refresh-idle), got {self.refresh_absolute}s < "
                f"{self.refresh_idle}s"
            )
        for name in ("access_token", "refresh_idle", "code", "pending"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} lifetime: expected a positive number of seconds")
        for name in ("refresh_reuse", "code_replay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} window: expected 0 or more seconds")


class AuthorizationServer:
    """The provider the SDK's /authorize, /token, /register and /revoke handlers call."""

    def __init__(
        self,
        store: Store,
        *,
        issuer: str,
        resource: str,
        scopes: list[str],
        default_scopes: list[str],
        lifetimes: Lifetimes | None = None,
        metadata_fetcher: ClientMetadataFetcher | None = None,
    ) -> None:
        self.store = store
        self.issuer = issuer.rstrip("/")
        # The issuer identifier exactly as the metadata document spells it (RFC 9207 `iss`).
        self.issuer_id = str(AnyHttpUrl(self.issuer))
        self.resource = resource
        self.scopes = scopes
        self.default_scopes = default_scopes
        self.lifetimes = lifetimes or Lifetimes()
        self.fetcher = metadata_fetcher or ClientMetadataFetcher()
        # The consent flow attaches itself: a valid authorization request becomes its
        # pending sign-in, and the URL returned is where the user's browser goes next.
        self.begin_sign_in: BeginSignIn | None = None
        # Told after each dynamic client registration (metrics).
        self.on_register: Callable[[], None] = lambda: None

    # clients
    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        """The client, registered or described by its metadata document.

        Its ``scope`` is widened to every scope this server offers: the SDK's /authorize
        refuses scopes outside a client's ``scope``, but a metadata document has none and
        a client that steps up asks for more than it registered with. The consent page
        is where scopes are granted, so the registered scope is only advisory here.
        """
        if is_metadata_client_id(client_id):
            client = await self.fetcher.fetch(client_id)
        else:
            info = await self.store.get_client(client_id)
            client = OAuthClientInformationFull.model_validate(info) if info else None
        if client is None:
            return None
        return client.model_copy(update={"scope": " ".join(self.scopes)})

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or []:
            problem = check_redirect_uri(str(uri))
            if problem:
                raise RegistrationError(error="invalid_redirect_uri", error_description=problem)
        if client_info.scope:
            unknown = set(client_info.scope.split()) - set(self.scopes)
            if unknown:
                raise RegistrationError(
                    error="invalid_client_metadata",
                    error_description=f"unknown scopes: {', '.join(sorted(unknown))}",
                )
        else:
            client_info.scope = " ".join(self.scopes)
        assert client_info.client_id is not None
        await self.store.save_client(client_info.client_id, client_info.model_dump(mode="json"))
        logger.info("client registered", extra={"client": client_info.client_id[:12]})
        self.on_register()

    # authorization
    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        problem = check_redirect_uri(str(params.redirect_uri))
        if problem:
            raise AuthorizeError(error="invalid_request", error_description=problem)
        if params.resource is not None and params.resource.rstrip("/") != self.resource.rstrip("/"):
            raise AuthorizeError(
                error="invalid_target",
                error_description=f"this server's resource is {self.resource}",
            )
        scopes = params.scopes or self.default_scopes
        unknown = [s for s in scopes if s not in self.scopes]
        if unknown:
            raise AuthorizeError(
                error="invalid_scope", error_description=f"unknown scopes: {', '.join(unknown)}"
            )
        assert client.client_id is not None
        if self.begin_sign_in is None:
            raise RuntimeError("no consent flow is attached to this authorization server")
        return await self.begin_sign_in(client.client_id, params, list(dict.fromkeys(scopes)))

    async def issue_code(self, pending: Pending, grant_id: str) -> str:
        """Our authorization code for a finished upstream sign-in."""
        await self.store.touch_client(pending.client_id)
        code = new_token()
        await self.store.save_code(
            CodeRecord(
                code_hash=token_hash(code),
                client_id=pending.client_id,
                grant_id=grant_id,
                scopes=pending.scopes,
                resource=pending.resource,
                redirect_uri=pending.redirect_uri,
                redirect_uri_explicit=pending.redirect_uri_explicit,
                code_challenge=pending.code_challenge,
                expires_at=time.time() + self.lifetimes.code,
            )
        )
        return code

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        record = await self.store.get_code(token_hash(authorization_code))
        if record is None:
            return None
        attempt = _code_attempt.get()
        if record.redeemed_at is not None:
            age = time.time() - record.redeemed_at
            if attempt is None or age > self.lifetimes.code_replay:
                await self._code_reused(record.grant_id, age)
                return None
        if attempt is not None:
            # Whatever the SDK now decides, a refusal (wrong client, verifier or redirect
            # URI) ends the grant: see CodeAttempts.
            attempt.grant_id = record.grant_id
        return AuthorizationCode(
            code=authorization_code,
            scopes=record.scopes,
            expires_at=record.expires_at,
            client_id=record.client_id,
            code_challenge=record.code_challenge,
            redirect_uri=record.redirect_uri,
            redirect_uri_provided_explicitly=record.redirect_uri_explicit,
            resource=record.resource,
            subject=record.grant_id,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        # The SDK has checked the client, the redirect URI and the PKCE verifier.
        attempt = _code_attempt.get()
        if attempt is not None:
            attempt.exchanged = True
        grant_id = authorization_code.subject
        assert grant_id is not None
        await self._require_active(grant_id)
        now = time.time()
        tokens, issued = self._new_tokens(
            authorization_code.client_id,
            grant_id,
            access_scopes=authorization_code.scopes,
            refresh_scopes=authorization_code.scopes,
            resource=authorization_code.resource,
            auth_time=now,
            now=now,
        )
        code = authorization_code.code
        result = await self.store.redeem_code(
            token_hash(code),
            issued=issued,
            answer=seal_answer(code, tokens.model_dump_json()),
            window=self.lifetimes.code_replay,
            now=now,
        )
        if result.outcome == "first":
            return tokens
        if result.outcome == "again" and result.answer is not None:
            again = open_answer(code, result.answer)
            if again is not None:
                logger.info(
                    "authorization code posted again by its client, with its verifier, "
                    f"{result.age:.1f}s after the first; the same tokens were sent",
                    extra={"grant": grant_id[:8]},
                )
                return OAuthToken.model_validate_json(again)
        await self._code_reused(grant_id, result.age)
        raise TokenError(
            error="invalid_grant", error_description="authorization code was already used"
        )

    async def refuse_code(self, grant_id: str) -> None:
        """A code the SDK refused to exchange (another client, a wrong verifier or redirect
        URI): whoever sent it is not its client, so what it was or will be redeemed for ends."""
        logger.warning(
            "authorization code presented with a wrong client, verifier or redirect URI; "
            "grant ended",
            extra={"grant": grant_id[:8]},
        )
        await self.store.end_grant(grant_id)

    async def _code_reused(self, grant_id: str, age: float) -> None:
        # RFC 6819 4.4.1.1: a replayed code revokes everything issued under it.
        logger.warning(
            f"authorization code used again {age:.1f}s after its first use (a client may "
            f"repeat it within {self.lifetimes.code_replay:g}s with its verifier); grant ended",
            extra={"grant": grant_id[:8]},
        )
        await self.store.end_grant(grant_id)

    # refresh
    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        record = await self.store.get_token(token_hash(refresh_token))
        if record is None or record.kind != "refresh":
            return None
        if record.client_id != client.client_id:
            if record.rotated_at is not None:
                # A rotated refresh token from someone else: it was stolen.
                await self._refresh_reused(record.grant_id, time.time() - record.rotated_at)
            return None
        if record.rotated_at is not None:
            age = time.time() - record.rotated_at
            if age > self.lifetimes.refresh_reuse:
                await self._refresh_reused(record.grant_id, age)
                return None
        # Revoked ones too: exchange_refresh_token says why they no longer work.
        return RefreshToken(
            token=refresh_token,
            client_id=record.client_id,
            scopes=record.scopes,
            expires_at=int(record.expires_at) if record.expires_at else None,
            resource=record.resource,
            subject=record.grant_id,
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        grant_id = refresh_token.subject
        assert grant_id is not None
        await self._require_active(grant_id)
        now = time.time()
        record = await self.store.get_token(token_hash(refresh_token.token))
        auth_time = record.auth_time if record is not None and record.auth_time else now
        # A narrower scope narrows the access token only (RFC 6749 section 6: the new
        # refresh token keeps the scope of the one presented).
        tokens, issued = self._new_tokens(
            refresh_token.client_id,
            grant_id,
            access_scopes=scopes,
            refresh_scopes=refresh_token.scopes,
            resource=refresh_token.resource,
            auth_time=auth_time,
            now=now,
        )
        result = await self.store.rotate_refresh(
            token_hash(refresh_token.token),
            issued=issued,
            answer=seal_answer(refresh_token.token, tokens.model_dump_json()),
            window=self.lifetimes.refresh_reuse,
            now=now,
        )
        if result.outcome == "first":
            return tokens
        if result.outcome == "again" and result.answer is not None:
            again = open_answer(refresh_token.token, result.answer)
            if again is not None:
                logger.info(
                    f"refresh token presented again {result.age:.1f}s after its rotation, "
                    f"within {self.lifetimes.refresh_reuse:g}s; the same tokens were sent",
                    extra={"grant": grant_id[:8]},
                )
                return OAuthToken.model_validate_json(again)
        if result.outcome == "ended":
            raise TokenError(error="invalid_grant", error_description=_SIGN_IN_AGAIN)
        if result.outcome == "unknown":
            raise TokenError(error="invalid_grant", error_description="unknown refresh token")
        await self._refresh_reused(grant_id, result.age)
        raise TokenError(error="invalid_grant", error_description="refresh token was already used")

    async def _refresh_reused(self, grant_id: str, age: float) -> None:
        logger.warning(
            f"refresh token reused {age:.1f}s after its rotation (a client may repeat it "
            f"within {self.lifetimes.refresh_reuse:g}s); taken as stolen, grant ended",
            extra={"grant": grant_id[:8]},
        )
        await self.store.end_grant(grant_id)

    async def _require_active(self, grant_id: str) -> None:
        grant = await self.store.get_grant(grant_id)
        if grant is None or not grant.active:
            raise TokenError(error="invalid_grant", error_description=_SIGN_IN_AGAIN)

    def _new_tokens(
        self,
        client_id: str,
        grant_id: str,
        *,
        access_scopes: list[str],
        refresh_scopes: list[str],
        resource: str | None,
        auth_time: float,
        now: float,
    ) -> tuple[OAuthToken, list[TokenRecord]]:
        """A fresh access and refresh token and their records (not yet stored). The refresh
        token lives ``refresh_idle`` seconds unless used, and never past ``refresh_absolute``
        seconds after the user signed in."""
        access, refresh = new_token(), new_token()
        lifetimes = self.lifetimes
        refresh_expires = min(now + lifetimes.refresh_idle, auth_time + lifetimes.refresh_absolute)
        records = [
            TokenRecord(
                token_hash=token_hash(value),
                kind=kind,
                client_id=client_id,
                grant_id=grant_id,
                scopes=scopes,
                resource=resource,
                expires_at=expires,
                auth_time=auth_time,
            )
            for value, kind, scopes, expires in (
                (access, _ACCESS, access_scopes, now + lifetimes.access_token),
                (refresh, _REFRESH, refresh_scopes, refresh_expires),
            )
        ]
        answer = OAuthToken(
            access_token=access,
            expires_in=lifetimes.access_token,
            scope=" ".join(access_scopes),
            refresh_token=refresh,
        )
        return answer, records

    # access tokens
    async def load_access_token(self, token: str) -> AccessToken | None:
        record = await self.store.get_token(token_hash(token))
        if record is None or record.kind != "access" or record.revoked:
            return None
        if record.expires_at is not None and record.expires_at <= time.time():
            return None
        grant = await self.store.get_grant(record.grant_id)
        if grant is None or not grant.active:
            return None
        # The SDK binds a session to the token's subject, so the subject is the user, not
        # the grant: a step-up sign-in creates a new grant for the same user and session.
        user = grant.extra.get("user")
        return AccessToken(
            token=token,
            client_id=record.client_id,
            scopes=record.scopes,
            expires_at=int(record.expires_at) if record.expires_at else None,
            resource=record.resource,
            subject=user if isinstance(user, str) else f"grant:{record.grant_id}",
            claims={"grant": record.grant_id},
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK's ``TokenVerifier``: the bearer middleware calls this on every request."""
        return await self.load_access_token(token)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        record = await self.store.revoke_token(token_hash(token.token))
        if record is not None and record.kind == "refresh":
            # Revoking the refresh token ends the authorization (RFC 7009 2.1).
            await self.store.end_grant(record.grant_id)

    async def exchange_identity_assertion(self, *args: Any, **kwargs: Any) -> OAuthToken:
        raise TokenError(error="unsupported_grant_type", error_description="not supported")
