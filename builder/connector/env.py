"""``${VAR}`` references: kept in the spec, resolved from the environment at serve time."""

from __future__ import annotations

import re
from collections.abc import Mapping

from builder.connector.models import ENV_REF, Connector
from builder.errors import ConfigError

__all__ = ["referenced_variables", "resolve"]


def resolve(value: str, environ: Mapping[str, str], *, field: str) -> str:
    """``value`` with each ``${VAR}`` replaced; a missing variable is a :class:`ConfigError`
    naming it and the field that needs it (never its value)."""
    if "${" not in value:
        return value

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                f"environment variable {name} is not set (needed by {field}); "
                f"export {name}=... before serving"
            )
        return environ[name]

    return ENV_REF.sub(lookup, value)


def referenced_variables(connector: Connector) -> list[str]:
    """Every variable name the connector references, in order of first use."""
    values: list[str] = [connector.api.base_url, *connector.api.headers.values()]
    if connector.provider is not None:
        p = connector.provider
        values += [p.client_id, p.client_secret or "", p.authorization_url, p.token_url]
    for tool in connector.tools:
        values += list(tool.request.headers.values())
        values += [v for v in tool.request.query.values() if isinstance(v, str)]
    names: dict[str, None] = {}
    for value in values:
        for match in ENV_REF.finditer(value):
            names.setdefault(match.group(1), None)
    return list(names)
