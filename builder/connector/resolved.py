"""The served connector, decided once: every ``${VAR}`` resolved, the visible tools, the
scopes each needs and the scopes offered.

:func:`resolve_connector` runs at start-up and returns one immutable
:class:`ResolvedConnector`. The bearer gate, the MCP handlers, the tool runner, the OAuth
parts, ``call``, ``login`` and ``demo`` all read it; none of them re-derives what it
holds. Two places deciding "may this token call this tool" drift apart, and a drift
between the gate and the handler is a security hole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from builder.connector.checks import check_api, check_url
from builder.connector.checks_provider import grant_ref_places
from builder.connector.models import ENV_REF, GRANT_REF, Connector, GrantValue, Provider, Tool
from builder.errors import ConfigError

__all__ = ["ResolvedConnector", "ResolvedProvider", "ResolvedTool", "resolve_connector"]


@dataclass(frozen=True, slots=True)
class ResolvedTool:
    """One visible tool with its static request parts resolved."""

    spec: Tool
    name: str
    scopes: tuple[str, ...]
    any_scopes: tuple[str, ...]
    """At least one of these must be granted too (when not empty)."""
    read_only: bool
    idempotent: bool
    headers: Mapping[str, str]
    """``api.headers`` overlaid with the tool's own, ``${VAR}`` resolved."""
    query: tuple[tuple[str, Any], ...]
    """The tool's static query values, ``${VAR}`` resolved."""


@dataclass(frozen=True, slots=True)
class ResolvedProvider:
    """The upstream OAuth client's settings with its ``${VAR}`` resolved."""

    spec: Provider
    authorization_url: str
    token_url: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    """Every scope the connector may ask for (what the authorization server offers)."""
    default_scopes: tuple[str, ...]
    """What a client gets when it asks for nothing: what the visible tools need plus
    ``always_request``, in the order the provider declares them."""
    always_request: tuple[str, ...]
    """Scopes added to every request to the provider, whatever the client asked for."""
    grant_values: Mapping[str, GrantValue]
    """The per-user values read at sign-in (``${grant.NAME}``)."""


@dataclass(frozen=True, slots=True)
class ResolvedConnector:
    """What is served: read by every layer, decided only here."""

    spec: Connector
    name: str
    title: str
    base_url: str
    read_only: bool
    tools: Mapping[str, ResolvedTool]
    """The visible tools by name, in spec order (tools that change data are left out
    when the connector is served read-only)."""
    hidden: frozenset[str]
    """Tools left out by read-only serving: refused with a clear message, never called."""
    provider: ResolvedProvider | None
    secrets: tuple[str, ...]
    """Resolved values that must never appear in a log, an error or a result."""
    per_grant: bool = False
    """``api.base_url`` or a header names ``${grant.NAME}``: each user's requests are
    built with their grant's values."""

    def missing_scopes(self, tool: str, granted: Sequence[str]) -> list[str]:
        """The scopes tool ``tool`` needs that ``granted`` lacks; empty for an unknown or
        hidden tool, which the handler refuses without calling anything."""
        resolved = self.tools.get(tool)
        if resolved is None:
            return []
        missing = [s for s in resolved.scopes if s not in granted]
        if resolved.any_scopes and not any(s in granted for s in resolved.any_scopes):
            missing.append(" or ".join(resolved.any_scopes))
        return missing

    def upstream_scopes(self, requested: Sequence[str]) -> list[str]:
        """The scopes to ask the provider for, given what the client asked for."""
        extra = self.provider.always_request if self.provider else ()
        return list(dict.fromkeys([*requested, *extra]))


