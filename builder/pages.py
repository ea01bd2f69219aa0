"""HTML pages: rendered from the package's templates with autoescaping, sent with one set
of security headers (the consent page, the sign-in result pages, the demo's pages)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

__all__ = ["PAGE_HEADERS", "message_page", "render_page"]

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

_templates = Environment(
    loader=PackageLoader("builder", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(
    template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """``template`` rendered with ``context`` (every value escaped) as a response."""
    html = _templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def message_page(title: str, *paragraphs: str, status: int = 200) -> HTMLResponse:
    """A page that says something in a few paragraphs of plain text."""
    return render_page("message.html", status=status, title=title, paragraphs=paragraphs)
