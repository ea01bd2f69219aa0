"""What each provider's authorize and token endpoints accept and answer, from its own
documentation, for the quirk simulator (tests/presets/simulator.py).

A profile is data plus one function that shapes a successful token answer. Each one
cites the page it reproduces; where a page leaves a detail open, the profile takes the
strict reading (it says so), so that a preset which gets the quirk wrong fails here and
not only against the real provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Rotation = Literal["never", "none", "same", "rotate", "rotate_keep"]
"""What a refresh does with the refresh token: ``never`` (no refresh token at all),
``none`` (the answer has none: keep the old one), ``same`` (the same one re-sent),
``rotate`` (a new one; the old one stops working), ``rotate_keep`` (a new one; the old
one keeps working)."""
Dialect = Literal["oauth", "github", "slack", "hubspot", "zoom"]
"""How the token endpoint writes its answers and errors."""


@dataclass(frozen=True)
class SignIn:
    """What the authorization request asked for, as the token endpoint needs it."""

    scopes: tuple[str, ...]
    """Scopes asked for in the profile's scope parameter (Slack: ``user_scope``)."""
    bot_scopes: tuple[str, ...]
    """Slack only: the bot scopes, asked for in ``scope``."""
    params: Mapping[str, str]
    """Every query parameter of the authorization request."""
    prior_consent: bool
    """The user had approved this client before (Google: a refresh token needs
    prompt=consent then)."""


@dataclass(frozen=True)
class Issue:
    """One token answer to shape: the tokens the simulator made and what for."""

    access_token: str
    refresh_token: str | None
    sign_in: SignIn
    refreshing: bool
    """A refresh answer (else the code exchange's)."""
    values: Mapping[str, str]
    """Per-grant values: ``user`` always; ``instance_url`` (Salesforce), ``cloud_id``."""


@dataclass(frozen=True)
class Profile:
    name: str
    docs: tuple[str, ...]
    client_auth: frozenset[str]
    """Client authentication the token endpoint accepts: ``basic`` (HTTP Basic) and/or
    ``post`` (client_id and client_secret in the body)."""
    body_formats: frozenset[str]
    """Token request bodies it reads: ``form`` and/or ``json``."""
    dialect: Dialect
    scope_separator: str
    """How the authorization request's scopes are separated."""
    offline: Callable[[SignIn], bool]
    """Whether the code exchange gives a refresh token."""
    rotation: Rotation
    shape: Callable[[Issue], dict[str, Any]]
    required_params: Mapping[str, str] = field(default_factory=dict)
    """Authorization request parameters that must have this value (else an error)."""
    required_scopes: frozenset[str] = frozenset()
    user_only_scopes: frozenset[str] = frozenset()
    """Slack: scopes that exist only for user tokens (asked for as bot scopes: refused)."""
    prior_consent: bool = False
    api_401: Mapping[str, Any] = field(
        default_factory=lambda: {"error": "invalid_token", "error_description": "expired"}
    )
    token_prefix: tuple[str, str] = ("at-", "rt-")


def scopes_of(sign_in: SignIn, separator: str = " ") -> str:
    return separator.join(sign_in.scopes)


def always(_: SignIn) -> bool:
    return True


def with_scope(*names: str) -> Callable[[SignIn], bool]:
    def offline(sign_in: SignIn) -> bool:
        return any(n in sign_in.scopes for n in names)

    return offline


# --- GitHub (OAuth App) ----------------------------------------------------------------
# https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
#   the token answer is `access_token=...&scope=repo%2Cgist&token_type=bearer` unless the
#   request says `Accept: application/json`; response scopes are comma-separated; OAuth
#   App tokens do not expire and come without a refresh token; client_id and
#   client_secret are body parameters (HTTP Basic is accepted too).
# https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
#   errors (bad_verification_code, incorrect_client_credentials, redirect_uri_mismatch)
#   come with HTTP 200, in the format the Accept header asked for.
def _github(issue: Issue) -> dict[str, Any]:
    return {
        "access_token": issue.access_token,
        "scope": scopes_of(issue.sign_in, ","),
        "token_type": "bearer",
    }


# --- GitHub App user tokens ----------------------------------------------------------
# https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
#   expires_in is always 28800 (8 hours), refresh_token_expires_in 15897600 (6 months);
#   "Once you use a refresh token, that refresh token and the old user access token will
#   no longer work" (rotation, single use). Same endpoint and answer format as OAuth Apps.
def _github_app(issue: Issue) -> dict[str, Any]:
    return {
        "access_token": issue.access_token,
        "expires_in": 28800,
        "refresh_token": issue.refresh_token,
        "refresh_token_expires_in": 15897600,
        "scope": "",
        "token_type": "bearer",
    }