def resolve_connector(
    connector: Connector, environ: Mapping[str, str], *, read_only: bool = False
) -> ResolvedConnector:
    """Resolve ``connector`` against ``environ`` for serving.

    Every missing variable and every URL that is not https after substitution is
    reported at once, in one :class:`ConfigError`; values are never shown.
    """
    env = _Resolver(environ)
    base_url = env.value(connector.api.base_url, "api.base_url")
    if base_url != connector.api.base_url:
        problems = check_api(connector.api.model_copy(update={"base_url": base_url, "headers": {}}))
        env.problems += [f"api.base_url (after ${{VAR}} resolution): {p.message}" for p in problems]
    common = {n: env.secret(v, f"api.headers.{n}") for n, v in connector.api.headers.items()}
    read_only = read_only or connector.read_only
    tools: dict[str, ResolvedTool] = {}
    hidden: set[str] = set()
    for i, tool in enumerate(connector.tools):
        headers = dict(common)
        for name, value in tool.request.headers.items():
            headers[name] = env.secret(value, f"tools[{i}].request.headers.{name}")
        query = tuple(
            (k, env.secret(v, f"tools[{i}].request.query.{k}") if isinstance(v, str) else v)
            for k, v in tool.request.query.items()
        )
        if read_only and not tool.is_read_only:
            hidden.add(tool.name)
            continue
        tools[tool.name] = ResolvedTool(
            spec=tool,
            name=tool.name,
            scopes=tuple(tool.scopes),
            any_scopes=tuple(tool.any_scopes),
            read_only=tool.is_read_only,
            idempotent=tool.is_idempotent,
            headers=MappingProxyType(headers),
            query=query,
        )
    provider = None
    if connector.provider is not None:
        provider = _provider(connector.provider, env, list(tools.values()))
    if env.problems:
        raise ConfigError(
            f"connector '{connector.name}' cannot be served:\n"
            + "\n".join(f"  - {p}" for p in env.problems)
        )
    return ResolvedConnector(
        spec=connector,
        name=connector.name,
        title=connector.title or connector.name,
        base_url=base_url,
        read_only=read_only,
        tools=MappingProxyType(tools),
        hidden=frozenset(hidden),
        provider=provider,
        secrets=tuple(dict.fromkeys(s for s in env.secrets if s)),
        per_grant=_names_grant_values(connector),
    )


def _provider(provider: Provider, env: _Resolver, tools: list[ResolvedTool]) -> ResolvedProvider:
    urls = {}
    for field in ("authorization_url", "token_url"):
        raw = getattr(provider, field)
        value = env.value(raw, f"provider.{field}")
        if value != raw and "${" not in value:
            for problem in check_url(value, ("provider", field)):
                env.problems.append(
                    f"provider.{field} (after ${{VAR}} resolution): {problem.message}"
                )
        urls[field] = value
    secret = provider.client_secret
    always = tuple(provider.always_request)
    needed = {s for t in tools for s in t.scopes} | set(always)
    needed |= {t.any_scopes[0] for t in tools if t.any_scopes}
    ordered = tuple(s for s in provider.scopes if s in needed)
    return ResolvedProvider(
        spec=provider,
        authorization_url=urls["authorization_url"],
        token_url=urls["token_url"],
        client_id=env.value(provider.client_id, "provider.client_id"),
        client_secret=env.secret(secret, "provider.client_secret") if secret else None,
        scopes=tuple(provider.scopes),
        default_scopes=ordered or tuple(provider.scopes),
        always_request=always,
        grant_values=MappingProxyType(dict(provider.grant_values)),
    )


def _names_grant_values(connector: Connector) -> bool:
    return any(GRANT_REF.search(text) for _, text in grant_ref_places(connector))


class _Resolver:
    """Substitutes ``${VAR}`` and collects every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.secrets: list[str] = []
        self._missing: set[str] = set()

    def value(self, text: str, field: str) -> str:
        if "${" not in text:
            return text

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in self.environ:
                return self.environ[name]
            if name not in self._missing:
                self._missing.add(name)
                self.problems.append(
                    f"environment variable {name} is not set (needed by {field}); "
                    f"export {name}=... before serving"
                )
            return match.group(0)

        return ENV_REF.sub(lookup, text)

    def secret(self, text: str, field: str) -> str:
        """Like :meth:`value`; a value that came from the environment is kept secret."""
        value = self.value(text, field)
        if value != text:
            self.secrets.append(value)
        return value
