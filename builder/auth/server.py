"""mcpbuild as the OAuth 2.1 authorization server its MCP clients talk to.

Implements the SDK's ``OAuthAuthorizationServerProvider`` and adds what the SDK leaves
to us: single-use codes whose reuse revokes what they issued, refresh-token rotation
whose reuse ends the whole grant, hashed tokens, redirect URI rules, and binding every
token to the grant that holds the user's upstream tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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

from builder.auth.cimd import ClientMetadataFetcher, is_metadata_client_id
from builder.auth.redirects import check_redirect_uri
from builder.state.crypto import new_token, token_hash
from builder.state.store import CodeRecord, Pending, Store, TokenRecord

__all__ = ["AuthorizationServer", "BeginSignIn", "Lifetimes"]

BeginSignIn = Callable[[str, AuthorizationParams, list[str]], Awaitable[str]]
"""``(client_id, params, scopes) -> URL``: start a sign-in for a validated request."""

logger = logging.getLogger("mcpbuild.auth")


@dataclass(frozen=True)
class Lifetimes:
    """How long what we issue lives, in seconds."""

    access_token: int = 900
    refresh_token: int = 30 * 24 * 3600
    code: int = 300
    pending: int = 600


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
        record, first_use = await self.store.take_code(token_hash(authorization_code))
        if record is None:
            return None
        if not first_use:
            # RFC 6819 4.4.1.1: a replayed code revokes everything issued under it.
            logger.warning(
                "authorization code reused; grant ended", extra={"grant": record.grant_id[:8]}
            )
            await self.store.end_grant(record.grant_id)
            return None
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
        assert authorization_code.subject is not None
        return await self._issue(
            authorization_code.client_id,
            authorization_code.subject,
            authorization_code.scopes,
            authorization_code.resource,
        )

    # refresh
    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        record = await self.store.get_token(token_hash(refresh_token))
        if record is None or record.kind != "refresh":
            return None
        if record.revoked:
            await self._reused_refresh(record)
            return None
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
        record, first_use = await self.store.take_refresh(token_hash(refresh_token.token))
        if record is None or not first_use:
            if record is not None:
                await self._reused_refresh(record)
            raise TokenError(
                error="invalid_grant", error_description="refresh token was already used"
            )
        grant = await self.store.get_grant(record.grant_id)
        if grant is None or not grant.active:
            raise TokenError(error="invalid_grant", error_description="the grant has ended")
        return await self._issue(record.client_id, record.grant_id, scopes, record.resource)

    async def _reused_refresh(self, record: TokenRecord) -> None:
        logger.warning("refresh token reused; grant ended", extra={"grant": record.grant_id[:8]})
        await self.store.end_grant(record.grant_id)

    async def _issue(
        self, client_id: str, grant_id: str, scopes: list[str], resource: str | None
    ) -> OAuthToken:
        access, refresh = new_token(), new_token()
        now = time.time()
        for token, kind, ttl in (
            (access, "access", self.lifetimes.access_token),
            (refresh, "refresh", self.lifetimes.refresh_token),
        ):
            await self.store.save_token(
                TokenRecord(
                    token_hash=token_hash(token),
                    kind=kind,  # type: ignore[arg-type]
                    client_id=client_id,
                    grant_id=grant_id,
                    scopes=scopes,
                    resource=resource,
                    expires_at=now + ttl,
                )
            )
        return OAuthToken(
            access_token=access,
            expires_in=self.lifetimes.access_token,
            scope=" ".join(scopes),
            refresh_token=refresh,
        )

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
