"""Security schemes → the connector's ``provider``, and each operation's scopes.

The provider is the first OAuth 2.0 scheme with an ``authorizationCode`` flow (Swagger
2.0's ``accessCode``), preferring one the selected operations use: its authorization
and token URLs, and its scopes with their descriptions. The client id and secret are
``${NAME_CLIENT_ID}`` and ``${NAME_CLIENT_SECRET}``. An operation's scopes are those its
security requirement (or the description's default one) asks of that scheme, in the
first alternative that names it; an alternative without it (an API key, another flow)
gives no scopes. Other schemes (API keys, HTTP auth, client credentials) cannot sign a
user in; the quality report names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from builder.openapi.text import plain_text, trim

__all__ = ["Security", "env_prefix", "read_security"]


@dataclass
class Security:
    """The chosen OAuth scheme, if any, and what could not be used."""

    scheme: str | None = None
    provider: dict[str, Any] | None = None
    default: list[Any] = field(default_factory=list)
    others: list[str] = field(default_factory=list)

    def scopes(self, operation: dict[str, Any]) -> list[str]:
        """The scopes an operation needs of the chosen scheme."""
        if self.scheme is None:
            return []
        requirement = operation.get("security", self.default)
        for alternative in requirement or ():
            if isinstance(alternative, dict) and self.scheme in alternative:
                return [str(s) for s in alternative[self.scheme] or ()]
        return []

    def declare(self, scopes: list[str]) -> None:
        """Add scopes an operation asks for that the flow does not list."""
        if self.provider is None:
            return
        declared = self.provider["scopes"]
        for scope in scopes:
            declared.setdefault(scope, scope)


def read_security(
    schemes: dict[str, Any], default: Any, used: set[str], env_prefix: str
) -> Security:
    """The provider of ``schemes`` (3.x ``securitySchemes``); ``used``: schemes the
    selected operations name, preferred when choosing."""
    out = Security(default=default if isinstance(default, list) else [])
    candidates: list[tuple[str, dict[str, Any]]] = []
    for name, scheme in schemes.items():
        if not isinstance(scheme, dict):
            continue
        flows = scheme.get("flows") or {}
        flow = flows.get("authorizationCode") if scheme.get("type") == "oauth2" else None
        if isinstance(flow, dict) and flow.get("authorizationUrl") and flow.get("tokenUrl"):
            candidates.append((name, flow))
        else:
            out.others.append(f"{name} ({_kind(scheme)})")
    if not candidates:
        return out
    candidates.sort(key=lambda c: c[0] not in used)
    name, flow = candidates[0]
    out.others.extend(f"{n} (another OAuth 2.0 scheme)" for n, _ in candidates[1:])
    scopes = {
        str(scope): trim(plain_text(str(text or scope)), 200) or str(scope)
        for scope, text in (flow.get("scopes") or {}).items()
    }
    out.scheme = name
    out.provider = {
        "authorization_url": str(flow["authorizationUrl"]),
        "token_url": str(flow["tokenUrl"]),
        "client_id": f"${{{env_prefix}_CLIENT_ID}}",
        "client_secret": f"${{{env_prefix}_CLIENT_SECRET}}",
        "scopes": scopes,
    }
    if flow.get("refreshUrl") and flow["refreshUrl"] != flow["tokenUrl"]:
        out.others.append(
            f"{name}: refreshUrl {flow['refreshUrl']} (mcpbuild refreshes at token_url)"
        )
    return out


def env_prefix(name: str) -> str:
    """``my-api`` → ``MY_API``: the prefix of the connector's environment variables."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper()).strip("_") or "API"


def _kind(scheme: dict[str, Any]) -> str:
    kind = scheme.get("type")
    if kind == "apiKey":
        return f"API key in {scheme.get('in')} '{scheme.get('name')}'"
    if kind == "http":
        return f"HTTP {scheme.get('scheme')}"
    if kind == "oauth2":
        flows = ", ".join(sorted(scheme.get("flows") or {})) or "no flow"
        return f"OAuth 2.0 {flows}, no authorization code flow"
    return str(kind)
