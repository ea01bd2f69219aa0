"""The demo notes service's few HTML pages: sign-in, errors, and its home page.

The sign-in form is a plain HTML form POST (``data-demo-sign-in`` marks it) so tests can
drive it without a browser: its hidden fields and the ``username`` field are all it sends.
"""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse

from builder.demo.models import SCOPES
from builder.pages import PAGE_HEADERS

__all__ = ["error_page", "home_page", "sign_in_page"]

DEFAULT_USER = "demo-user"

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
color:#1d1d1f}h1{font-size:1.4rem}.tag{font-size:.8rem;color:#8a5a00;background:#fff4d6;
border-radius:4px;padding:.1rem .4rem}.box{border:1px solid #ccc;border-radius:8px;
padding:1rem 1.25rem;margin:1rem 0}input{font-size:1rem;padding:.35rem .5rem;width:12rem}
button{font-size:1rem;padding:.5rem 1.2rem;margin:.75rem .5rem 0 0;border-radius:6px;
border:1px solid #888}button.go{background:#198754;color:#fff;border-color:#198754}
.muted{color:#666;font-size:.9rem}.error{color:#b00020}code{background:#f2f2f2;padding:0 .25rem}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f'<body><p><span class="tag">local demo</span></p><h1>{_e(title)}</h1>{body}'
        "</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=PAGE_HEADERS)


def sign_in_page(
    *,
    ticket: str,
    client_name: str,
    scopes: list[str],
    username: str = DEFAULT_USER,
    error: str = "",
) -> HTMLResponse:
    """The page "Sign in to Demo notes as: [demo-user]" with a button; no password."""
    items = "".join(f"<li><code>{_e(s)}</code> — {_e(SCOPES.get(s, s))}</li>" for s in scopes)
    problem = f'<p class="error">{_e(error)}</p>' if error else ""
    body = f"""
<p><strong>{_e(client_name)}</strong> asks to use your Demo notes:</p>
<ul>{items}</ul>
<form class="box" method="post" action="/oauth/authorize" data-demo-sign-in>
<input type="hidden" name="ticket" value="{_e(ticket)}">
<label>Sign in to Demo notes as: <input name="username" value="{_e(username)}"
 autocomplete="off" spellcheck="false" required></label>{problem}
<p class="muted">No password: this is a local demo. Another name gets its own notes.</p>
<button class="go" type="submit" name="decision" value="approve">Sign in and allow</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>"""
    return _page("Sign in to Demo notes", body, status=400 if error else 200)


def error_page(title: str, message: str, *, status: int = 400) -> HTMLResponse:
    """An error shown to the user (never redirected to an unverified redirect URI)."""
    return _page(title, f"<p>{_e(message)}</p>", status=status)


def home_page(base: str) -> HTMLResponse:
    """What this service is, for someone who opens its URL."""
    body = f"""
<p>A small notes service with its own OAuth 2.0 authorization server, started by
<code>mcpbuild demo</code>. mcpbuild serves <code>connectors/demo.yaml</code> against it.</p>
<ul>
<li>Authorization: <code>{_e(base)}/oauth/authorize</code> (Authorization Code + PKCE)</li>
<li>Tokens: <code>{_e(base)}/oauth/token</code>,
revocation: <code>{_e(base)}/oauth/revoke</code></li>
<li>Notes API: <code>{_e(base)}/api/notes</code> (Bearer token; <code>notes.read</code>,
<code>notes.write</code>)</li>
</ul>"""
    return _page("Demo notes", body)