# --- Google ------------------------------------------------------------------------------
# https://developers.google.com/identity/protocols/oauth2/web-server#offline
#   a refresh token only with access_type=offline, and only at the first consent: a user
#   who approved the client before gets one again only with prompt=consent (this profile
#   plays such a returning user); a refresh answer has no refresh token (no rotation).
# https://developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code
#   client_id and client_secret as body parameters (HTTP Basic also accepted, RFC 6749).
def _google_offline(sign_in: SignIn) -> bool:
    if sign_in.params.get("access_type") != "offline":
        return False
    consent = "consent" in sign_in.params.get("prompt", "").split()
    return consent or not sign_in.prior_consent


def _google(issue: Issue) -> dict[str, Any]:
    body = {
        "access_token": issue.access_token,
        "expires_in": 3599,
        "scope": scopes_of(issue.sign_in),
        "token_type": "Bearer",
    }
    if issue.refresh_token and not issue.refreshing:
        body["refresh_token"] = issue.refresh_token
    return body


# --- Microsoft (Entra ID, v2.0 endpoints) ------------------------------------------------
# https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
#   a refresh token only when offline_access was requested; a refresh answer carries a new
#   refresh token that replaces the old one, and the old one is not revoked
#   ("refresh tokens ... are not revoked when used to acquire new access tokens").
_OIDC = ("openid", "profile", "email", "offline_access")


def _microsoft(issue: Issue) -> dict[str, Any]:
    granted = [s for s in issue.sign_in.scopes if s not in _OIDC] + ["profile", "openid", "email"]
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(granted),
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": issue.access_token,
    }
    if issue.refresh_token:
        body["refresh_token"] = issue.refresh_token
    return body


