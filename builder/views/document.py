"""The ``ui://`` resource of a view: one self-contained HTML document.

The document inlines the runtime shipped in the package (``static/view.js`` and
``view.css``); it loads nothing at run time. Its own content security policy allows only
that one script (by its hash), so nothing an API returns can run in it even if it reached
the page as markup, and it can reach no network except the image origins a view declares.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from html import escape
from importlib import resources

__all__ = ["MIME_TYPE", "UI_EXTENSION", "content_security_policy", "runtime", "view_document"]

MIME_TYPE = "text/html;profile=mcp-app"
"""The media type of an MCP Apps view (``io.modelcontextprotocol/ui``)."""

UI_EXTENSION = "io.modelcontextprotocol/ui"
"""The MCP Apps extension's name among a client's declared ``extensions``."""


@cache
def runtime() -> tuple[str, str]:
    """The view runtime: its script and its style sheet."""
    static = resources.files("builder.views") / "static"
    return (static / "view.js").read_text("utf-8"), (static / "view.css").read_text("utf-8")


def content_security_policy(script: str, image_domains: tuple[str, ...] = ()) -> str:
    """The policy of a view document whose only script is ``script``."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    images = " ".join(("data:", *image_domains))
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        f"img-src {images}; base-uri 'none'; form-action 'none'"
    )


def view_document(
    *, tool: str, kind: str, heading: str | None, image_domains: tuple[str, ...] = ()
) -> str:
    """The HTML of tool ``tool``'s view of kind ``kind``; ``heading`` is shown above it
    (nothing when None), and the tool's name is the document's title."""
    script, style = runtime()
    title = heading or tool
    config = json.dumps({"tool": tool, "type": kind, "title": heading})
    # No "<" at all inside a <script> data block: "</script" would end it early, and
    # "<!--" with "<script" would change how the HTML parser finds its end.
    config = config.replace("<", "\\u003c")
    policy = content_security_policy(script, image_domains)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(policy, quote=False)}">\n'
        f"<title>{escape(title)}</title>\n<style>{style}</style></head>\n"
        '<body><main id="view" data-testid="view"></main>\n'
        f'<script type="application/json" id="mcpbuild-view">{config}</script>\n'
        f'<script type="module">{script}</script>\n</body></html>\n'
    )
