"""Auth failures in words: what happened and its usual cause, in one sentence each.

Each function returns the sentence; :func:`explain` logs it (logger
``mcpbuild.explain``, at warning level) where the failure is seen, with or without the
inspector, which shows the same words. Nothing secret goes in: no token, no code, no
client secret.
"""

from __future__ import annotations

import logging

__all__ = [
    "consent_cookie_missing",
    "explain",
    "missing_authorization",
    "redirect_uri_mismatch",
    "upstream_invalid_grant",
    "upstream_unauthorized",
]

logger = logging.getLogger("mcpbuild.explain")


def explain(sentence: str, **extra: str) -> str:
    """Log ``sentence`` (with ``extra`` fields) and return it."""
    logger.warning(sentence, extra=extra)
    return sentence


def missing_authorization(session: bool) -> str:
    where = "in a session opened with a token" if session else "after this client signed in"
    return (
        f"A request reached /mcp without an Authorization header {where}, so it was answered "
        "401: usually a proxy in front of the server strips the header, or the client was "
        "configured with the URL but without its OAuth sign-in."
    )


def upstream_unauthorized(host: str, said: str = "401") -> str:
    return (
        f"The API at {host} answered a tool call with {said}: the provider no longer accepts the "
        "user's access token (usually it expired early or was revoked at the provider); "
        "mcpbuild refreshes it once and tries again."
    )


def upstream_invalid_grant(error: str) -> str:
    return (
        f"The provider refused to refresh the user's sign-in ({error}): usually the user "
        "revoked the app at the provider, the refresh token expired, or it was used twice; "
        "the user must sign in again."
    )


def redirect_uri_mismatch(redirect_uri: str, error: str) -> str:
    return (
        f"The provider refused the sign-in ({error}) because the redirect URI mcpbuild sent, "
        f"{redirect_uri}, is not registered with it: register exactly this URI in the "
        "provider's app settings (it is --public-url followed by /oauth/callback)."
    )


def consent_cookie_missing(host: str) -> str:
    return (
        "The provider's answer reached /oauth/callback without the cookie set when consent "
        "was approved, so the sign-in was cancelled: usually it was finished in another "
        "browser or profile, cookies are blocked, or the consent page was opened on another "
        f"host name than {host} (cookies are kept per host: localhost is not 127.0.0.1)."
    )
