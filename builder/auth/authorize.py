"""``/authorize``: the SDK's handler, with what RFC 9207 and RFC 9700 ask of its errors.

- Every error sent back to a client carries ``iss`` (RFC 9207 §2: on error responses
  too); the SDK's handler leaves it out, and clients that check it then report an issuer
  mismatch instead of the real error.
- An error is redirected automatically only to a client this server has already issued a
  code to. A client that was never used (registered a moment ago, or a metadata document
  seen for the first time) gets a page that says what went wrong and offers the way back
  as a link the user chooses to follow: otherwise ``/authorize`` is an open redirector
  to any https URI anyone can register (RFC 9700 §4.11.2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from starlette.requests import Request
from starlette.responses import Response

from builder.auth.server import AuthorizationServer
from builder.pages import render_page
from builder.routes import CONSENT_PATH

__all__ = ["AuthorizeEndpoint"]


class AuthorizeEndpoint:
    """The ``/authorize`` route's endpoint."""

    def __init__(
        self, server: AuthorizationServer, *, trusted: Callable[[str], Awaitable[bool]]
    ) -> None:
        self.server = server
        self.sdk = AuthorizationHandler(server)
        self.trusted = trusted
        self.consent_url = server.issuer + CONSENT_PATH

    async def handle(self, request: Request) -> Response:
        response = await self.sdk.handle(request)
        location = response.headers.get("location")
        if response.status_code != 302 or not location or location.startswith(self.consent_url):
            return response
        params = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
        if "error" not in params:
            return response
        location = _with_param(location, "iss", self.server.issuer_id)
        client_id = await _client_id(request) or ""
        if await self.trusted(client_id):
            response.headers["location"] = location
            return response
        return render_page(
            "authorize_error.html",
            status=400,
            title="This sign-in cannot go on",
            error=params.get("error", ""),
            description=params.get("error_description", ""),
            client_host=urlsplit(location).netloc,
            back=location,
        )


async def _client_id(request: Request) -> str | None:
    params = await request.form() if request.method == "POST" else request.query_params
    value = params.get("client_id")
    return value if isinstance(value, str) else None


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))
