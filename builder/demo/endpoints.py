"""The authorization server's HTTP endpoints: authorize (sign-in page), token, revoke, metadata."""

from __future__ import annotations

import logging
import re

from authlib.oauth2 import OAuth2Error
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from builder.demo.adapter import FormTooLarge, StarletteOAuth2Request, oauth2_request, to_response
from builder.demo.authserver import DemoAuthorizationServer
from builder.demo.models import DemoState, DemoUser
from builder.demo.pages import error_page, sign_in_page

__all__ = ["OAuthEndpoints"]

logger = logging.getLogger("mcpbuild.demo")

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


class OAuthEndpoints:
    """Starlette routes around a :class:`DemoAuthorizationServer`."""

    def __init__(self, server: DemoAuthorizationServer) -> None:
        self.server = server
        self.state: DemoState = server.state

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/authorize", self.authorize, methods=["GET"]),
            Route("/oauth/authorize", self.sign_in, methods=["POST"]),
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/oauth/revoke", self.revoke, methods=["POST"]),
            Route("/.well-known/oauth-authorization-server", self.metadata, methods=["GET"]),
        ]

    async def authorize(self, request: Request) -> Response:
        """Validate the authorization request, then show the sign-in page."""
        try:
            req = await oauth2_request(request)
            grant = self.server.get_consent_grant(req)
        except OAuth2Error as error:
            return self._refuse(error)
        ticket = self.state.new_sign_in(str(request.url), list(request.query_params.multi_items()))
        return sign_in_page(
            ticket=ticket, client_name=grant.client.client_name, scopes=req.scope.split()
        )

    async def sign_in(self, request: Request) -> Response:
        """The sign-in form: issue a code to the client (or ``access_denied`` on Cancel)."""
        form = await request.form()
        ticket = str(form.get("ticket", ""))
        pending = self.state.get_sign_in(ticket)
        if pending is None:
            return error_page(
                "Sign-in expired",
                "This sign-in request is unknown, used or expired. Start again from your "
                "MCP client.",
            )
        try:
            req = StarletteOAuth2Request("GET", pending.url, request.headers, pending.params, [])
            grant = self.server.get_consent_grant(req)
        except OAuth2Error as error:
            self.state.sign_ins.pop(ticket, None)
            return self._refuse(error)
        user: DemoUser | None = None
        if form.get("decision", "approve") == "approve":
            username = str(form.get("username", "")).strip().lower()
            if not USERNAME.match(username):
                return sign_in_page(
                    ticket=ticket,
                    client_name=grant.client.client_name,
                    scopes=req.scope.split(),
                    username=username,
                    error="Pick a name of up to 32 letters, digits, '.', '_' or '-'.",
                )
            user = DemoUser(username)
            logger.info("demo notes: signed in", extra={"user": username})
        self.state.sign_ins.pop(ticket, None)
        response: Response = self.server.create_authorization_response(
            req, grant_user=user, grant=grant
        )
        return response

    async def token(self, request: Request) -> Response:
        req = await _read(request)
        if isinstance(req, Response):
            return req
        response: Response = self.server.create_token_response(req)
        return response

    async def revoke(self, request: Request) -> Response:
        req = await _read(request)
        if isinstance(req, Response):
            return req
        response: Response = self.server.create_endpoint_response("revocation", req)
        return response

    async def metadata(self, request: Request) -> Response:
        """RFC 8414 metadata, for the curious (mcpbuild reads the URLs from the spec)."""
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": base + "/oauth/authorize",
                "token_endpoint": base + "/oauth/token",
                "revocation_endpoint": base + "/oauth/revoke",
                "scopes_supported": self.server.scopes_supported,
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    def _refuse(self, error: OAuth2Error) -> Response:
        """Errors go back to a verified redirect URI; anything else is shown to the user."""
        if getattr(error, "redirect_uri", None):
            return to_response(*error())
        text = f"{error.error}: {error.description}" if error.description else str(error.error)
        return error_page("Sign-in refused", text)


async def _read(request: Request) -> StarletteOAuth2Request | Response:
    """The request for Authlib, or the error response when its form cannot be read."""
    try:
        return await oauth2_request(request)
    except FormTooLarge:
        return JSONResponse({"error": "invalid_request"}, status_code=413)
    except OAuth2Error as error:
        return to_response(*error())
