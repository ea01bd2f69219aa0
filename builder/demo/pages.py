"""The demo notes service's few HTML pages: sign-in, errors, and its home page.

They are rendered from ``builder/templates/demo_*.html`` (their own look, marked "local
demo") through :mod:`builder.pages`, so they are escaped and carry its security headers.

The sign-in form is a plain HTML form POST (``data-demo-sign-in`` marks it) so tests can
drive it without a browser: its hidden fields and the ``username`` field are all it sends.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse

from builder.demo.models import SCOPES
from builder.pages import render_page

__all__ = ["error_page", "home_page", "sign_in_page"]

DEFAULT_USER = "demo-user"


def sign_in_page(
    *,
    ticket: str,
    client_name: str,
    scopes: list[str],
    username: str = DEFAULT_USER,
    error: str = "",
) -> HTMLResponse:
    """The page "Sign in to Demo notes as: [demo-user]" with a button; no password."""
    return render_page(
        "demo_sign_in.html",
        status=400 if error else 200,
        title="Sign in to Demo notes",
        client_name=client_name,
        scopes=[(scope, SCOPES.get(scope, scope)) for scope in scopes],
        ticket=ticket,
        username=username,
        error=error,
    )


def error_page(title: str, message: str, *, status: int = 400) -> HTMLResponse:
    """An error shown to the user (never redirected to an unverified redirect URI)."""
    return render_page("demo_message.html", status=status, title=title, paragraphs=[message])


def home_page(base: str) -> HTMLResponse:
    """What this service is, for someone who opens its URL."""
    return render_page("demo_home.html", title="Demo notes", base=base)
