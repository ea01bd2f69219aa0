"""Checks of the ``provider`` block: its URLs and secret, its scopes, and the
authorization request parameters mcpbuild sets itself."""

from __future__ import annotations

from collections.abc import Iterator

# A module import, not names: checks imports this module while it is itself being imported.
from builder.connector import checks
from builder.connector.models import Connector, Provider

__all__ = ["RESERVED_AUTHORIZE_PARAMS", "check_provider", "check_unrequested_scopes"]

_SCOPE_FIELDS = (
    "declare scopes in provider.scopes, list the ones a tool needs in its scopes, and the "
    "ones every sign-in needs in provider.always_request"
)
RESERVED_AUTHORIZE_PARAMS: dict[str, str] = {
    "response_type": "mcpbuild always asks for 'code'",
    "client_id": "use provider.client_id",
    "redirect_uri": "mcpbuild sends its own callback URL",
    "scope": _SCOPE_FIELDS,
    "state": "mcpbuild makes a fresh one for every sign-in",
    "code_challenge": "PKCE is provider.pkce",
    "code_challenge_method": "PKCE is provider.pkce",
}
"""Authorization request parameters mcpbuild sets itself, with what to use instead."""


def check_unrequested_scopes(connector: Connector, provider: Provider) -> Iterator[checks.Found]:
    """Warn about declared scopes that are never requested. When nothing names a scope,
    every declared scope is requested, so there is nothing to warn about."""
    named = {s for t in connector.tools for s in t.scopes} | set(provider.always_request)
    if not named:
        return
    for scope in provider.scopes:
        if scope not in named:
            yield checks.Found(
                ("provider", "scopes", scope),
                f"scope '{scope}' is never requested (no tool lists it, nor "
                "provider.always_request)",
                "unrequested_scope",
                True,
                severity="warning",
            )


def check_provider(provider: Provider) -> Iterator[checks.Found]:
    """The semantic problems of the ``provider`` block."""
    for field in ("authorization_url", "token_url", "revocation_url"):
        value = getattr(provider, field)
        if value is not None:
            yield from checks.check_url(value, ("provider", field))
    secret = provider.client_secret
    if secret is not None and not checks.is_reference(secret):
        yield checks.Found(
            ("provider", "client_secret"),
            "expected a ${VAR} reference to an environment variable, got a literal "
            "secret (value hidden); never commit secrets to a spec",
            "literal_secret",
        )
    yield from checks.check_refs(provider.client_id, ("provider", "client_id"))
    if provider.token_endpoint_auth_method != "none" and secret is None:  # noqa: S105
        yield checks.Found(
            ("provider", "token_endpoint_auth_method"),
            f"'{provider.token_endpoint_auth_method}' needs provider.client_secret; "
            "set it or use 'none' for a public client",
            "missing_secret",
        )
    for scope in provider.scopes:
        if not scope or any(c.isspace() for c in scope):
            yield checks.Found(
                ("provider", "scopes", scope),
                f"expected a scope without spaces, got '{scope}'",
                "scope",
                True,
            )
    for j, scope in enumerate(provider.always_request):
        if scope not in provider.scopes:
            known = ", ".join(sorted(provider.scopes)) or "none"
            yield checks.Found(
                ("provider", "always_request", j),
                f"scope '{scope}' is not declared in provider.scopes (declared: {known})",
                "undeclared_scope",
            )
    for key in provider.authorize_params:
        if key in RESERVED_AUTHORIZE_PARAMS:
            yield checks.Found(
                ("provider", "authorize_params", key),
                f"'{key}' is set by mcpbuild on every authorization request; "
                f"{RESERVED_AUTHORIZE_PARAMS[key]}",
                "reserved_param",
                True,
            )
