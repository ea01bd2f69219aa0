"""Redirect URI rules for MCP clients: https, or http on a loopback host; no fragment."""

from __future__ import annotations

from urllib.parse import urlsplit

from builder.connector.checks import is_loopback_host

__all__ = ["check_redirect_uri"]


def check_redirect_uri(uri: str) -> str | None:
    """Why ``uri`` is not an acceptable redirect URI, or None when it is."""
    parts = urlsplit(uri)
    if parts.fragment:
        return f"redirect URI {uri!r} has a fragment"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return None
    return f"redirect URI {uri!r} must be https, or http on localhost/127.0.0.1/[::1]"
