"""Everything OAuth for one served connector, wired from the spec and the serve options."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import cors_middleware, create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.server.context import ServerRequestContext
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from builder.auth.authorize import AuthorizeEndpoint
from builder.auth.cimd import ClientMetadataFetcher
from builder.auth.consent import ConsentFlow
from builder.auth.gate import BearerGate
from builder.auth.limits import AuthLimits, BodyLimit, RateLimited, Unavailable, wrap_route
from builder.auth.revoke import PublicClientRevocation
from builder.auth.server import AuthorizationServer, CodeAttempts, Lifetimes
from builder.connector.resolved import ResolvedConnector
from builder.errors import ConfigError, GrantEnded, ToolCallError
from builder.provider.client import UpstreamOAuth
from builder.provider.grants import REFRESH_LOCK_TTL, GrantCredentials, GrantManager
from builder.routes import (
    AUTHORIZATION_SERVER_METADATA_PATH,
    AUTHORIZE_PATH,
    MCP_PATH,
    PROTECTED_RESOURCE_METADATA_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    redirect_uri_for,
)
from builder.state.crypto import Cipher
from builder.state.store import ClientLimitReached, Store
from builder.tools.call import Caller

__all__ = ["OAuth", "redirect_uri_for"]

logger = logging.getLogger("mcpbuild.auth")


@dataclass
class OAuth:
    """The authorization server, the consent flow, the grant manager and the bearer gate."""

    connector: ResolvedConnector
    public_url: str
    server: AuthorizationServer
    upstream: UpstreamOAuth
    grants: GrantManager
    consent: ConsentFlow
    _gates: list[BearerGate] = field(default_factory=list, repr=False)

    @classmethod
    def create(
        cls,
        connector: ResolvedConnector,
        *,
        public_url: str,
        store: Store,
        cipher: Cipher,
        lifetimes: Lifetimes | None = None,
        upstream_transport: httpx.AsyncBaseTransport | None = None,
        metadata_fetcher: ClientMetadataFetcher | None = None,
        refresh_lock_ttl: float = REFRESH_LOCK_TTL,
    ) -> OAuth:
        provider = connector.provider
        assert provider is not None
        public_url = public_url.rstrip("/")
        upstream = UpstreamOAuth(
            provider, redirect_uri_for(public_url), transport=upstream_transport
        )
        server = AuthorizationServer(
            store,
            issuer=public_url,
            resource=public_url + MCP_PATH,
            scopes=list(provider.scopes),
            default_scopes=list(provider.default_scopes),
            lifetimes=lifetimes,
            metadata_fetcher=metadata_fetcher,
        )
        grants = GrantManager(store, cipher, upstream, lock_ttl=refresh_lock_ttl)
        consent = ConsentFlow(
            connector, server, upstream, grants, secure_cookies=public_url.startswith("https://")
        )
        server.begin_sign_in = consent.begin
        return cls(connector, public_url, server, upstream, grants, consent)

    @property
    def resource(self) -> str:
        return self.public_url + MCP_PATH

    @property
    def resource_metadata_url(self) -> str:
        return self.public_url + PROTECTED_RESOURCE_METADATA_PATH + MCP_PATH

    def metadata(self) -> OAuthMetadata:
        """RFC 8414 metadata that tells the truth about what this server does."""
        base = self.public_url
        return OAuthMetadata(
            issuer=AnyHttpUrl(base),
            authorization_endpoint=AnyHttpUrl(base + AUTHORIZE_PATH),
            token_endpoint=AnyHttpUrl(base + TOKEN_PATH),
            registration_endpoint=AnyHttpUrl(base + REGISTER_PATH),
            revocation_endpoint=AnyHttpUrl(base + REVOKE_PATH),
            scopes_supported=self.server.scopes,
            response_types_supported=["code"],
            grant_types_supported=["authorization_code", "refresh_token"],
            token_endpoint_auth_methods_supported=[
                "none",
                "client_secret_post",
                "client_secret_basic",
            ],
            revocation_endpoint_auth_methods_supported=[
                "none",
                "client_secret_post",
                "client_secret_basic",
            ],
            code_challenge_methods_supported=["S256"],
            client_id_metadata_document_supported=True,
            authorization_response_iss_parameter_supported=True,
        )

    def routes(self, limits: AuthLimits | None = None) -> list[BaseRoute]:
        """Metadata, the SDK's /authorize, /token, /register, /revoke, and our consent flow,
        with ``limits`` (by default :class:`AuthLimits`) on the endpoints that take a body."""
        as_metadata = cors_middleware(MetadataHandler(self.metadata()).handle, ["GET", "OPTIONS"])
        prm = ProtectedResourceMetadataHandler(
            ProtectedResourceMetadata(
                resource=AnyHttpUrl(self.resource),
                authorization_servers=[AnyHttpUrl(self.public_url)],
                scopes_supported=self.server.scopes,
                resource_name=self.connector.title or self.connector.name,
            )
        )
        prm_endpoint = cors_middleware(prm.handle, ["GET", "OPTIONS"])
        ours: list[BaseRoute] = [
            Route(AUTHORIZATION_SERVER_METADATA_PATH, as_metadata, methods=["GET", "OPTIONS"]),
            Route(
                PROTECTED_RESOURCE_METADATA_PATH + MCP_PATH,
                prm_endpoint,
                methods=["GET", "OPTIONS"],
            ),
            Route(PROTECTED_RESOURCE_METADATA_PATH, prm_endpoint, methods=["GET", "OPTIONS"]),
        ]
        sdk = create_auth_routes(
            self.server,
            AnyHttpUrl(self.public_url),
            client_registration_options=ClientRegistrationOptions(
                enabled=True,
                valid_scopes=self.server.scopes,
                default_scopes=self.server.scopes,
            ),
            revocation_options=RevocationOptions(enabled=True),
        )
        chosen = limits or AuthLimits()
        register_rate = chosen.register_rate()

        def capped(app: ASGIApp) -> ASGIApp:
            return BodyLimit(app, chosen.body_bytes)

        def registration(app: ASGIApp) -> ASGIApp:
            return RateLimited(Unavailable(capped(app), (ClientLimitReached,)), register_rate)

        def revocation(app: ASGIApp) -> ASGIApp:
            return capped(PublicClientRevocation(app))

        def token(app: ASGIApp) -> ASGIApp:
            return capped(CodeAttempts(app, self.server))

        limited = {REGISTER_PATH: registration, TOKEN_PATH: token, REVOKE_PATH: revocation}
        sdk = [
            wrap_route(r, limited[path]) if (path := getattr(r, "path", "")) in limited else r
            for r in sdk
            if getattr(r, "path", "") not in (AUTHORIZATION_SERVER_METADATA_PATH, AUTHORIZE_PATH)
        ]
        authorize = AuthorizeEndpoint(self.server, trusted=self.server.store.client_used)
        sdk.append(
            wrap_route(Route(AUTHORIZE_PATH, authorize.handle, methods=["GET", "POST"]), capped)
        )
        # All of them: the consent form is the one with a body, the others carry none.
        consent = [wrap_route(r, capped) for r in self.consent.routes()]
        return [*ours, *sdk, *consent]

    def gate(self, app: ASGIApp, *, max_body_bytes: int) -> ASGIApp:
        """``app`` (the /mcp endpoint) behind the bearer gate."""
        gate = BearerGate(
            AuthContextMiddleware(app),
            self.server,
            self.connector,
            resource=self.resource,
            resource_metadata_url=self.resource_metadata_url,
            max_body_bytes=max_body_bytes,
            default_scopes=self.server.default_scopes,
            upstream_ready=self._upstream_ready,
        )
        self._gates.append(gate)
        return gate

    def retarget(self, connector: ResolvedConnector) -> None:
        """Serve ``connector``'s tools from now on (``mcpbuild dev`` reloads), keeping the
        store, the key, the clients and the grants: the bearer gate and the consent page
        read it. Refused with :class:`ConfigError` when the provider changed (endpoints,
        client, offered or default scopes): those are fixed in the authorization server's
        metadata and registrations, so that takes a restart."""
        before = self.connector.provider
        after = connector.provider
        if before is None or after is None or connector.name != self.connector.name:
            raise ConfigError("the connector's name or provider changed: restart to apply it")
        changed = [
            name
            for name in (
                "authorization_url",
                "token_url",
                "client_id",
                "client_secret",
                "scopes",
                "default_scopes",
                "always_request",
            )
            if getattr(before, name) != getattr(after, name)
        ]
        if not changed and before.spec != after.spec:
            changed = ["provider"]
        if changed:
            raise ConfigError(
                f"provider {', '.join(changed)} changed (the authorization server and its "
                "clients were set up with the old values): restart to apply it; grants are "
                "kept in the store"
            )
        self.connector = connector
        self.consent.connector = connector
        for gate in self._gates:
            gate.retarget(connector)

    async def _upstream_ready(self, token: AccessToken) -> bool:
        grant = (token.claims or {}).get("grant")
        if not isinstance(grant, str):
            return True
        try:
            await self.grants.access_token(grant)
        except GrantEnded:
            return False
        except ToolCallError:
            return True  # a passing failure: the tool call reports it
        return True

    def caller_for(self, ctx: ServerRequestContext[Any]) -> Caller:
        """The calling user's upstream credentials and granted scopes, from the token the
        SDK authenticated. No token means no credentials and no scopes: refused."""
        token = get_access_token()
        grant = (token.claims or {}).get("grant") if token is not None else None
        if token is None or not isinstance(grant, str):
            return Caller(None, ())
        return Caller(GrantCredentials(self.grants, grant), tuple(token.scopes))
