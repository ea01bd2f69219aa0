"""Every path mcpbuild serves, named once. URLs are built from these and the public URL."""

from __future__ import annotations

__all__ = [
    "AUTHORIZATION_SERVER_METADATA_PATH",
    "AUTHORIZE_PATH",
    "CALLBACK_PATH",
    "CONSENT_PATH",
    "DEFAULT_LOGIN_PORT",
    "HEALTH_PATH",
    "MCP_PATH",
    "METRICS_PATH",
    "PROTECTED_RESOURCE_METADATA_PATH",
    "READY_PATH",
    "REGISTER_PATH",
    "REVOKE_PATH",
    "TOKEN_PATH",
    "login_redirect_uri",
    "redirect_uri_for",
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


def redirect_uri_for(public_url: str) -> str:
    """The one redirect URI to register with the provider for a server at ``public_url``
    (``serve`` and ``dev`` at their public URL, ``login`` at its loopback listener)."""
    return public_url.rstrip("/") + CALLBACK_PATH


DEFAULT_LOGIN_PORT = 8765
"""The loopback port ``mcpbuild login`` listens on, fixed so that its redirect URI can be
registered with the provider once."""


def login_redirect_uri(port: int = DEFAULT_LOGIN_PORT) -> str:
    """The redirect URI of ``mcpbuild login --port PORT`` (``doctor`` prints it too)."""
    return redirect_uri_for(f"http://127.0.0.1:{port}")
