"""The demo's OAuth 2.0 authorization server, on Authlib's server side.

Authorization Code with PKCE (S256 only, required of every client, confidential ones
included), refresh tokens rotated on each use (a rotated token that comes back revokes
its whole sign-in), RFC 7009 revocation, and the bearer-token validator the notes API
uses. Everything is in memory (:class:`~builder.demo.models.DemoState`).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from starlette.responses import Response

from builder.demo.adapter import to_response
from builder.demo.models import (
    SCOPES,
    AuthorizationCode,
    DemoClient,
    DemoState,
    DemoUser,
    Token,
)

__all__ = ["DemoAuthorizationServer", "DemoBearerTokenValidator"]

logger = logging.getLogger("mcpbuild.demo")

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def _server_state(grant: Any) -> DemoState:
    state: DemoState = grant.server.state
    return state


class RequireS256(CodeChallenge):  # type: ignore[misc]  # Authlib is untyped
    """PKCE for every authorization request, S256 only.

    Authlib's ``CodeChallenge(required=True)`` only insists on a verifier from *public*
    clients and accepts ``plain``; the demo asks every client for an S256 challenge.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012  # Authlib's class attribute

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]  # Authlib is untyped
    """Codes live in memory for five minutes and are consumed by their first use."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        _server_state(self).codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user=request.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: DemoClient) -> AuthorizationCode | None:
        # Taken out at once: a code that fails (wrong verifier, wrong client) is gone too.
        item = _server_state(self).take_code(code)
        return item if item is not None and item.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        _server_state(self).codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> DemoUser:
        return authorization_code.user


class RotatingRefreshGrant(RefreshTokenGrant):  # type: ignore[misc]  # Authlib is untyped
    """Each refresh returns a new refresh token and revokes the old pair."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        state = _server_state(self)
        token = state.by_refresh.get(refresh_token)
        if token is None:
            return None
        if token.refresh_revoked:
            # RFC 9700 4.14.2: a rotated refresh token used again may be stolen.
            revoked = state.revoke_family(token.family)
            logger.warning("demo notes: a used refresh token came back", extra={"revoked": revoked})
            return None
        return token

    def authenticate_user(self, refresh_token: Token) -> DemoUser:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: Token) -> None:
        refresh_token.revoke()


class Revocation(RevocationEndpoint):  # type: ignore[misc]  # Authlib is untyped
    """RFC 7009: an access token alone, or a refresh token with its access token."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        state: DemoState = self.server.state
        if token_type_hint == "refresh_token":  # noqa: S105 - a hint name, not a secret
            return state.by_refresh.get(token_string) or state.by_access.get(token_string)
        return state.by_access.get(token_string) or state.by_refresh.get(token_string)

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        if token.access_token == request.form.get("token"):
            token.access_revoked = True
        else:  # a refresh token: the whole sign-in ends (RFC 7009 section 2.1)
            self.server.state.revoke_family(token.family)
        logger.info("demo notes: token revoked", extra={"user": token.user.username})


class DemoAuthorizationServer(AuthorizationServer):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's ``AuthorizationServer`` over :class:`DemoState`, answering Starlette responses."""

    def __init__(self, state: DemoState, *, access_token_ttl: int = 3600) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.state = state
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: secrets.token_urlsafe(32),
                refresh_token_generator=lambda **_: secrets.token_urlsafe(48),
                # Authlib's default for authorization_code is 864000 s (ten days).
                expires_generator=access_token_ttl,
            ),
        )
        self.register_grant(CodeGrant, [RequireS256(required=True)])
        self.register_grant(RotatingRefreshGrant)
        self.register_endpoint(Revocation)

    def query_client(self, client_id: str) -> DemoClient | None:
        return self.state.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        previous: Token | None = request.refresh_token
        self.state.save_token(
            Token(
                access_token=token["access_token"],
                refresh_token=token.get("refresh_token"),
                client_id=request.client.get_client_id(),
                user=request.user,
                scope=token.get("scope", ""),
                expires_in=int(token["expires_in"]),
                family=previous.family if previous is not None else secrets.token_hex(8),
            )
        )
        logger.info(
            "demo notes: tokens issued",
            extra={"user": request.user.username, "grant_type": request.payload.grant_type},
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        # The routes build the request (Starlette reads bodies asynchronously).
        if not isinstance(request, OAuth2Request):
            raise TypeError("expected an OAuth2Request; build it with oauth2_request()")
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("the demo has no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return to_response(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib calls this after client authentication and revocation; nothing listens."""


class DemoBearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]  # Authlib is untyped
    """Access tokens of :class:`DemoState`; Authlib checks expiry, revocation and scope."""

    def __init__(self, state: DemoState, realm: str = "demo-notes") -> None:
        super().__init__(realm=realm)
        self.state = state

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.state.by_access.get(token_string)