# --- Slack -------------------------------------------------------------------------------
# https://docs.slack.dev/reference/methods/oauth.v2.access
#   the user token is only inside `authed_user` (top level: the bot token, present only
#   when bot scopes were asked for in `scope`); `ok: true|false`, errors with HTTP 200
#   (invalid_code, bad_redirect_uri, invalid_client_id, bad_client_secret, ...); HTTP Basic
#   preferred, body credentials accepted; form or JSON bodies.
# https://docs.slack.dev/authentication/installing-with-oauth
#   user scopes go in `user_scope`, bot scopes in `scope`, both comma-separated.
# https://docs.slack.dev/authentication/using-token-rotation
#   with token rotation on (this profile), user tokens expire (expires_in 43200) and come
#   with a refresh token; a refresh answers the refreshed token at the top level with a new
#   refresh token (the page does not say the old one dies: kept working here).
#   Slack's Web API answers a dead token with HTTP 200 {"ok": false, "error":
#   "token_expired"}; this simulator's API answers 401 with that body instead, so the
#   forced-expiry test exercises the refresh (a real expired Slack token is refreshed
#   ahead of time from expires_in, never from a 401).
def _slack(issue: Issue) -> dict[str, Any]:
    sign_in = issue.sign_in
    if issue.refreshing:
        return {
            "ok": True,
            "access_token": issue.access_token,
            "token_type": "user",
            "scope": ",".join(sign_in.scopes),
            "refresh_token": issue.refresh_token,
            "expires_in": 43200,
            "team": {"id": "T0SIM", "name": "Simulated"},
        }
    user: dict[str, Any] = {"id": "U0ALICE"}
    if sign_in.scopes:
        user.update(
            scope=",".join(sign_in.scopes),
            access_token=issue.access_token,
            token_type="user",
            refresh_token=issue.refresh_token,
            expires_in=43200,
        )
    body: dict[str, Any] = {
        "ok": True,
        "app_id": "A0SIM",
        "authed_user": user,
        "team": {"id": "T0SIM", "name": "Simulated"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if sign_in.bot_scopes:
        body.update(
            scope=",".join(sign_in.bot_scopes),
            token_type="bot",
            access_token=issue.values["bot_token"],
            bot_user_id="U0BOT",
        )
    return body


# --- Notion ------------------------------------------------------------------------------
# https://developers.notion.com/docs/authorization
#   the authorization URL needs owner=user; the token request authenticates the client
#   with HTTP Basic only and has a JSON body.
# https://developers.notion.com/reference/create-a-token
#   the answer: access_token, token_type, refresh_token, bot_id, workspace_*, owner,
#   duplicated_template_id, request_id; no expires_in.
# https://developers.notion.com/reference/refresh-a-token
#   "generating a new access token and new refresh token" (the old one: refused here).
def _notion(issue: Issue) -> dict[str, Any]:
    return {
        "access_token": issue.access_token,
        "token_type": "bearer",
        "refresh_token": issue.refresh_token,
        "bot_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "workspace_name": "Simulated",
        "workspace_icon": None,
        "workspace_id": "3c90c3cc-0d44-4b50-8888-8dd25736052b",
        "owner": {"type": "user", "user": {"object": "user", "id": "alice"}},
        "duplicated_template_id": None,
        "request_id": "3c90c3cc-0d44-4b50-8888-8dd25736052c",
    }


# --- Atlassian ---------------------------------------------------------------------------
# https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/
#   the authorization URL needs audience=api.atlassian.com; a refresh token only with the
#   offline_access scope; rotating refresh tokens (each refresh gives a new one, the old
#   one is refused); the cloud id comes from GET
#   https://api.atlassian.com/oauth/token/accessible-resources ([{id, url, name, scopes,
#   avatarUrl}]) and the API is only under https://api.atlassian.com/ex/jira/{cloudid}/.
# https://developer.atlassian.com/cloud/oauth/getting-started/making-calls-to-api/
def _atlassian(issue: Issue) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": issue.access_token,
        "expires_in": 3600,
        "token_type": "Bearer",
        "scope": scopes_of(issue.sign_in),
    }
    if issue.refresh_token:
        body["refresh_token"] = issue.refresh_token
    return body


# --- Salesforce --------------------------------------------------------------------------
# https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
#   the answer has instance_url (the org's API origin, not the login host), id,
#   issued_at, signature, token_type, scope, and no expires_in; a refresh token only
#   with the refresh_token (or offline_access) scope; client_secret in the body.
# https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm
#   the refresh answer has no refresh_token (the old one stays).
def _salesforce(issue: Issue) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": issue.access_token,
        "signature": "c2lnbmF0dXJl",
        "scope": scopes_of(issue.sign_in),
        "instance_url": issue.values["instance_url"],
        "id": "https://login.salesforce.com/id/00Dsim0000000001/005sim0000000001",
        "token_type": "Bearer",
        "issued_at": "1700000000000",
    }
    if issue.refresh_token and not issue.refreshing:
        body["refresh_token"] = issue.refresh_token
    return body


# --- Dropbox -----------------------------------------------------------------------------
# https://developers.dropbox.com/oauth-guide
# https://www.dropbox.com/developers/documentation/http/documentation#oauth2-authorize
#   short-lived tokens (expires_in 14400); a refresh token only with
#   token_access_type=offline; the refresh answer has no refresh token; HTTP Basic or
#   body credentials.
def _dropbox(issue: Issue) -> dict[str, Any]:
    if issue.refreshing:
        return {"access_token": issue.access_token, "token_type": "bearer", "expires_in": 14400}
    body: dict[str, Any] = {
        "access_token": issue.access_token,
        "expires_in": 14400,
        "token_type": "bearer",
        "scope": scopes_of(issue.sign_in),
        "account_id": "dbid:AAsim",
        "uid": "12345",
    }
    if issue.refresh_token:
        body["refresh_token"] = issue.refresh_token
    return body


# --- HubSpot -----------------------------------------------------------------------------
# https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/guide
#   a URL-form encoded POST with client_id and client_secret in the body; expires_in
#   1800; refreshing re-sends the same refresh token.
# https://developers.hubspot.com/docs/apps/legacy-apps/authentication/scopes
#   the `oauth` scope is required on every install URL.
# https://developers.hubspot.com/changelog/additional-details-returned-when-generating-oauth-access-tokens
#   the answer lists `scopes` (an array) and hub_id; errors are {status, message}
#   (BAD_AUTH_CODE, BAD_REFRESH_TOKEN, BAD_CLIENT_ID, ...), not RFC 6749's `error`.
def _hubspot(issue: Issue) -> dict[str, Any]:
    return {
        "token_type": "bearer",
        "refresh_token": issue.refresh_token,
        "hub_id": 62515,
        "scopes": list(issue.sign_in.scopes),
        "access_token": issue.access_token,
        "expires_in": 1800,
    }


