"""mcpbuild's own consent page, the redirect to the provider, and the provider's callback.

The consent page comes before any redirect upstream: it names the client, where the
answer will be sent, the connector and the scopes, so a user is never silently signed
in to the provider on behalf of a client they did not choose (the MCP security guidance
for proxies that use one upstream client id).
"""

from __future__ import annotations

import hmac
import html
import logging
from urllib.parse import urlsplit

from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from builder.auth.crypto import new_token
from builder.auth.grants import GrantManager
from builder.auth.server import AuthorizationServer
from builder.auth.store import Pending
from builder.auth.upstream import ProviderError, UpstreamOAuth
from builder.connector.models import Connector
from builder.pages import PAGE_HEADERS

__all__ = ["ConsentFlow"]

logger = logging.getLogger("mcpbuild.consent")

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;
color:#1d1d1f}h1{font-size:1.4rem}
.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}
code{background:#f2f2f2;padding:0 .25rem;border-radius:3px}ul{padding-left:1.2rem}
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;
border:1px solid #888}
button.approve{background:#0a58ca;color:#fff;border-color:#0a58ca}.muted{color:#666;font-size:.9rem}
"""


class ConsentFlow:
    """The routes between the client's /authorize and our authorization code."""

    def __init__(
        self,
        connector: Connector,
        server: AuthorizationServer,
        upstream: UpstreamOAuth,
        grants: GrantManager,
        *,
        secure_cookies: bool,
    ) -> None:
        assert connector.provider is not None
        self.connector = connector
        self.scope_text = connector.provider.scopes
        self.server = server
        self.upstream = upstream
        self.grants = grants
        self.secure = secure_cookies

    def routes(self) -> list[Route]:
        return [
            Route("/consent", self.consent_page, methods=["GET"]),
            Route("/consent", self.consent_answer, methods=["POST"]),
            Route("/oauth/callback", self.callback, methods=["GET"]),
        ]

    async def consent_page(self, request: Request) -> Response:
        pending = await self.server.store.get_pending(request.query_params.get("request", ""))
        if pending is None:
            return _page(
                "Sign-in expired",
                "<p>This sign-in request is unknown or has expired. "
                "Start again from your MCP client.</p>",
                status=400,
            )
        client = await self.server.get_client(pending.client_id)
        if client is None:
            return _page(
                "Unknown client", "<p>The client of this request is not registered.</p>", status=400
            )
        name = client.client_name or pending.client_id
        title = self.connector.title or self.connector.name
        scopes = "".join(
            f"<li><code>{_e(s)}</code> — {_e(self.scope_text.get(s, ''))}</li>"
            for s in pending.scopes
        )
        body = f"""
<p><strong>{_e(name)}</strong> wants to use <strong>{_e(title)}</strong> as you.</p>
<div class="box">
<p>It asks for:</p><ul>{scopes}</ul>
<p class="muted">After you approve, you sign in with the provider
(<code>{_e(urlsplit(self.upstream.authorization_url).netloc)}</code>), and your answer is sent to
<code>{_e(urlsplit(pending.redirect_uri).netloc)}</code>.
Client id: <code>{_e(pending.client_id)}</code></p>
</div>
<form method="post" action="/consent">
<input type="hidden" name="request" value="{_e(pending.id)}">
<input type="hidden" name="csrf" value="{_e(pending.csrf)}">
<button class="approve" type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>"""
        response = _page(f"Connect {title}", body)
        response.set_cookie(
            _cookie_name(pending.id),
            pending.csrf,
            max_age=600,
            path="/consent",
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
            return _page(
                "Sign-in expired",
                "<p>This sign-in request is unknown or has expired.</p>",
                status=400,
            )
        sent = str(form.get("csrf", ""))
        cookie = request.cookies.get(_cookie_name(pending.id), "")
        if not (
            sent
            and cookie
            and hmac.compare_digest(sent, pending.csrf)
            and hmac.compare_digest(cookie, pending.csrf)
        ):
            logger.warning("consent refused: CSRF check failed")
            return _page(
                "Request refused",
                "<p>The form did not come from this page. Start again from your MCP client.</p>",
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
        url, state, verifier = self.upstream.authorization_request(pending.scopes)
        pending.upstream_state = state
        pending.upstream_verifier = verifier
        pending.csrf = new_token(24)  # the form cannot be replayed
        await self.server.store.save_pending(pending)
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        response.delete_cookie(_cookie_name(pending.id), path="/consent")
        return response

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        pending = await self.server.store.take_pending_by_state(params.get("state", ""))
        if pending is None:
            logger.warning("provider callback with unknown state")
            return _page(
                "Sign-in refused",
                "<p>This sign-in answer does not match any request "
                "in progress (unknown or already used state). Start again from your "
                "MCP client.</p>",
                status=400,
            )
        if "error" in params:
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
            logger.warning("provider code exchange failed", extra={"error": exc.error})
            return _back(
                pending,
                self.server.issuer_id,
                error="server_error",
                error_description=f"the provider refused the code ({exc.error})",
            )
        grant_id = new_token(16)
        await self.grants.create(grant_id, pending.client_id, tokens, pending.scopes)
        ours = await self.server.issue_code(pending, grant_id)
        logger.info(
            "grant created", extra={"grant": grant_id[:8], "client": pending.client_id[:12]}
        )
        return _back(pending, self.server.issuer_id, code=ours)


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


def _cookie_name(pending_id: str) -> str:
    return f"mcpbuild_csrf_{pending_id[:12]}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    doc = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{_e(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=PAGE_HEADERS)
