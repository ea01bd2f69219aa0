"""The demo notes service's pages: rendered from templates, every value escaped, sent with
the security headers of builder/pages.py, and the sign-in form the tests' Browser reads."""

from __future__ import annotations

import html
import re

from builder.demo.pages import error_page, home_page, sign_in_page
from builder.pages import PAGE_HEADERS

SCRIPT = "<script>alert('x')</script>"


def text(body: bytes | memoryview) -> str:
    return bytes(body).decode()


def form_fields(page: str) -> dict[str, str]:
    """The inputs as tests/oauth_client.py's Browser reads them."""
    inputs = re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in inputs}


def assert_headers(headers: dict[str, str]) -> None:
    for name, value in PAGE_HEADERS.items():
        assert headers[name.lower()] == value


def test_sign_in_page_escapes_what_it_shows_and_keeps_the_form() -> None:
    response = sign_in_page(
        ticket='t"1<x>', client_name=SCRIPT, scopes=["notes.read", SCRIPT], username=SCRIPT
    )
    page = text(response.body)
    assert response.status_code == 200
    assert_headers(dict(response.headers))
    assert "<script" not in page
    assert "<strong>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</strong> asks to use" in page
    assert "<li><code>notes.read</code> — Read your notes</li>" in page
    assert '<form class="box" method="post" action="/oauth/authorize" data-demo-sign-in>' in page
    assert "Sign in to Demo notes as:" in page
    assert form_fields(page) == {"ticket": 't"1<x>', "username": SCRIPT}
    assert 'name="decision" value="approve"' in page
    assert 'name="decision" value="deny"' in page
    assert 'class="error"' not in page


def test_sign_in_page_with_an_error_is_a_400_that_says_so() -> None:
    response = sign_in_page(ticket="t", client_name="mcpbuild", scopes=[], error=SCRIPT)
    page = text(response.body)
    assert response.status_code == 400
    assert '<p class="error">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>' in page
    assert form_fields(page) == {"ticket": "t", "username": "demo-user"}


def test_error_page_escapes_its_message() -> None:
    response = error_page("Sign-in refused", f"invalid_request: {SCRIPT}")
    page = text(response.body)
    assert response.status_code == 400
    assert_headers(dict(response.headers))
    assert "<title>Sign-in refused</title>" in page
    assert "<h1>Sign-in refused</h1>" in page
    assert "<p>invalid_request: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>" in page
    assert "<script" not in page
    assert error_page("Gone", "x", status=410).status_code == 410


def test_home_page_lists_the_endpoints() -> None:
    response = home_page('http://127.0.0.1:8000"><script>')
    page = text(response.body)
    assert response.status_code == 200
    assert_headers(dict(response.headers))
    assert '<span class="tag">local demo</span>' in page
    assert "<code>http://127.0.0.1:8000&#34;&gt;&lt;script&gt;/oauth/token</code>" in page
    assert "<script" not in page