# --- Linear ------------------------------------------------------------------------------
# https://linear.app/developers/oauth-2-0-authentication
#   scopes comma-separated in the authorization URL; refresh tokens are on for every app
#   (since April 2026): access tokens last 24 hours and come with a refresh token; the
#   answer lists scope as an array. The page does not say the old refresh token stays
#   valid after a refresh: refused here (strict reading).
def _linear(issue: Issue) -> dict[str, Any]:
    return {
        "access_token": issue.access_token,
        "token_type": "Bearer",
        "expires_in": 86399,
        "scope": list(issue.sign_in.scopes),
        "refresh_token": issue.refresh_token,
    }


# --- GitLab ------------------------------------------------------------------------------
# https://docs.gitlab.com/api/oauth2/
#   access tokens expire after 2 hours (expires_in 7200) and come with a refresh token;
#   refreshing answers a new refresh token and revokes the old one (Doorkeeper rotation).
def _gitlab(issue: Issue) -> dict[str, Any]:
    return {
        "access_token": issue.access_token,
        "token_type": "Bearer",
        "expires_in": 7200,
        "refresh_token": issue.refresh_token,
        "scope": scopes_of(issue.sign_in),
        "created_at": 1700000000,
    }


# --- Zoom --------------------------------------------------------------------------------
# https://developers.zoom.us/docs/integrations/oauth/
#   the token request authenticates with `Authorization: Basic base64(client_id:secret)`
#   only (body credentials: 401 invalid_client); expires_in 3599; each refresh returns a
#   new refresh token and the old one stops working.
def _zoom(issue: Issue) -> dict[str, Any]:
    return {
        "access_token": issue.access_token,
        "token_type": "bearer",
        "refresh_token": issue.refresh_token,
        "expires_in": 3599,
        "scope": scopes_of(issue.sign_in),
        "api_url": "https://api.zoom.us",
    }


# --- Asana -------------------------------------------------------------------------------
# https://developers.asana.com/docs/oauth
#   expires_in 3600, a refresh token at the code exchange, and `data` (the user); the
#   refresh answer has no refresh token; client_id and client_secret in the form body.
def _asana(issue: Issue) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": issue.access_token,
        "expires_in": 3600,
        "token_type": "bearer",
        "data": {"id": 4673218951, "gid": "4673218951", "name": "Alice", "email": "a@x.test"},
    }
    if not issue.refreshing:
        body["refresh_token"] = issue.refresh_token
    return body


# --- Spotify -----------------------------------------------------------------------------
# https://developer.spotify.com/documentation/web-api/tutorials/code-flow
#   `Authorization: Basic base64(client_id:client_secret)`; expires_in 3600; space-separated
#   scopes.
# https://developer.spotify.com/documentation/web-api/tutorials/refreshing-tokens
#   "A new refresh token might be returned too": one is returned here; the old one keeps
#   working (the page says to go on using it when none comes).
def _spotify(issue: Issue) -> dict[str, Any]:
    return {
        "access_token": issue.access_token,
        "token_type": "Bearer",
        "scope": scopes_of(issue.sign_in),
        "expires_in": 3600,
        "refresh_token": issue.refresh_token,
    }


