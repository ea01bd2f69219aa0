"""Checks of the ``provider`` block: its URLs and secret, its scopes, and the
authorization request parameters mcpbuild sets itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jmespath
import jmespath.exceptions

# A module import, not names: checks imports this module while it is itself being imported.
from builder.connector import checks
from builder.connector.models import GRANT_REF, Connector, Provider
from builder.connector.source import Path

__all__ = [
    "RESERVED_AUTHORIZE_PARAMS",
    "RESERVED_TOKEN_PARAMS",
    "check_grant_refs",
    "check_provider",
    "check_unrequested_scopes",
    "grant_ref_places",
]

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
RESERVED_TOKEN_PARAMS = frozenset(
    {
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "client_id",
        "client_secret",
        "scope",
    }
)
"""Token request parameters mcpbuild sets itself."""


def check_unrequested_scopes(connector: Connector, provider: Provider) -> Iterator[checks.Found]:
    """Warn about declared scopes that are never requested. When nothing names a scope,
    every declared scope is requested, so there is nothing to warn about."""
    named = {s for t in connector.tools for s in (*t.scopes, *t.any_scopes)}
    named |= set(provider.always_request)
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
    yield from check_quirks(provider)
    for key in provider.authorize_params:
        if key in RESERVED_AUTHORIZE_PARAMS:
            yield checks.Found(
                ("provider", "authorize_params", key),
                f"'{key}' is set by mcpbuild on every authorization request; "
                f"{RESERVED_AUTHORIZE_PARAMS[key]}",
                "reserved_param",
                True,
            )


def check_quirks(provider: Provider) -> Iterator[checks.Found]:
    """The provider's quirk fields: the scope parameter, token parameters, grant values."""
    if provider.scope_param in RESERVED_AUTHORIZE_PARAMS and provider.scope_param != "scope":
        yield checks.Found(
            ("provider", "scope_param"),
            f"'{provider.scope_param}' is set by mcpbuild; expected the parameter that "
            "carries scopes (scope, user_scope, ...)",
            "reserved_param",
        )
    if provider.scope_param != "scope" and provider.scope_param in provider.authorize_params:
        yield checks.Found(
            ("provider", "authorize_params", provider.scope_param),
            f"'{provider.scope_param}' carries the scopes (provider.scope_param): " + _SCOPE_FIELDS,
            "reserved_param",
            True,
        )
    for key in provider.token_params:
        if key in RESERVED_TOKEN_PARAMS:
            yield checks.Found(
                ("provider", "token_params", key),
                f"'{key}' is set by mcpbuild on every token request",
                "reserved_param",
                True,
            )
    for name, value in provider.grant_values.items():
        at = ("provider", "grant_values", name)
        if value.from_ != "token":
            yield from checks.check_url(value.from_, (*at, "from"))
        try:
            jmespath.compile(value.select)
        except jmespath.exceptions.JMESPathError as exc:
            yield checks.Found(
                (*at, "select"),
                f"expected a JMESPath expression, got '{value.select}' "
                f"({str(exc).splitlines()[0]})",
                "jmespath",
            )
        if value.pattern is not None:
            if value.url:
                yield checks.Found(
                    (*at, "pattern"),
                    "a url value is checked by `hosts`, not `pattern`",
                    "grant_value",
                )
            try:
                re.compile(value.pattern)
            except re.error as exc:
                yield checks.Found(
                    (*at, "pattern"), f"expected a regular expression ({exc})", "grant_value"
                )
        if value.hosts and not value.url:
            yield checks.Found(
                (*at, "hosts"), "`hosts` applies only to a value with `url: true`", "grant_value"
            )
        for j, host in enumerate(value.hosts):
            bare = host.removeprefix("*.")
            if not bare or "*" in bare or "/" in bare or ":" in bare:
                yield checks.Found(
                    (*at, "hosts", j),
                    f"expected a host name, optionally starting '*.', got '{host}'",
                    "grant_value",
                )


def grant_ref_places(connector: Connector) -> list[tuple[Path, str]]:
    """Where ``${grant.NAME}`` may stand: ``api.base_url``, ``api.headers`` and each
    tool's ``request.headers``, with their paths in the spec."""
    places: list[tuple[Path, str]] = [(("api", "base_url"), connector.api.base_url)]
    places += [(("api", "headers", k), v) for k, v in connector.api.headers.items()]
    for i, tool in enumerate(connector.tools):
        places += [
            (("tools", i, "request", "headers", k), v) for k, v in tool.request.headers.items()
        ]
    return places


def check_grant_refs(connector: Connector) -> Iterator[checks.Found]:
    """``${grant.NAME}``: only in ``api.base_url`` and headers, naming a declared grant
    value; a URL value only at the start of the base URL, any other value only after it."""
    provider = connector.provider
    declared = dict(provider.grant_values) if provider is not None else {}
    for i, tool in enumerate(connector.tools):
        for key, query in tool.request.query.items():
            if isinstance(query, str) and GRANT_REF.search(query):
                yield checks.Found(
                    ("tools", i, "request", "query", key),
                    "${grant.NAME} can be used in api.base_url and headers only",
                    "grant_ref",
                )
    if provider is not None:
        for field in ("authorization_url", "token_url", "revocation_url", "client_id"):
            text = getattr(provider, field)
            if text and GRANT_REF.search(text):
                yield checks.Found(
                    ("provider", field),
                    "${grant.NAME} is known only after sign-in; it cannot be used in "
                    "the provider block",
                    "grant_ref",
                )
    for where, text in grant_ref_places(connector):
        for match in GRANT_REF.finditer(text):
            name = match.group(1)
            value = declared.get(name)
            if value is None:
                if provider is None:
                    hint = "; the connector has no provider, so there is no grant"
                elif provider.preset and not declared:
                    hint = f"; preset '{provider.preset}' provides none"
                else:
                    hint = checks.near_or_all(name, list(declared)) or (
                        "; declare it in provider.grant_values"
                    )
                yield checks.Found(where, f"unknown grant value '{name}'{hint}", "grant_ref")
            elif value.url and (where != ("api", "base_url") or match.start() != 0):
                yield checks.Found(
                    where,
                    f"grant value '{name}' is a URL: it can only start api.base_url",
                    "grant_ref",
                )
            elif not value.url and where == ("api", "base_url") and match.start() == 0:
                yield checks.Found(
                    where,
                    f"grant value '{name}' is not a URL (`url: true`), so it cannot be the "
                    "base URL's origin",
                    "grant_ref",
                )
