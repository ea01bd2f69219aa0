"""A provider quirk simulator on 127.0.0.1: one profile's authorize and token endpoints,
a small API that takes its tokens, and test controls.

It refuses what the provider refuses: the wrong client authentication, a body in the
wrong encoding, a reused code, a redirect URI that is not the registered one, a PKCE
verifier that does not match, a scope list with the wrong separator, a missing
required parameter or scope, a refresh token that rotation retired. Errors are written
the provider's way (HTTP 200 for GitHub and Slack, ``status``/``message`` for HubSpot).

Routes:

- ``GET /authorize`` and ``POST /token``: the OAuth endpoints;
- ``GET /api/...``: the API (401 for an unknown or expired token);
- ``GET /ex/jira/{cloudid}/...`` and ``GET /oauth/token/accessible-resources``: Atlassian's;
- a second listener for Salesforce's ``instance_url`` serves ``/services/data/...``;
- ``POST /__sim/expire`` marks every access token issued so far expired; ``GET
  /__sim/stats`` reports counters (refreshes, refresh tokens rejected, ...).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.presets.profiles import Issue, Profile, SignIn
from tests.servers import running

__all__ = ["CLIENT_ID", "Simulator", "simulate"]

CLIENT_ID = "sim-client-id"
USER = {"id": "alice", "name": "Alice"}

# Provider-specific error codes for the same failures (RFC 6749 names by default).
_GITHUB_ERRORS = {
    "invalid_grant": "bad_verification_code",
    "invalid_client": "incorrect_client_credentials",
    "redirect_mismatch": "redirect_uri_mismatch",
    "bad_refresh": "bad_refresh_token",
}
_SLACK_ERRORS = {
    "invalid_grant": "invalid_code",
    "invalid_client": "invalid_client_id",
    "redirect_mismatch": "bad_redirect_uri",
    "bad_refresh": "invalid_refresh_token",
    "invalid_request": "invalid_arguments",
}
_HUBSPOT_ERRORS = {
    "invalid_grant": "BAD_AUTH_CODE",
    "invalid_client": "BAD_CLIENT_ID",
    "redirect_mismatch": "BAD_REDIRECT_URI",
    "bad_refresh": "BAD_REFRESH_TOKEN",
    "invalid_request": "BAD_GRANT_TYPE",
    "unsupported_grant_type": "BAD_GRANT_TYPE",
}


@dataclass
class _Code:
    sign_in: SignIn
    redirect_uri: str
    challenge: str | None
    used: bool = False


@dataclass
class _Grant:
    """One sign-in: its values and the tokens issued under it."""

    sign_in: SignIn
    values: dict[str, str]


@dataclass
class _Refresh:
    grant: _Grant
    generation: int
    valid: bool = True


@dataclass
class Stats:
    refreshes: int = 0
    """Refresh requests answered with a new access token."""
    refresh_rejected: int = 0
    """Refresh requests refused (an unknown, retired or wrong refresh token)."""
    codes_exchanged: int = 0
    generations_used: list[int] = field(default_factory=list)
    """For each successful refresh, which refresh token it used: 0 is the one of the code
    exchange, n the one the n-th refresh issued."""
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    """How each token request came: grant type, client authentication, body format,
    Accept, and the error answered (no secrets)."""
    authorize_requests: list[dict[str, Any]] = field(default_factory=list)
    """Each authorization request's parameters (state and challenge left out)."""