BOTH = frozenset({"basic", "post"})
FORM = frozenset({"form"})
FORM_OR_JSON = frozenset({"form", "json"})

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            "github",
            (
                "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/"
                "authorizing-oauth-apps",
            ),
            BOTH,
            FORM_OR_JSON,
            "github",
            " ",
            offline=lambda _: False,
            rotation="never",
            shape=_github,
            api_401={"message": "Bad credentials", "status": "401"},
            token_prefix=("gho_", "-"),
        ),
        Profile(
            "github-app",
            (
                "https://docs.github.com/en/apps/creating-github-apps/"
                "authenticating-with-a-github-app/refreshing-user-access-tokens",
            ),
            BOTH,
            FORM_OR_JSON,
            "github",
            " ",
            offline=always,
            rotation="rotate",
            shape=_github_app,
            api_401={"message": "Bad credentials", "status": "401"},
            token_prefix=("ghu_", "ghr_"),
        ),
        Profile(
            "google",
            ("https://developers.google.com/identity/protocols/oauth2/web-server",),
            BOTH,
            FORM,
            "oauth",
            " ",
            offline=_google_offline,
            rotation="none",
            shape=_google,
            prior_consent=True,
            token_prefix=("ya29.", "1//"),
        ),
        Profile(
            "microsoft",
            ("https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",),
            BOTH,
            FORM,
            "oauth",
            " ",
            offline=with_scope("offline_access"),
            rotation="rotate_keep",
            shape=_microsoft,
            token_prefix=("eyJ0eXAi.", "0.AX"),
        ),
        Profile(
            "slack",
            (
                "https://docs.slack.dev/reference/methods/oauth.v2.access",
                "https://docs.slack.dev/authentication/using-token-rotation",
            ),
            BOTH,
            FORM_OR_JSON,
            "slack",
            ",",
            offline=lambda s: bool(s.scopes),
            rotation="rotate_keep",
            shape=_slack,
            user_only_scopes=frozenset({"search:read", "identity.basic"}),
            api_401={"ok": False, "error": "token_expired"},
            token_prefix=("xoxe.xoxp-", "xoxe-1-"),
        ),
        Profile(
            "notion",
            (
                "https://developers.notion.com/docs/authorization",
                "https://developers.notion.com/reference/create-a-token",
            ),
            frozenset({"basic"}),
            frozenset({"json"}),
            "oauth",
            " ",
            offline=always,
            rotation="rotate",
            shape=_notion,
            required_params={"owner": "user"},
            api_401={"object": "error", "status": 401, "code": "unauthorized"},
            token_prefix=("ntn_", "nrt_"),
        ),
        Profile(
            "atlassian",
            ("https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/",),
            BOTH,
            FORM_OR_JSON,
            "oauth",
            " ",
            offline=with_scope("offline_access"),
            rotation="rotate",
            shape=_atlassian,
            required_params={"audience": "api.atlassian.com"},
        ),
        Profile(
            "salesforce",
            (
                "https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm",
            ),
            BOTH,
            FORM,
            "oauth",
            " ",
            offline=with_scope("refresh_token", "offline_access"),
            rotation="none",
            shape=_salesforce,
            api_401={"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"},
            token_prefix=("00Dsim!", "5Aep"),
        ),
        Profile(
            "dropbox",
            ("https://developers.dropbox.com/oauth-guide",),
            BOTH,
            FORM,
            "oauth",
            " ",
            offline=lambda s: s.params.get("token_access_type") == "offline",
            rotation="none",
            shape=_dropbox,
            token_prefix=("sl.", "rt."),
        ),
        Profile(
            "hubspot",
            (
                "https://developers.hubspot.com/docs/api-reference/legacy/authentication/"
                "oauth-tokens/v1/guide",
            ),
            frozenset({"post"}),
            FORM,
            "hubspot",
            " ",
            offline=always,
            rotation="same",
            shape=_hubspot,
            required_scopes=frozenset({"oauth"}),
            api_401={"status": "error", "category": "EXPIRED_AUTHENTICATION"},
            token_prefix=("CJ", "na1-"),
        ),
        Profile(
            "linear",
            ("https://linear.app/developers/oauth-2-0-authentication",),
            BOTH,
            FORM,
            "oauth",
            ",",
            offline=always,
            rotation="rotate",
            shape=_linear,
            token_prefix=("lin_oauth_", "lin_refresh_"),
        ),
        Profile(
            "gitlab",
            ("https://docs.gitlab.com/api/oauth2/",),
            BOTH,
            FORM_OR_JSON,
            "oauth",
            " ",
            offline=always,
            rotation="rotate",
            shape=_gitlab,
            token_prefix=("glpat-oauth-", "glrt-"),
        ),
        Profile(
            "zoom",
            ("https://developers.zoom.us/docs/integrations/oauth/",),
            frozenset({"basic"}),
            FORM,
            "zoom",
            " ",
            offline=always,
            rotation="rotate",
            shape=_zoom,
            api_401={"code": 124, "message": "Invalid access token."},
        ),
        Profile(
            "asana",
            ("https://developers.asana.com/docs/oauth",),
            BOTH,
            FORM,
            "oauth",
            " ",
            offline=always,
            rotation="none",
            shape=_asana,
            token_prefix=("2/", "2/r"),
        ),
        Profile(
            "spotify",
            ("https://developer.spotify.com/documentation/web-api/tutorials/code-flow",),
            BOTH,
            FORM,
            "oauth",
            " ",
            offline=always,
            rotation="rotate_keep",
            shape=_spotify,
            api_401={"error": {"status": 401, "message": "The access token expired"}},
            token_prefix=("BQ", "AQ"),
        ),
    ]
}
