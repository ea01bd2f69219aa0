"""What every HTML page mcpbuild serves sends along (the consent page, the demo's pages)."""

from __future__ import annotations

__all__ = ["PAGE_HEADERS"]

# No framing (clickjacking of an Approve button), no scripts, no referrer leaking a
# request id, no caching of a page that carries a CSRF token.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