class Simulator:
    """One profile's state. ``url`` is the provider's origin once running."""

    def __init__(self, profile: Profile, *, client_secret: str, form_always: bool = False):
        self.profile = profile
        self.client_secret = client_secret
        self.form_always = form_always
        """GitHub: answer form-encoded whatever the Accept header (GitHub's default)."""
        self.redirect_uris: set[str] = set()
        self.url = ""
        self.instance_url = ""
        self.cloud_id = "1324a887-45db-1bf4-1e99-ef0ff456d421"
        self.stats = Stats()
        self.issued: list[str] = []
        """Every token value issued, so tests can check none of them is ever printed."""
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, tuple[_Grant, bool]] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._consented = profile.prior_consent

    # --- the provider ------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        shown = {k: v for k, v in query.items() if k not in ("state", "code_challenge")}
        self.stats.authorize_requests.append(shown)
        if query.get("client_id") != CLIENT_ID:
            return HTMLResponse("<p>Unknown client_id.</p>", status_code=400)
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            # Never redirect to an unregistered URI (RFC 6749 section 4.1.2.1).
            return HTMLResponse("<p>redirect_uri is not registered.</p>", status_code=400)

        def refuse(error: str, description: str) -> Response:
            params = {"error": error, "error_description": description}
            if "state" in query:
                params["state"] = query["state"]
            return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type", "response_type must be code")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return refuse("invalid_request", "only code_challenge_method=S256 is supported")
        for name, value in self.profile.required_params.items():
            if query.get(name) != value:
                return refuse("invalid_request", f"{name}={value} is required")
        profile = self.profile
        separator = profile.scope_separator
        if profile.dialect == "slack":
            scopes = _split(query.get("user_scope", ""), separator)
            bot_scopes = _split(query.get("scope", ""), separator)
        else:
            scopes = _split(query.get("scope", ""), separator)
            bot_scopes = []
        other = "," if separator == " " else " "
        for scope in [*scopes, *bot_scopes]:
            if other in scope or (separator == " " and "+" in scope):
                return refuse("invalid_scope", f"unknown scope '{scope}'")
        for scope in bot_scopes:
            if scope in profile.user_only_scopes:
                return refuse("invalid_scope", f"'{scope}' is not a bot scope")
        missing = profile.required_scopes - set(scopes)
        if missing:
            return refuse("invalid_scope", f"the {', '.join(sorted(missing))} scope is required")
        sign_in = SignIn(tuple(scopes), tuple(bot_scopes), query, self._consented)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(sign_in, redirect_uri, challenge)
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    async def token(self, request: Request) -> Response:
        seen: dict[str, Any] = {"accept": request.headers.get("accept", "")}
        self.stats.token_requests.append(seen)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        form: dict[str, str]
        if kind == "application/json":
            seen["format"] = "json"
            try:
                parsed = json.loads(raw)
            except ValueError:
                return self._error(request, seen, "invalid_request", "the body is not JSON")
            form = {k: str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        elif kind == "application/x-www-form-urlencoded":
            seen["format"] = "form"
            form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        else:
            seen["format"] = kind or "none"
            form = {}
        if seen["format"] not in self.profile.body_formats:
            wanted = " or ".join(sorted(self.profile.body_formats))
            return self._error(
                request, seen, "invalid_request", f"the token request body must be {wanted}"
            )
        seen["grant_type"] = form.get("grant_type")
        methods = []
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None:
            methods.append("basic")
        if "client_secret" in form:
            methods.append("post")
        seen["auth"] = "+".join(methods) or "none"
        if len(methods) != 1:
            return self._error(
                request, seen, "invalid_client", "authenticate the client in one way"
            )
        if methods[0] not in self.profile.client_auth:
            how = " or ".join(
                {"basic": "HTTP Basic", "post": "client_secret in the body"}[m]
                for m in sorted(self.profile.client_auth)
            )
            return self._error(
                request, seen, "invalid_client", f"client authentication must be {how}"
            )
        client_id, secret = basic if basic is not None else (form.get("client_id", ""), "")
        if basic is None:
            secret = form.get("client_secret", "")
        if client_id != CLIENT_ID or not secrets.compare_digest(secret, self.client_secret):
            return self._error(request, seen, "invalid_client", "unknown client or wrong secret")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(request, seen, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(request, seen, form)
        return self._error(request, seen, "unsupported_grant_type", f"grant_type {grant_type}")

    def _exchange(self, request: Request, seen: dict[str, Any], form: dict[str, str]) -> Response:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used:
            return self._error(request, seen, "invalid_grant", "the code is unknown or used")
        code.used = True  # single use, even when the rest of the request is wrong
        if form.get("redirect_uri") != code.redirect_uri:
            return self._error(
                request, seen, "redirect_mismatch", "redirect_uri differs from the authorize one"
            )
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
                return self._error(request, seen, "invalid_grant", "PKCE verification failed")
        self._consented = True
        grant = _Grant(code.sign_in, {"user": USER["id"]})
        if self.profile.name == "salesforce":
            grant.values["instance_url"] = self.instance_url
        if self.profile.name == "slack":
            grant.values["bot_token"] = self._new(0, _Grant(code.sign_in, {"bot": "1"}))
        access = self._new(0, grant)
        refresh = None
        if self.profile.offline(code.sign_in):
            refresh = self._new(1, grant)
            self._refresh[refresh] = _Refresh(grant, 0)
        self.stats.codes_exchanged += 1
        body = self.profile.shape(Issue(access, refresh, code.sign_in, False, grant.values))
        return self._answer(request, body)

    def _refresh_grant(
        self, request: Request, seen: dict[str, Any], form: dict[str, str]
    ) -> Response:
        known = self._refresh.get(form.get("refresh_token", ""))
        if known is None or not known.valid:
            self.stats.refresh_rejected += 1
            return self._error(request, seen, "bad_refresh", "the refresh token is not valid")
        grant = known.grant
        for token, (owner, _) in list(self._access.items()):
            if owner is grant and self.profile.rotation == "rotate":
                self._access[token] = (owner, True)  # the old access token dies with it
        access = self._new(0, grant)
        rotation = self.profile.rotation
        refresh: str | None = None
        generation = len(self.stats.generations_used) + 1
        if rotation in ("rotate", "rotate_keep"):
            refresh = self._new(1, grant)
            self._refresh[refresh] = _Refresh(grant, generation)
            known.valid = rotation == "rotate_keep"
        elif rotation == "same":
            refresh = form["refresh_token"]
        self.stats.refreshes += 1
        self.stats.generations_used.append(known.generation)
        body = self.profile.shape(Issue(access, refresh, grant.sign_in, True, grant.values))
        return self._answer(request, body)

    def _new(self, kind: int, grant: _Grant) -> str:
        token = self.profile.token_prefix[kind] + secrets.token_urlsafe(24)
        self.issued.append(token)
        if kind == 0:
            self._access[token] = (grant, False)
        return token

    def _wants_form(self, request: Request) -> bool:
        return self.form_always or "application/json" not in request.headers.get("accept", "")

    def _answer(self, request: Request, body: dict[str, Any]) -> Response:
        if self.profile.dialect == "github" and self._wants_form(request):
            flat = {k: "" if v is None else str(v) for k, v in body.items()}
            return Response(urlencode(flat), media_type="application/x-www-form-urlencoded")
        return JSONResponse(body)

    def _error(self, request: Request, seen: dict[str, Any], error: str, text: str) -> Response:
        dialect = self.profile.dialect
        seen["error"] = error
        if dialect == "github":
            body = {"error": _GITHUB_ERRORS.get(error, error), "error_description": text}
            return self._answer(request, body)  # HTTP 200, Accept's format
        if dialect == "slack":
            return JSONResponse({"ok": False, "error": _SLACK_ERRORS.get(error, error)})
        if dialect == "hubspot":
            status = _HUBSPOT_ERRORS.get(error, "BAD_REQUEST")
            return JSONResponse(
                {"status": status, "message": text, "correlationId": "sim"}, status_code=400
            )
        code = {"redirect_mismatch": "invalid_grant", "bad_refresh": "invalid_grant"}
        body = {"error": code.get(error, error), "error_description": text}
        if dialect == "zoom":
            body = {"reason": text, "error": body["error"]}
        return JSONResponse(body, status_code=401 if error == "invalid_client" else 400)

    # --- the API -----------------------------------------------------------------------

    def _bearer(self, request: Request) -> _Grant | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        known = self._access.get(header[7:].strip())
        if known is None or known[1]:
            return None
        return known[0]

    def _unauthorized(self) -> Response:
        return JSONResponse(
            self.profile.api_401,
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    async def api(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None or "bot" in grant.values:
            return self._unauthorized()
        return JSONResponse({**USER, "path": "/" + request.path_params["path"]})

    async def provider_api(self, request: Request) -> Response:
        """The API on the provider's origin; Atlassian's is only under /ex/jira/{cloudid}/
        and Salesforce's only at the instance_url."""
        if self.profile.name in ("atlassian", "salesforce"):
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return await self.api(request)

    async def accessible_resources(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        return JSONResponse(
            [
                {
                    "id": self.cloud_id,
                    "url": "https://simulated.atlassian.net",
                    "name": "simulated",
                    "scopes": ["read:jira-user", "read:jira-work"],
                    "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/a.png",
                }
            ]
        )

    async def jira(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None or grant.sign_in.params.get("audience") != "api.atlassian.com":
            return self._unauthorized()
        if request.path_params["cloudid"] != self.cloud_id:
            return JSONResponse({"message": "cloud id not found"}, status_code=404)
        return JSONResponse({**USER, "path": "/" + request.path_params["path"]})

    # --- test controls -----------------------------------------------------------------

    async def expire(self, request: Request) -> Response:
        for token, (grant, _) in list(self._access.items()):
            self._access[token] = (grant, True)
        return JSONResponse({"expired": len(self._access)})

    async def report(self, request: Request) -> Response:
        return JSONResponse(self.stats.__dict__)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", _ok),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/api/{path:path}", self.provider_api),
                Route("/oauth/token/accessible-resources", self.accessible_resources),
                Route("/ex/jira/{cloudid}/{path:path}", self.jira),
                Route("/__sim/expire", self.expire, methods=["POST"]),
                Route("/__sim/stats", self.report),
            ]
        )

    def instance_app(self) -> Starlette:
        """Salesforce's org origin (``instance_url``): the API lives only here."""
        return Starlette(
            routes=[
                Route("/healthz", _ok),
                Route("/services/data/{path:path}", self.api),
            ]
        )


async def _ok(request: Request) -> Response:
    return Response("ok")


def _split(value: str, separator: str) -> list[str]:
    return [s for s in value.split(separator) if s] if value else []


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    # RFC 6749 section 2.3.1: each part form-urlencoded before base64.
    return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))


@contextlib.asynccontextmanager
async def simulate(
    profile: Profile, *, client_secret: str | None = None, form_always: bool = False
) -> AsyncIterator[Simulator]:
    """Run the simulator of ``profile`` on 127.0.0.1 (Salesforce: and its instance)."""
    sim = Simulator(
        profile, client_secret=client_secret or secrets.token_urlsafe(24), form_always=form_always
    )
    async with contextlib.AsyncExitStack() as stack:
        if profile.name == "salesforce":
            sim.instance_url = await stack.enter_async_context(running(sim.instance_app()))
        sim.url = await stack.enter_async_context(running(sim.app()))
        assert urlsplit(sim.url).hostname == "127.0.0.1"
        yield sim
