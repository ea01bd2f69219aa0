"""Every path mcpbuild serves, named once. URLs are built from these and the public URL."""

from __future__ import annotations

__all__ = [
    "AUTHORIZATION_SERVER_METADATA_PATH",
    "AUTHORIZE_PATH",
    "CALLBACK_PATH",
    "CONSENT_PATH",
    "HEALTH_PATH",
    "MCP_PATH",
    "METRICS_PATH",
    "PROTECTED_RESOURCE_METADATA_PATH",
    "READY_PATH",
    "REGISTER_PATH",
    "REVOKE_PATH",
    "TOKEN_PATH",
]

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
REGISTER_PATH = "/register"
REVOKE_PATH = "/revoke"
CONSENT_PATH = "/consent"
CALLBACK_PATH = "/oauth/callback"
AUTHORIZATION_SERVER_METADATA_PATH = "/.well-known/oauth-authorization-server"
PROTECTED_RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"
