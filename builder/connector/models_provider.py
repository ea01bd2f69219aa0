"""Pydantic models of a connector's ``provider`` block: the upstream OAuth 2.0 server, its
quirks, and the per-user values read at sign-in (``${grant.NAME}``).

A provider block may name a ``preset`` (:mod:`builder.presets`): the preset's fields are
filled in before these models see the block, and every field written next to ``preset``
wins over the preset's.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field

from builder.connector.base import SpecModel
from builder.presets import preset_names

__all__ = ["GRANT_REF", "GRANT_VALUE_PATTERN", "GrantValue", "Provider"]

GRANT_REF = re.compile(r"\$\{grant\.([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${grant.NAME}``: a value of the signed-in user's grant, resolved per call."""
GRANT_VALUE_PATTERN = r"[A-Za-z0-9._~-]{1,200}"
"""What a grant value that is not a URL may look like by default: one URL path segment."""


class GrantValue(SpecModel):
    """A value read once at sign-in and kept, encrypted, with the user's grant."""

    from_: str = Field(
        default="token",
        alias="from",
        description=(
            "`token`: the provider's token response; or the https URL of a GET request "
            "made with the new access token right after sign-in (e.g. Atlassian's "
            "accessible-resources)."
        ),
        examples=["token", "https://api.atlassian.com/oauth/token/accessible-resources"],
    )
    select: str = Field(
        description="JMESPath to the value in that JSON answer.",
        examples=["instance_url", "[0].id"],
    )
    url: bool = Field(
        default=False,
        description=(
            "The value is an API origin (e.g. Salesforce's `instance_url`): it must be an "
            "https URL (http only on loopback, for tests) without credentials, path, query or "
            "fragment, on one of `hosts`, and may only start `api.base_url`."
        ),
        examples=[True],
    )
    hosts: list[str] = Field(
        default_factory=list,
        description="For a `url` value: the host names it may have (`*.` matches subdomains).",
        examples=[["*.my.salesforce.com"]],
    )
    pattern: str | None = Field(
        default=None,
        description=(
            "For a value that is not a URL: a regular expression the whole value must "
            f"match. Default `{GRANT_VALUE_PATTERN}` (one URL path segment)."
        ),
        examples=["[0-9a-f-]{36}"],
    )
    description: str | None = Field(
        default=None, description="What the value is.", examples=["The user's Jira site id"]
    )


def _preset_or_endpoints(schema: dict[str, Any]) -> None:
    """In the JSON Schema, a block with ``preset`` needs nothing else (the preset fills the
    endpoints and the client id in before the model sees the block)."""
    required = schema.pop("required", [])
    schema["anyOf"] = [{"required": ["preset"]}, {"required": required}]
    # Editors complete the preset's name.
    schema["properties"]["preset"]["anyOf"][0]["enum"] = list(preset_names())


class Provider(SpecModel):
    """The upstream OAuth 2.0 authorization server (Authorization Code flow)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_preset_or_endpoints)

    preset: str | None = Field(
        default=None,
        description=(
            "A known provider (`mcpbuild presets` lists them): its endpoints, client "
            "authentication and quirks are filled in; any field written here overrides the "
            "preset's (mappings merge key by key)."
        ),
        examples=["google"],
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Values for the preset's `{placeholders}` in its URLs, e.g. a Microsoft `tenant` "
            "or a self-hosted GitLab `host`."
        ),
        examples=[{"tenant": "contoso.onmicrosoft.com"}],
    )
    authorization_url: str = Field(
        description="The provider's authorization endpoint.",
        examples=["https://github.com/login/oauth/authorize"],
    )
    token_url: str = Field(
        description="The provider's token endpoint.",
        examples=["https://github.com/login/oauth/access_token"],
    )
    revocation_url: str | None = Field(
        default=None,
        description="The provider's token revocation endpoint (RFC 7009).",
        examples=["https://oauth2.googleapis.com/revoke"],
    )
    client_id: str = Field(
        description="mcpbuild's client id at the provider; usually `${VAR}`.",
        examples=["${GITHUB_CLIENT_ID}"],
    )
    client_secret: str | None = Field(
        default=None,
        description="mcpbuild's client secret: must be a `${VAR}` reference, never a literal.",
        examples=["${GITHUB_CLIENT_SECRET}"],
    )
    scopes: dict[str, str] = Field(
        default_factory=dict,
        description="Every scope the connector may ask for, with what it lets the connector do.",
        examples=[{"repo": "Read and write your repositories"}],
    )
    always_request: list[str] = Field(
        default_factory=list,
        description=(
            "Declared scopes to request at every sign-in even though no tool lists them, "
            "for providers that require them (e.g. HubSpot's `oauth`, `offline_access`). "
            "A preset's and the connector's lists are joined."
        ),
        examples=[["oauth", "offline_access"]],
    )
    scope_separator: str = Field(
        default=" ",
        description="How scopes are joined in the authorization request.",
        examples=[","],
    )
    scope_param: str = Field(
        default="scope",
        description=(
            "The authorization request parameter that carries the scopes (Slack asks for a "
            "user token's scopes in `user_scope`)."
        ),
        examples=["user_scope"],
    )
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] = (
        Field(
            default="client_secret_basic",
            description="How mcpbuild authenticates at token_url.",
            examples=["client_secret_post"],
        )
    )
    token_request_format: Literal["form", "json"] = Field(
        default="form",
        description=(
            "How the token request's body is encoded: `form` (RFC 6749) or `json` (Notion)."
        ),
        examples=["json"],
    )
    token_response_path: str | None = Field(
        default=None,
        description=(
            "Where in the token response the user's token is, when not at the top (Slack: "
            "`authed_user`); the top level is used when that part is absent."
        ),
        examples=["authed_user"],
    )
    error_codes: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "The provider's own token endpoint error codes, as RFC 6749 codes: a refresh "
            "answered `invalid_grant` ends the user's grant (they sign in again); any other "
            "error is reported and retried later. An answer without `error` takes its code "
            "from `status`, `category` or `errorCode` (HubSpot)."
        ),
        examples=[{"BAD_REFRESH_TOKEN": "invalid_grant"}],
    )
    default_expires_in: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Seconds an access token is taken to last when the token response has no "
            "`expires_in` and a refresh token came with it (refreshed ahead of time). "
            "Without it such a token is refreshed when the API answers 401; a token "
            "without a refresh token is never given an expiry that would force re-consent."
        ),
        examples=[7200],
    )
    authorize_params: dict[str, str] = Field(
        default_factory=dict,
        description="Extra authorization request parameters.",
        examples=[{"access_type": "offline", "prompt": "consent"}],
    )
    token_params: dict[str, str] = Field(
        default_factory=dict,
        description="Extra parameters of every token request (code exchange and refresh).",
        examples=[{"audience": "api.atlassian.com"}],
    )
    grant_values: dict[str, GrantValue] = Field(
        default_factory=dict,
        description=(
            "Per-user values read at sign-in, usable as `${grant.NAME}` in `api.base_url` "
            "and headers (Salesforce's `instance_url`, Atlassian's cloud id)."
        ),
        examples=[{"instance_url": {"from": "token", "select": "instance_url", "url": True}}],
    )
    pkce: bool = Field(
        default=True, description="Use PKCE (S256) toward the provider.", examples=[True]
    )
