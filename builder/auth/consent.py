"""mcpbuild's own consent page, the redirect to the provider, and the provider's callback.

The consent page comes before any redirect upstream: it names the client, where the
answer will be sent, the connector and the scopes, so a user is never silently signed
in to the provider on behalf of a client they did not choose (the MCP security guidance
for proxies that use one upstream client id).

Approval, the redirect to the provider and the callback belong to one browser: approving
sets a cookie bound to that pending sign-in, and ``/oauth/callback`` refuses an answer
that does not bring it. Without this, a provider URL taken from an attacker's own
approved sign-in and sent to a victim would bind the victim's account to the attacker's
client.

The same approval also sets a long-lived, random "who is this" cookie; its hash is the
user the grant belongs to, and MCP sessions are bound to it (a step-up sign-in from the
same browser stays the same user, a second person is someone else).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from mcp.server.auth.provider import AuthorizationParams, construct_redirect_uri
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from builder.auth.server import AuthorizationServer
from builder.connector.resolved import ResolvedConnector
from builder.pages import message_page, render_page
from builder.provider.client import ProviderError, UpstreamOAuth
from builder.provider.grants import GrantManager
from builder.routes import CALLBACK_PATH, CONSENT_PATH
from builder.state.crypto import new_token, token_hash
from builder.state.store import Pending

__all__ = ["ConsentFlow", "SignInProblem"]

logger = logging.getLogger("mcpbuild.consent")

_USER_COOKIE_AGE = 365 * 24 * 3600

SignInProblem = Callable[[str, Pending, str], None]
"""``(kind, pending, detail)`` when a sign-in fails at the callback for a reason worth
explaining: ``consent_cookie_missing`` (detail: the host the callback came to) or
``redirect_uri_mismatch`` (detail: the provider's error code)."""


class ConsentFlow:
    """Everything between a valid /authorize and our authorization code: it owns the
    pending sign-in from its start (:meth:`begin`) through consent and the provider's
    callback to its end."""

    def __init__(
        self,
        connector: ResolvedConnector,
        server: AuthorizationServer,
        upstream: UpstreamOAuth,
        grants: GrantManager,
        *,
        secure_cookies: bool,
    ) -> None:
        assert connector.spec.provider is not None
        self.connector = connector
        self.scope_text = connector.spec.provider.scopes
        self.server = server
        self.upstream = upstream
        self.grants = grants
        self.secure = secure_cookies
        # `__Host-` cookies are only accepted over https; on loopback http, plain names.
        self._prefix = "__Host-" if secure_cookies else ""
        # Told about sign-ins that failed at the callback (explained in the log, and in the
        # inspector when it is on).
        self.on_problem: SignInProblem = lambda kind, pending, detail: None

    async def begin(self, client_id: str, params: AuthorizationParams, scopes: list[str]) -> str:
        """A validated authorization request becomes a pending sign-in; the URL of its
        consent page is where the browser goes next."""
        pending = Pending(
            id=new_token(24),
            client_id=client_id,
            redirect_uri=str(params.redirect_uri),
            redirect_uri_explicit=params.redirect_uri_provided_explicitly,
            code_challenge=params.code_challenge,
            state=params.state,
            scopes=scopes,
            resource=params.resource or self.server.resource,
            expires_at=time.time() + self.server.lifetimes.pending,
            csrf=new_token(24),
        )
        await self.server.store.save_pending(pending)
        return f"{self.server.issuer}{CONSENT_PATH}?{urlencode({'request': pending.id})}"

    def routes(self) -> list[Route]:
        return [
            Route(CONSENT_PATH, self.consent_page, methods=["GET"]),
            Route(CONSENT_PATH, self.consent_answer, methods=["POST"]),
            Route(CALLBACK_PATH, self.callback, methods=["GET"]),
        ]

    async def consent_page(self, request: Request) -> Response:
        pending = await self.server.store.get_pending(request.query_params.get("request", ""))
        if pending is None:
            return message_page(
                "Sign-in expired",
                "This sign-in request is unknown or has expired. Start again from your MCP client.",
                status=400,
            )
        client = await self.server.get_client(pending.client_id)
        if client is None:
            return message_page(
                "Unknown client", "The client of this request is not registered.", status=400
            )
        response = render_page(
            "consent.html",
            title=f"Connect {self.connector.title}",
            client_name=client.client_name or pending.client_id,
            client_id=pending.client_id,
            connector=self.connector.title,
            scopes=[(s, self.scope_text.get(s, "")) for s in pending.scopes],
            provider_host=urlsplit(self.upstream.authorization_url).netloc,
            redirect_host=urlsplit(pending.redirect_uri).netloc,
            action=CONSENT_PATH,
            request_id=pending.id,
            csrf=pending.csrf,
        )
        response.set_cookie(
            _csrf_cookie(pending.id),
            pending.csrf,
            max_age=600,
            path=CONSENT_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def consent_answer(self, request: Request) -> Response:
        form = await request.form()
        pending_id = str(form.get("request", ""))
        pending = await self.server.store.get_pending(pending_id)
        if pending is None:
            return message_page(
                "Sign-in expired", "This sign-in request is unknown or has expired.", status=400
            )
        sent = str(form.get("csrf", ""))
        cookie = request.cookies.get(_csrf_cookie(pending.id), "")
        if not (
            sent
            and cookie
            and hmac.compare_digest(sent, pending.csrf)
            and hmac.compare_digest(cookie, pending.csrf)
        ):
            logger.warning("consent refused: CSRF check failed")
            return message_page(
                "Request refused",
                "The form did not come from this page. Start again from your MCP client.",
                status=403,
            )
        if form.get("decision") != "approve":
            await self.server.store.delete_pending(pending.id)
            return _back(
                pending,
                self.server.issuer_id,
                error="access_denied",
                error_description="the user denied the request",
            )
        url, state, verifier = self.upstream.authorization_request(
            self.connector.upstream_scopes(pending.scopes)
        )
        binding = new_token(32)
        user = request.cookies.get(self._user_cookie) or new_token(32)
        pending.upstream_state = state
        pending.upstream_verifier = verifier
        pending.binding = token_hash(binding)
        pending.user = token_hash(user)[:32]
        pending.csrf = new_token(24)  # the form cannot be replayed
        await self.server.store.save_pending(pending)
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        response.delete_cookie(_csrf_cookie(pending.id), path=CONSENT_PATH)
        # SameSite=Lax: the provider's redirect back is a top-level GET, which Lax allows.
        response.set_cookie(
            self._binding_cookie(pending.id),
            binding,
            max_age=int(max(60.0, pending.expires_at - time.time())),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
        response.set_cookie(
            self._user_cookie,
            user,
            max_age=_USER_COOKIE_AGE,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
        return response

    @property
    def _user_cookie(self) -> str:
        return f"{self._prefix}mcpbuild_user"

    def _binding_cookie(self, pending_id: str) -> str:
        return f"{self._prefix}mcpbuild_signin_{pending_id[:12]}"

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        pending = await self.server.store.take_pending_by_state(params.get("state", ""))
        if pending is None:
            logger.warning("provider callback with unknown state")
            return message_page(
                "Sign-in refused",
                "This sign-in answer does not match any request in progress (unknown or "
                "already used state). Start again from your MCP client.",
                status=400,
            )
        cookie = request.cookies.get(self._binding_cookie(pending.id), "")
        if not (
            cookie and pending.binding and hmac.compare_digest(token_hash(cookie), pending.binding)
        ):
            # The pending sign-in was taken above: it is over, for everyone.
            logger.warning(
                "provider callback refused: not from the browser that approved consent",
                extra={"client": pending.client_id[:12]},
            )
            self.on_problem("consent_cookie_missing", pending, request.url.netloc)
            return message_page(
                "Sign-in refused",
                "This sign-in answer did not come back to the browser that approved the "
                "request, so it was not accepted and the sign-in has been cancelled.",
                "If you did not start a sign-in just now, someone may have sent you this "
                "link: you can ignore it. Otherwise start again from your MCP client, in "
                "this browser.",
                status=403,
            )
        if "error" in params:
            if params["error"] == "redirect_uri_mismatch" or "redirect_uri" in params.get(
                "error_description", ""
            ):
                self.on_problem("redirect_uri_mismatch", pending, params["error"])
            error = params["error"] if params["error"] == "access_denied" else "server_error"
            return _back(
                pending,
                self.server.issuer_id,
                error=error,
                error_description=f"the provider answered {params['error']}",
            )
        code = params.get("code")
        if not code:
            return _back(
                pending,
                self.server.issuer_id,
                error="server_error",
                error_description="the provider sent no code",
            )
        try:
            tokens = await self.upstream.exchange_code(code, pending.upstream_verifier)
        except ProviderError as exc:
            logger.warning(
                "provider code exchange failed",
                extra={"error": exc.error, "description": exc.description[:300]},
            )
            return _back(
                pending,
                self.server.issuer_id,
                error="server_error",
                error_description=f"the provider refused the code ({exc.error})",
            )
        grant_id = new_token(16)
        await self.grants.create(
            grant_id, pending.client_id, tokens, pending.scopes, user=pending.user
        )
        ours = await self.server.issue_code(pending, grant_id)
        logger.info(
            "grant created", extra={"grant": grant_id[:8], "client": pending.client_id[:12]}
        )
        response = _back(pending, self.server.issuer_id, code=ours)
        response.delete_cookie(self._binding_cookie(pending.id), path="/")
        return response


def _back(pending: Pending, issuer: str, **params: str) -> Response:
    """Redirect to the MCP client with ``params``, its ``state`` and our ``iss`` (RFC 9207)."""
    if pending.state is not None:
        params["state"] = pending.state
    params["iss"] = issuer
    return RedirectResponse(
        construct_redirect_uri(pending.redirect_uri, **params),
        status_code=302,
        headers={"Cache-Control": "no-store"},
    )


def _csrf_cookie(pending_id: str) -> str:
    return f"mcpbuild_csrf_{pending_id[:12]}"
